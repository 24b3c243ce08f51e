"""The two settings of the quality benchmark: CelebA faces (`run_celeba`,
through `examples/faces`) and MNIST digits (`run_mnist`, through
`examples/mnist`). Each trains or loads its teachers, runs every row for
every seed and the reference students, and returns `(results, metric,
settings)`. `args` holds the script's flags."""

import contextlib
import json
import os
import time

import numpy as np
from absl import app

from benchmarks import common
from benchmarks.quality.rows import row_config
from benchmarks.quality.rows import step_changes


@contextlib.contextmanager
def dtype_policy(policy):
    """Keras's global dtype policy set to `policy` inside the block."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def data_root(args):
    """`--data_root`, else `$KERAS_DFKA_DATA_DIR`, else `../shared/data`."""
    if args.data_root:
        return args.data_root
    return os.environ.get(
        "KERAS_DFKA_DATA_DIR",
        os.path.join(os.path.dirname(common.ROOT), "shared", "data"),
    )


def load_mnist_teacher(path):
    """Loads `--teacher`, checking it is an MNIST digit classifier."""
    import keras

    if not os.path.isfile(path):
        raise app.UsageError(
            f"--teacher must be a saved .keras model; {path} not found"
        )
    model = keras.saving.load_model(path)
    shapes = (tuple(model.input_shape), tuple(model.output_shape))
    if shapes != ((None, 28, 28, 1), (None, 10)):
        raise app.UsageError(
            "--teacher must map (None, 28, 28, 1) digits to (None, 10) "
            f"probabilities; {path} maps {shapes[0]} to {shapes[1]}"
        )
    return model


def run_celeba(args, rows, seeds, workdir):
    import keras_dfka
    from examples import references
    from examples.faces import config as face_config
    from examples.faces import train as faces
    from keras_dfka import evaluation
    from keras_dfka.models.teacher_zoo import block_names

    steps = step_changes(args)
    amalgamation = keras_dfka.AmalgamationConfig(**steps, verbose=0)
    if args.quick:
        # latent_dim: one dimension per teacher label for latent_targets.
        amalgamation = amalgamation.replace(
            batch_size=16, latent_dim=16, jit_compile=False
        )
    config = face_config.FaceConfig(
        data_dir=os.path.join(data_root(args), "celeba"),
        image_size=args.image_size,
        amalgamation=amalgamation,
        workdir=workdir,
        overwrite=True,
    )
    if args.teacher_epochs is not None:
        config.teacher_epochs = args.teacher_epochs
    if args.quick:
        config.teacher_widths = (4, 8, 8)
    config.resolve()
    splits, attributes, _ = faces.load_face_data(config)
    if args.quick:
        splits = {k: (x[:200], y[:200]) for k, (x, y) in splits.items()}
    groups = config.teachers
    models = {}
    for name, labels in groups.items():
        path = os.path.join(workdir, "teachers", f"{name}.keras")
        models[name], _ = faces.train_teacher(
            name, labels, splits, attributes, config, path
        )
    teachers = [
        keras_dfka.Teacher(
            m,
            block_names(m),
            labels=groups[n],
            name=n,
            label_priors=faces.declared_priors(
                os.path.join(workdir, "teachers", f"{n}.keras")
            )
            if config.declare_priors
            else None,
        )
        for n, m in models.items()
    ]
    x_train = splits["train"][0]
    columns = [attributes.index(a) for a in config.target_labels]
    x_val, y_val = splits["validation"][0], splits["validation"][1][:, columns]
    x_test, y_test = splits["test"][0], splits["test"][1][:, columns]

    def score(predict):
        """Test-split scores, and the validation split's ROC-AUC (what
        defaults are chosen on) as `validation_roc_auc`."""
        report = evaluation.binary_report(y_test, predict(x_test), config.target_labels)
        entry = {
            k: report["mean"][k] for k in ("roc_auc", "balanced_accuracy", "accuracy")
        }
        validation = evaluation.binary_report(
            y_val, predict(x_val), config.target_labels
        )
        entry["validation_roc_auc"] = validation["mean"]["roc_auc"]
        return entry

    results = {
        "teachers": [
            score(
                lambda x: references.teacher_soft_labels(
                    teachers, config.target_labels, x
                )
            )
        ]
    }
    for seed in seeds:
        target_net = None
        for row, policy in [(r, p) for r in rows for p in args.dtype_policies]:
            row_settings = row_config(row, amalgamation, seed, steps)
            name = row if policy == "float32" else f"{row}_{policy}"
            t0 = time.time()
            with dtype_policy(policy):
                net = keras_dfka.amalgamate(
                    teachers, config.target_labels, row_settings
                ).target_net
                entry = score(lambda x, n=net: np.asarray(n.predict_labels(x), "f4"))
            entry["wall_time_s"] = time.time() - t0
            entry["seed"] = seed
            results.setdefault(name, []).append(entry)
            print(name, seed, json.dumps(entry), flush=True)
            if policy == "float32":  # The references' architecture, float32.
                target_net = net
        students, seconds = references.train_reference_students(
            target_net,
            teachers,
            config.target_labels,
            references.reference_inputs(x_train, seed),
            config.student_steps or amalgamation.dual_steps,
            amalgamation.replace(seed=seed),
        )
        for name, student in students.items():
            entry = score(lambda x, s=student: references.predict(s, x))
            entry.update(wall_time_s=seconds[name], seed=seed)
            results.setdefault(name, []).append(entry)
        print("references", seed, json.dumps(results["data_student"][-1]), flush=True)
    return results, "roc_auc", {"teacher_epochs": config.teacher_epochs}


def run_mnist(args, rows, seeds, workdir):
    from examples.mnist import config as mnist_config
    from examples.mnist import train as mnist

    config = mnist_config.MNISTConfig(
        data_dir=os.path.join(data_root(args), "mnist"), workdir=workdir
    )
    steps = step_changes(args)
    config.amalgamation = config.amalgamation.replace(**steps, verbose=0)
    if args.quick:
        config.teacher_digits = 300
        config.teacher_epochs = 1
        config.amalgamation = config.amalgamation.replace(batch_size=16, latent_dim=8)
        config.generated_samples = 64
    if args.teacher_epochs is not None:
        config.teacher_epochs = args.teacher_epochs
    splits = mnist.load_mnist_splits(config)
    if args.quick:
        splits["test"] = tuple(a[:200] for a in splits["test"])
    if args.teacher:
        teacher_model = load_mnist_teacher(args.teacher)
    else:
        config.amalgamation = config.amalgamation.replace(seed=args.teacher_seed)
        teacher_model = mnist.train_mnist_teacher(splits, config)
        os.makedirs(workdir, exist_ok=True)
        teacher_model.save(os.path.join(workdir, "teacher.keras"))
    settings = {
        "teacher_epochs": None if args.teacher else config.teacher_epochs,
        "teacher_seed": None if args.teacher else args.teacher_seed,
        "teacher": args.teacher,
    }
    results = {}
    base = config.amalgamation
    for seed in seeds:
        for index, row in enumerate(rows):
            # --quick: as many balanced vectors as the generated student's
            # images, a quarter of that of hard ones.
            quick_latents = config.generated_samples if args.quick else None
            config.amalgamation = row_config(row, base, seed, steps, quick_latents)
            t0 = time.time()
            out = mnist.run(
                config,
                teacher_model=teacher_model,
                splits=splits,
                references_too=index == 0,
            )
            accuracy, per_class = out["top1_accuracy"], out["per_class_accuracy"]
            results.setdefault(row, []).append(
                {
                    "accuracy": accuracy["target_net"],
                    "per_class_accuracy": per_class["target_net"],
                    "seed": seed,
                    "wall_time_s": time.time() - t0,
                }
            )
            if index == 0:
                for name, key in (
                    ("data_student", "data_student"),
                    ("noise_student", "noise_student"),
                    ("generated_student", "generated_student"),
                    ("teachers", "teacher"),
                ):
                    results.setdefault(name, []).append(
                        {
                            "accuracy": accuracy[key],
                            "per_class_accuracy": per_class[key],
                            "seed": seed,
                        }
                    )
            print(row, seed, json.dumps(results[row][-1]), flush=True)
    return results, "accuracy", settings
