"""The face-attribute amalgamation example (`examples/multilabel_face.py`).

Step 1 (the only one that sees data) trains one teacher per attribute group;
step 2 is data-free (`keras_dfka.amalgamate`); step 3 evaluates on the test
split against a data-driven student (upper reference) and a noise student
(lower reference), and reports the validation split's ROC-AUC beside it: a
configuration is chosen on validation, never on test. All defaults live in
`examples/faces/config.py`.
"""

import dataclasses
import json
import os
import platform
import shutil
import time
import zlib

import keras
import numpy as np

import keras_dfka
from examples import references
from keras_dfka import evaluation
from keras_dfka.amalgamation.checkpoint import has_checkpoint
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn
from keras_dfka.utils.visualization import save_image_grid


def load_face_data(config):
    """Returns `({split: (images, labels)}, attribute names, source name)`."""
    groups = config.resolved_teachers()
    attributes = []
    for names in list(groups.values()) + [config.target_labels]:
        for name in names:
            if name not in attributes:
                attributes.append(name)
    if config.data_dir:
        splits = {}
        for split in ("train", "validation", "test"):
            data = keras_dfka.datasets.CelebA(
                config.data_dir,
                split=split,
                attributes=attributes,
                image_size=config.image_size,
                batch_size=config.amalgamation.batch_size,
            )
            splits[split] = data.load()
        return splits, attributes, f"CelebA ({config.data_dir})"
    faces = keras_dfka.datasets.ProceduralFaces(
        num_images=config.num_procedural_faces,
        image_size=config.image_size,
        seed=config.amalgamation.seed,
    )
    missing = [a for a in attributes if a not in faces.attributes]
    if missing:
        raise ValueError(
            f"The embedded procedural faces have no attribute {missing}; "
            f"available: {faces.attributes}"
        )
    columns = [faces.attributes.index(a) for a in attributes]
    splits = {k: (x, y[:, columns]) for k, (x, y) in faces.split().items()}
    return splits, attributes, "procedural faces (embedded)"


def _columns(attributes, names):
    return [attributes.index(n) for n in names]


def name_seed(name):
    """A seed offset in `0..999` from a name, the same in every process.

    (`hash(str)` is salted per process unless `PYTHONHASHSEED` is set, so it
    cannot seed anything that has to be repeatable.)
    """
    return zlib.crc32(name.encode("utf-8")) % 1000


def train_teacher(name, labels, splits, attributes, config, path):
    """Trains (or reloads from `path`) one attribute-group teacher."""
    meta_path = path + ".json"
    if os.path.exists(path) and os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("labels") == labels and meta.get("image_size") == config.image_size:
            return keras.saving.load_model(path), True
        if not config.overwrite:
            raise FileExistsError(
                f"{path} holds a teacher for other labels or image size "
                f"({meta}); pass overwrite=True (--overwrite) or another workdir."
            )
    keras.utils.set_random_seed(config.amalgamation.seed + name_seed(name))
    task = keras_dfka.LabelTask(name, labels, "sigmoid")
    model = small_cnn(
        (config.image_size, config.image_size, 3),
        [task],
        widths=config.teacher_widths,
        name=f"teacher_{name}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.amalgamation.learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(multi_label=True, name="auc")],
    )
    cols = _columns(attributes, labels)
    x_train, y_train = splits["train"]
    x_val, y_val = splits["validation"]
    model.fit(
        x_train,
        y_train[:, cols],
        validation_data=(x_val, y_val[:, cols]),
        batch_size=config.amalgamation.batch_size,
        epochs=config.teacher_epochs,
        verbose=config.amalgamation.verbose,
    )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.save(path)
    rates = np.clip(y_train[:, cols].mean(axis=0), 0.01, 0.99)
    with open(meta_path, "w") as f:
        json.dump(
            {
                "labels": labels,
                "image_size": config.image_size,
                "positive_rates": dict(zip(labels, map(float, rates))),
            },
            f,
        )
    return model, False


def declared_priors(path):
    """The positive rates a teacher's owner declared next to its model file."""
    with open(path + ".json") as f:
        return json.load(f).get("positive_rates")


def with_checkpoint(config):
    """`config.amalgamation`, checkpointed in `workdir/checkpoint` unless it
    names its own `checkpoint_dir`; checked before any work: an existing
    checkpoint needs `resume=True` (`--resume`) or `overwrite=True`
    (`--overwrite`, which removes it)."""
    amalgamation = config.amalgamation
    if amalgamation.checkpoint_dir is None:
        amalgamation = amalgamation.replace(
            checkpoint_dir=os.path.join(config.workdir, "checkpoint")
        )
    if config.resume:
        return amalgamation.replace(resume=True)
    directory = amalgamation.checkpoint_dir
    if not amalgamation.resume and has_checkpoint(directory):
        if not config.overwrite:
            raise FileExistsError(
                f"{directory} holds the checkpoint of an earlier run; pass "
                "resume=True (--resume) to continue it, or overwrite=True "
                "(--overwrite) to start again."
            )
        shutil.rmtree(directory)
    return amalgamation


def run(config):
    """Runs the whole experiment; returns the report dict (also written)."""
    t_start = time.time()
    config = dataclasses.replace(config).resolve()
    workdir = config.workdir
    os.makedirs(workdir, exist_ok=True)
    report_paths = [os.path.join(workdir, f"report.{ext}") for ext in ("json", "md")]
    if not config.overwrite:
        for path in report_paths:
            if os.path.exists(path):
                raise FileExistsError(
                    f"{path} exists; pass overwrite=True (--overwrite) or another "
                    "workdir."
                )
    amalgamation = with_checkpoint(config)
    keras.utils.set_random_seed(config.amalgamation.seed)
    timings = {}

    # Step 1: the only step that sees data.
    t0 = time.time()
    splits, attributes, source = load_face_data(config)
    timings["load_data_s"] = time.time() - t0
    groups = config.resolved_teachers()
    t0 = time.time()
    teacher_models, reused = {}, {}
    for name, labels in groups.items():
        path = os.path.join(workdir, "teachers", f"{name}.keras")
        teacher_models[name], reused[name] = train_teacher(
            name, labels, splits, attributes, config, path
        )
    timings["teachers_s"] = time.time() - t0

    # Step 2: data-free.
    teachers = [
        keras_dfka.Teacher(
            model,
            block_names(model),
            labels=groups[name],
            name=name,
            label_priors=declared_priors(
                os.path.join(workdir, "teachers", f"{name}.keras")
            )
            if config.declare_priors
            else None,
        )
        for name, model in teacher_models.items()
    ]
    result = keras_dfka.amalgamate(
        teachers,
        config.target_labels,
        amalgamation,
        logdir=os.path.join(workdir, "logs"),
    )
    gan, dual, target_net = result.gan, result.dual, result.target_net
    timings.update(result.timings)
    # Label coverage of the final generator's images: a label the teachers
    # almost never (or almost always) see in them cannot be learned.
    coverage = result.coverage
    for message in result.coverage_warnings:
        print("Warning:", message)
    save_image_grid(
        gan.generate(64, seed=amalgamation.seed),
        os.path.join(workdir, "generated.png"),
    )
    target_path = os.path.join(workdir, "target_net.keras")
    if os.path.exists(target_path) and not config.overwrite:
        raise FileExistsError(f"{target_path} exists; pass overwrite=True.")
    target_net.save(target_path)

    # References: same architecture, trained on real or noise images.
    x_train = splits["train"][0]
    students, seconds = references.train_reference_students(
        target_net,
        teachers,
        config.target_labels,
        references.reference_inputs(x_train, amalgamation.seed),
        config.student_steps or amalgamation.dual_steps,
        amalgamation,
    )
    timings["reference_students_s"] = sum(seconds.values())

    # Step 3: evaluation on the test split, and the validation split's
    # ROC-AUC (what a configuration should be chosen on).
    def score(split):
        x, y = splits[split]
        y_target = y[:, _columns(attributes, config.target_labels)]
        predictions = {
            "target_net": target_net.predict_labels(x),
            "data_student": references.predict(students["data_student"], x),
            "noise_student": references.predict(students["noise_student"], x),
            "teachers": references.teacher_soft_labels(
                teachers, config.target_labels, x
            ),
        }
        return {
            name: evaluation.binary_report(y_target, p, config.target_labels)
            for name, p in predictions.items()
        }

    x_test, y_test = splits["test"]
    reports = score("test")
    validation = {k: r["mean"]["roc_auc"] for k, r in score("validation").items()}
    teacher_own = {}
    for teacher, name in zip(teachers, groups):
        p = references.teacher_soft_labels([teacher], groups[name], x_test)
        teacher_own[name] = evaluation.binary_report(
            y_test[:, _columns(attributes, groups[name])], p, groups[name]
        )
    auc = {k: r["mean"]["roc_auc"] for k, r in reports.items()}
    gap = evaluation.gap_closed(
        auc["target_net"], auc["noise_student"], auc["data_student"]
    )
    validation_gap = evaluation.gap_closed(
        validation["target_net"],
        validation["noise_student"],
        validation["data_student"],
    )
    teacher_params = evaluation.count_params(list(teacher_models.values()))
    target_params = evaluation.count_params(target_net)
    speed_target = evaluation.inference_time(target_net, x_test[:512])
    speed_teachers = evaluation.inference_time(
        lambda x: [m(x, training=False) for m in teacher_models.values()],
        x_test[:512],
    )
    rows = []
    for name in ("teachers", "data_student", "target_net", "noise_student"):
        rows.append(
            {
                "model": name,
                "roc_auc": reports[name]["mean"]["roc_auc"],
                "balanced_accuracy": reports[name]["mean"]["balanced_accuracy"],
                "accuracy": reports[name]["mean"]["accuracy"],
                "validation_roc_auc": validation[name],
            }
        )
    per_label = [
        {
            "label": label,
            **{
                f"{name}_auc": reports[name]["per_label"][label]["roc_auc"]
                for name in ("teachers", "data_student", "target_net", "noise_student")
            },
            "generated_positive": coverage[label]["positive"],
            "generated_boundary": coverage[label]["boundary"],
        }
        for label in config.target_labels
    ]
    report = {
        "source": source,
        "config": dataclasses.asdict(config),
        "environment": evaluation.environment_info(),
        "machine": platform.platform(),
        "summary": rows,
        "per_label_auc": per_label,
        "gap_closed": float(gap),
        "validation_gap_closed": float(validation_gap),
        "parameters": {
            "teachers_together": int(teacher_params),
            "target_net": int(target_params),
            "ratio": target_params / teacher_params,
        },
        "inference": {"target_net": speed_target, "teachers_together": speed_teachers},
        "teacher_reports": teacher_own,
        "teachers_reused": reused,
        "timings_s": {**timings, "total_s": time.time() - t_start},
        "steps_per_second": result.steps_per_second(),
        "agreement_on_generated": dual.agreement(512),
    }
    text = format_report(report)
    print(text)
    report["markdown"] = text
    evaluation.write_report(report, workdir, "report", overwrite=config.overwrite)
    print(finish_checkpoint(config, amalgamation.checkpoint_dir))
    return report


def finish_checkpoint(config, directory):
    """After a finished run: removes the checkpoint the example made in
    `workdir/checkpoint` (only a killed run needs it) unless
    `config.keep_checkpoint`; a `checkpoint_dir` the user named is kept.
    Returns the line that says which, with the directory's size."""
    if directory is None or not os.path.isdir(directory):
        return "No checkpoint directory to clean up."
    size = sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(directory)
        for name in names
    )
    ours = config.amalgamation.checkpoint_dir is None
    if ours and not config.keep_checkpoint:
        shutil.rmtree(directory)
        return (
            f"Removed the run's checkpoint {directory} ({size / 1e6:.0f} MB): "
            "the run finished (--keep_checkpoint keeps it)."
        )
    return (
        f"Kept the run's checkpoint {directory} ({size / 1e6:.0f} MB); remove "
        "it with `rm -r` once you no longer need to resume this run."
    )


def format_report(report):
    """The printed / Markdown form of a report."""
    lines = [
        f"## Data-free amalgamation on {report['source']}",
        "",
        f"Backend {report['environment'].get('backend')}, Keras "
        f"{report['environment'].get('keras_version')}, {report['machine']}",
        "",
        evaluation.format_table(
            report["summary"],
            [
                "model",
                "roc_auc",
                "balanced_accuracy",
                "accuracy",
                "validation_roc_auc",
            ],
            title="Test split (and the validation split's ROC-AUC), mean over "
            "target labels",
        ),
        "",
        evaluation.format_table(
            report["per_label_auc"],
            [
                "label",
                "teachers_auc",
                "data_student_auc",
                "target_net_auc",
                "noise_student_auc",
                "generated_positive",
                "generated_boundary",
            ],
            title="ROC-AUC per target label, and the share of generated images "
            "its teacher calls positive / puts near the boundary",
        ),
        "",
        f"Gap closed (AUC): {report['gap_closed']:.3f} on the test split, "
        f"{report['validation_gap_closed']:.3f} on the validation split",
        f"Parameters: TargetNet {report['parameters']['target_net']:,} vs teachers "
        f"together {report['parameters']['teachers_together']:,} "
        f"(ratio {report['parameters']['ratio']:.3f})",
        "Inference (images/s): TargetNet "
        f"{report['inference']['target_net']['images_per_second']:.0f}, teachers "
        f"together {report['inference']['teachers_together']['images_per_second']:.0f}",
        "Steps/s: "
        + ", ".join(
            f"{stage} {rate:.2f}" for stage, rate in report["steps_per_second"].items()
        ),
        f"Wall time: {report['timings_s']['total_s']:.0f} s",
    ]
    return "\n".join(lines)
