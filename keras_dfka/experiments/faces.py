"""The face-attribute amalgamation experiment (`examples/multilabel_face.py`).

Step 1 (the only one that sees data) trains one teacher per attribute group;
step 2 is data-free (AmalgamGAN, DualGenerator, TargetNet.from_dual); step 3
evaluates on the test split against a data-driven student (upper reference)
and a noise student (lower reference). All defaults live in `FaceConfig`.
"""

import dataclasses
import json
import os
import platform
import time
import zlib

import keras
import numpy as np
from keras import ops

import keras_dfka
from keras_dfka import evaluation
from keras_dfka.dual_generator import set_all_trainable
from keras_dfka.teacher_zoo import block_names
from keras_dfka.teacher_zoo import small_cnn
from keras_dfka.validation import check_int
from keras_dfka.visualization import save_image_grid

DEFAULT_TEACHERS = {
    "hair": ["Black_Hair", "Blond_Hair", "Bangs", "Wearing_Hat", "Eyeglasses"],
    "face": ["Smiling", "Mouth_Slightly_Open", "Male", "Young", "Heavy_Makeup"],
}
CELEBA_TEACHERS = {
    "hair": [
        "Black_Hair",
        "Blond_Hair",
        "Brown_Hair",
        "Gray_Hair",
        "Bangs",
        "Eyeglasses",
        "Wearing_Hat",
        "Bald",
    ],
    "face": [
        "Smiling",
        "Male",
        "Young",
        "Heavy_Makeup",
        "Mouth_Slightly_Open",
        "Wearing_Lipstick",
        "High_Cheekbones",
        "No_Beard",
    ],
}
DEFAULT_TARGETS = [
    "Black_Hair",
    "Blond_Hair",
    "Eyeglasses",
    "Wearing_Hat",
    "Smiling",
    "Male",
    "Young",
    "Heavy_Makeup",
]


@dataclasses.dataclass
class FaceConfig:
    """Every default of the face experiment, in one place.

    `teachers=None` picks `DEFAULT_TEACHERS` for the embedded procedural faces
    and `CELEBA_TEACHERS` for a CelebA directory.
    """

    data_dir: str | None = None
    image_size: int | None = None  # None: 64 for CelebA, 32 for embedded faces
    teachers: dict | None = None
    target_labels: list = dataclasses.field(
        default_factory=lambda: list(DEFAULT_TARGETS)
    )
    num_procedural_faces: int = 8000
    teacher_widths: tuple = (16, 32, 64)
    teacher_epochs: int = 10
    batch_size: int = 64
    latent_dim: int = 100
    width_multiplier: float = 0.5
    preset: str = "default"
    # Whether the teachers' owners declare their labels' positive rates (one
    # number per label, from their own training labels). Off by default: on
    # the CelebA validation split it made no measurable difference.
    declare_priors: bool = False
    gan_steps: int | None = None  # None: 1500 for CelebA, 600 for embedded faces
    dual_steps: int | None = None  # None: as gan_steps
    student_steps: int | None = None  # None: the same as dual_steps
    learning_rate: float = 1e-3
    seed: int = 0
    workdir: str = "workdir/multilabel_face"
    overwrite: bool = False
    verbose: int = 1

    def resolve(self):
        """Fills the data-dependent defaults; returns `self`."""
        if self.image_size is None:
            self.image_size = 64 if self.data_dir else 32
        if self.gan_steps is None:
            self.gan_steps = 1500 if self.data_dir else 600
        if self.dual_steps is None:
            self.dual_steps = self.gan_steps
        if self.teachers is None:
            self.teachers = self.resolved_teachers()
        return self

    def resolved_teachers(self):
        if self.teachers is not None:
            return {k: list(v) for k, v in self.teachers.items()}
        return dict(CELEBA_TEACHERS if self.data_dir else DEFAULT_TEACHERS)


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
                batch_size=config.batch_size,
            )
            splits[split] = data.load()
        return splits, attributes, f"CelebA ({config.data_dir})"
    faces = keras_dfka.datasets.ProceduralFaces(
        num_images=config.num_procedural_faces,
        image_size=config.image_size,
        seed=config.seed,
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
    keras.utils.set_random_seed(config.seed + name_seed(name))
    task = keras_dfka.Task(name, labels, "sigmoid")
    model = small_cnn(
        (config.image_size, config.image_size, 3),
        [task],
        widths=config.teacher_widths,
        name=f"teacher_{name}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
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
        batch_size=config.batch_size,
        epochs=config.teacher_epochs,
        verbose=config.verbose,
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


def amalgamate(
    teachers,
    config,
    gan_options=None,
    dual_options=None,
    callbacks=True,
    alternate_steps=None,
    balanced_latents=None,
    hard_latents=None,
):
    """Step 2, data-free: AmalgamGAN, DualGenerator and TargetNet.from_dual.

    Args:
        teachers: list of `keras_dfka.Teacher`.
        config: a resolved `FaceConfig` (or any object with the same fields).
        gan_options: extra `AmalgamGAN` arguments (ablations).
        dual_options: extra `DualGenerator` arguments (ablations).
        callbacks: bool, whether to write TensorBoard logs and an image grid
            to `config.workdir`.
        alternate_steps: optional int. If given, the two stages alternate in
            chunks of this many steps (the DAFL-style schedule: the student
            learns from the generator as it trains, its copy of the generator
            refreshed before each chunk) instead of running one after the
            other. Same total budget: `gan_steps` and `dual_steps`.
        balanced_latents: optional int. If given, the dual generator trains
            on this many latent vectors from `AmalgamGAN.balanced_latents`
            (spread evenly over the classes of the teachers' one softmax
            task), reshuffled every pass, for `dual_steps` steps, instead of
            fresh noise. Not with `alternate_steps`.
        hard_latents: optional int, only with `balanced_latents`. If given,
            the dual generator trains half its steps on the balanced vectors,
            then adds this many vectors from `DualGenerator.hard_latents` (its
            largest disagreements with the teachers) and trains the other
            half on the union, reshuffled every pass. Both halves are logged
            as epochs of one `dual_generator` run and timed together.

    Returns:
        `(gan, dual, target_net, timings)`.
    """
    timings = {}
    logdir = os.path.join(config.workdir, "logs")
    gan_options = dict(gan_options or {})
    gan_options.setdefault("preset", config.preset)
    gan = keras_dfka.AmalgamGAN(
        teachers,
        latent_dim=config.latent_dim,
        width_multiplier=config.width_multiplier,
        **gan_options,
    )
    gan.compile()
    if balanced_latents is not None:
        balanced_latents = check_int(balanced_latents, "balanced_latents", 1)
        if alternate_steps is not None:
            raise ValueError(
                "`balanced_latents` needs the trained generator, so it cannot be "
                "combined with `alternate_steps`. Received: "
                f"balanced_latents={balanced_latents}, "
                f"alternate_steps={alternate_steps}"
            )
    if hard_latents is not None:
        hard_latents = check_int(hard_latents, "hard_latents", 1)
        if balanced_latents is None:
            raise ValueError(
                "`hard_latents` adds to the class-balanced vectors; give "
                "`balanced_latents` too. Received: balanced_latents=None, "
                f"hard_latents={hard_latents}"
            )
    if alternate_steps is not None:
        return _amalgamate_alternately(
            gan, config, dual_options, int(alternate_steps), timings
        )
    noise = keras_dfka.datasets.LatentNoise(
        config.latent_dim, config.batch_size, steps=config.gan_steps, seed=config.seed
    )

    def fit_stage(model, data, name, epoch=0):
        """One timed `fit()` epoch (number `epoch`), logged to TensorBoard
        under `name`; the times of a stage's epochs add up."""
        t0 = time.time()
        model.fit(
            data,
            initial_epoch=epoch,
            epochs=epoch + 1,
            verbose=config.verbose,
            callbacks=[keras.callbacks.TensorBoard(os.path.join(logdir, name))]
            if callbacks
            else [],
        )
        key = f"{name}_s"
        timings[key] = timings.get(key, 0.0) + time.time() - t0

    fit_stage(gan, noise, "amalgam_gan")
    if callbacks:
        save_image_grid(
            gan.generate(64, seed=config.seed),
            os.path.join(config.workdir, "generated.png"),
        )
    dual = keras_dfka.DualGenerator(gan, config.target_labels, **(dual_options or {}))
    dual.compile()
    # With hard vectors, the larger half of the steps comes before them.
    first = config.dual_steps
    if hard_latents is not None:
        first = -(-first // 2)
    if balanced_latents is None:
        latents = keras_dfka.datasets.LatentNoise(
            config.latent_dim, config.batch_size, steps=first, seed=config.seed + 1
        )
    else:
        t0 = time.time()
        balanced = gan.balanced_latents(balanced_latents, seed=config.seed + 1)
        latents = keras_dfka.datasets.LatentSet(
            balanced, config.batch_size, steps=first, seed=config.seed + 1
        )
        timings["balanced_latents_s"] = time.time() - t0
    fit_stage(dual, latents, "dual_generator")
    if first < config.dual_steps:
        t0 = time.time()
        hard = dual.hard_latents(hard_latents, seed=config.seed + 2)
        timings["hard_latents_s"] = time.time() - t0
        latents = keras_dfka.datasets.LatentSet(
            np.concatenate([balanced, hard]),
            config.batch_size,
            steps=config.dual_steps - first,
            seed=config.seed + 3,
        )
        fit_stage(dual, latents, "dual_generator", epoch=1)
    return gan, dual, keras_dfka.TargetNet.from_dual(dual), timings


def _amalgamate_alternately(gan, config, dual_options, chunk, timings):
    """`amalgamate` with the two stages alternating every `chunk` steps.

    The dual generator is built before the GAN trains, so its filters start
    from the GAN's initial filters (the sequential schedule copies trained
    ones); its frozen generator copy is refreshed before each of its chunks.
    """
    if chunk <= 0:
        raise ValueError(f"`alternate_steps` must be positive. Received: {chunk}")
    dual = keras_dfka.DualGenerator(gan, config.target_labels, **(dual_options or {}))
    dual.compile()
    gan_total, dual_total = int(config.gan_steps), int(config.dual_steps)
    rounds = max(1, -(-max(gan_total, dual_total) // chunk))

    def share(total, r):
        """Round `r`'s steps when `total` is spread evenly over the rounds."""
        return total * (r + 1) // rounds - total * r // rounds

    def fit(model, steps, seed):
        noise = keras_dfka.datasets.LatentNoise(
            config.latent_dim, config.batch_size, steps=steps, seed=seed
        )
        t0 = time.time()
        model.fit(noise, epochs=1, verbose=0)
        return time.time() - t0

    timings["amalgam_gan_s"] = timings["dual_generator_s"] = 0.0
    for r in range(rounds):
        steps = share(gan_total, r)
        if steps:
            timings["amalgam_gan_s"] += fit(gan, steps, config.seed + 2 * r)
        steps = share(dual_total, r)
        if steps:
            dual.generator.set_weights(gan.generator.get_weights())
            timings["dual_generator_s"] += fit(dual, steps, config.seed + 1 + 2 * r)
    return gan, dual, keras_dfka.TargetNet.from_dual(dual), timings


def teacher_soft_labels(teachers, target_labels, images, batch_size=256):
    """The teachers' probabilities of the target labels on `images`."""
    resolved = keras_dfka.label_selection.resolve_target_labels(teachers, target_labels)
    return keras_dfka.dual_generator.teacher_label_probabilities(
        teachers, resolved, images, batch_size
    )


def label_model(target_net, teachers):
    """A copy of the TargetNet architecture for the reference students, with
    one `(batch, len(target_labels))` output.

    The trunk and the filters are re-initialized; every branch head starts
    from its teacher's own head weights (the information the data-free
    TargetNet also starts from; not the TargetNet's, which
    `DualGenerator(fine_tune_heads=True)` has trained on generated images).
    Every layer is trainable: the copy of the TargetNet's frozen heads would
    otherwise keep their fresh random weights.
    """
    copy = keras.models.clone_model(target_net)
    heads = {f"branch_{t.name}_head": t.head for t in teachers}
    for layer in copy.layers:
        set_all_trainable(layer, True)
        if layer.name.startswith("branch_") and layer.name.endswith("_head"):
            layer.set_weights(heads[layer.name].get_weights())
    outputs = copy.outputs
    names = copy.output_names
    by_name = dict(zip(names, outputs))
    columns = [
        by_name[task][:, index : index + 1]
        for task, index in target_net.label_spec["columns"]
    ]
    merged = keras.layers.Concatenate(name="labels")(columns)
    return keras.Model(copy.inputs[0], merged, name="reference_student")


def train_reference_student(
    target_net, teachers, images, soft_labels, config, loss="binary_crossentropy"
):
    """Trains the TargetNet architecture from scratch on `(images, soft labels)`.

    The budget is `config.student_steps` (default: `config.dual_steps`) steps
    of `config.batch_size`, rounded to whole epochs.
    """
    keras.utils.set_random_seed(config.seed + 7)
    student = label_model(target_net, teachers)
    student.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=loss,
    )
    steps = config.student_steps or config.dual_steps
    epochs = max(1, int(round(steps * config.batch_size / len(images))))
    student.fit(
        images,
        soft_labels,
        batch_size=config.batch_size,
        epochs=epochs,
        verbose=config.verbose,
    )
    return student


def reference_inputs(x_train, seed):
    """The reference students' images: the real training images
    (`"data_student"`) and as many uniform-noise images (`"noise_student"`,
    drawn with `seed`)."""
    rng = np.random.default_rng(seed)
    return {
        "data_student": x_train,
        "noise_student": rng.uniform(size=x_train.shape).astype("float32"),
    }


def train_reference_students(
    target_net, teachers, target_labels, inputs, config, loss="binary_crossentropy"
):
    """Trains one reference student per image set of `inputs`.

    Each is `train_reference_student` on those images with the teachers' soft
    labels for `target_labels`. Returns `(students, seconds)`: dicts keyed like
    `inputs`, the trained models and each one's wall time (labelling included).
    """
    students, seconds = {}, {}
    for name, images in inputs.items():
        t0 = time.time()
        students[name] = train_reference_student(
            target_net,
            teachers,
            images,
            teacher_soft_labels(teachers, target_labels, images),
            config,
            loss=loss,
        )
        seconds[name] = time.time() - t0
    return students, seconds


def _predict(model_fn, images, batch_size=256):
    return np.concatenate(
        [
            np.asarray(ops.convert_to_numpy(model_fn(images[i : i + batch_size])))
            for i in range(0, len(images), batch_size)
        ]
    )


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
    keras.utils.set_random_seed(config.seed)
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
    gan, dual, target_net, stage_timings = amalgamate(teachers, config)
    timings.update(stage_timings)
    target_path = os.path.join(workdir, "target_net.keras")
    if os.path.exists(target_path) and not config.overwrite:
        raise FileExistsError(f"{target_path} exists; pass overwrite=True.")
    target_net.save(target_path)

    # References: same architecture, trained on real or noise images.
    x_train = splits["train"][0]
    students, seconds = train_reference_students(
        target_net,
        teachers,
        config.target_labels,
        reference_inputs(x_train, config.seed),
        config,
    )
    timings["reference_students_s"] = sum(seconds.values())

    # Step 3: evaluation on the test split.
    x_test, y_test = splits["test"]
    y_target = y_test[:, _columns(attributes, config.target_labels)]
    predictions = {
        "target_net": target_net.predict_labels(x_test),
        "data_student": _predict(students["data_student"], x_test),
        "noise_student": _predict(students["noise_student"], x_test),
        "teachers": teacher_soft_labels(teachers, config.target_labels, x_test),
    }
    reports = {
        name: evaluation.binary_report(y_target, p, config.target_labels)
        for name, p in predictions.items()
    }
    teacher_own = {}
    for teacher, name in zip(teachers, groups):
        p = teacher_soft_labels([teacher], groups[name], x_test)
        teacher_own[name] = evaluation.binary_report(
            y_test[:, _columns(attributes, groups[name])], p, groups[name]
        )
    auc = {k: r["mean"]["roc_auc"] for k, r in reports.items()}
    gap = evaluation.gap_closed(
        auc["target_net"], auc["noise_student"], auc["data_student"]
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
            }
        )
    per_label = [
        {
            "label": label,
            **{
                f"{name}_auc": reports[name]["per_label"][label]["roc_auc"]
                for name in ("teachers", "data_student", "target_net", "noise_student")
            },
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
        "parameters": {
            "teachers_together": int(teacher_params),
            "target_net": int(target_params),
            "ratio": target_params / teacher_params,
        },
        "inference": {"target_net": speed_target, "teachers_together": speed_teachers},
        "teacher_reports": teacher_own,
        "teachers_reused": reused,
        "timings_s": {**timings, "total_s": time.time() - t_start},
        "steps_per_second": {
            "amalgam_gan": config.gan_steps / timings["amalgam_gan_s"],
            "dual_generator": config.dual_steps / timings["dual_generator_s"],
        },
        "agreement_on_generated": dual.agreement(512),
    }
    text = format_report(report)
    print(text)
    report["markdown"] = text
    evaluation.write_report(report, workdir, "report", overwrite=config.overwrite)
    return report


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
            ["model", "roc_auc", "balanced_accuracy", "accuracy"],
            title="Test split, mean over target labels",
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
            ],
            title="ROC-AUC per target label",
        ),
        "",
        f"Gap closed (AUC): {report['gap_closed']:.3f}",
        f"Parameters: TargetNet {report['parameters']['target_net']:,} vs teachers "
        f"together {report['parameters']['teachers_together']:,} "
        f"(ratio {report['parameters']['ratio']:.3f})",
        "Inference (images/s): TargetNet "
        f"{report['inference']['target_net']['images_per_second']:.0f}, teachers "
        f"together {report['inference']['teachers_together']['images_per_second']:.0f}",
        "Steps/s: AmalgamGAN "
        f"{report['steps_per_second']['amalgam_gan']:.2f}, DualGenerator "
        f"{report['steps_per_second']['dual_generator']:.2f}",
        f"Wall time: {report['timings_s']['total_s']:.0f} s",
    ]
    return "\n".join(lines)
