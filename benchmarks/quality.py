"""Quality benchmark: our default against the paper preset, the sequential
preset, ablations and baselines, on CelebA faces and on MNIST, over seeds.

    python benchmarks/quality.py --dataset=celeba --seeds=3 --image_size=64
    python benchmarks/quality.py --dataset=mnist --seeds=3 --steps=600

Every row uses the same student architecture (the TargetNet's) and its
preset's steps, unless `--steps` (generator) and `--dual_steps` (student)
set them for all rows. The teachers are trained once (seed 0, on the
training split only) and shared by all rows; the data-free rows never see
an image. CelebA rows are scored on the validation partition (what the
defaults are chosen on) and on the test partition (what is reported);
MNIST rows on the digits after the teacher's part. On MNIST the references
also hold the generated student: plain distillation of the TargetNet
architecture on a fixed set of the first row's generated images (the dual
generator's job, done the ordinary way), and three MNIST-only rows train
the student on class-balanced latent vectors (`AmalgamGAN.
balanced_latents`; they need a softmax teacher). Results go to
benchmarks/results/ as JSON, with a Markdown table printed for
benchmarks/README.md; the work files (the CelebA teachers, the MNIST
teacher) go to `work_<output name>/` beside the JSON.

The MNIST teacher decides much of the result (benchmarks/README.md, section
4e): `--teacher_seed` trains it with another seed, and `--teacher` reuses a
saved one, e.g. to compare the backends on the same teacher:

    python benchmarks/quality.py --dataset=mnist --backend=jax \
        --teacher=benchmarks/results/work_quality_mnist_tensorflow/teacher.keras \
        --output=benchmarks/results/quality_mnist_jax_tfteacher.json

`--first_seed=3 --seeds=2` runs seeds 3 and 4 only, to add seeds to an
earlier run's (same teacher, same settings, another output file).
"""

import contextlib
import json
import os
import sys
import time

import numpy as np
from absl import app
from absl import flags

flags.DEFINE_enum("dataset", "celeba", ["celeba", "mnist"], "Benchmark setting.")
flags.DEFINE_integer("seeds", 3, "Number of seeds (first_seed..first_seed+N-1).")
flags.DEFINE_integer(
    "first_seed", 0, "The first seed (to add seeds to an earlier run's)."
)
flags.DEFINE_integer(
    "steps", None, "Generator steps of every row (default: each row's preset's)."
)
flags.DEFINE_integer(
    "dual_steps", None, "Student steps of every row (default: each row's preset's)."
)
flags.DEFINE_integer("image_size", 32, "Face image side (CelebA only).")
flags.DEFINE_integer(
    "teacher_epochs",
    None,
    "Epochs of teacher training (default: the setting's own, CelebA 10, MNIST 8).",
)
flags.DEFINE_integer(
    "teacher_seed", 0, "Seed of the MNIST teacher's training (MNIST only)."
)
flags.DEFINE_string(
    "teacher",
    None,
    "A saved MNIST teacher (.keras, 28x28x1 -> 10 softmax) to use instead of "
    "training one, e.g. another run's work_*/teacher.keras (MNIST only).",
)
flags.DEFINE_list("rows", None, "Subset of rows to run (default: all).")
flags.DEFINE_list(
    "dtype_policies",
    ["float32"],
    "Keras dtype policies the data-free rows run under (CelebA only; each "
    "row once per policy, named <row>_<policy> unless float32; must include "
    "float32; teachers and references stay float32).",
)
flags.DEFINE_string("data_root", None, "Folder holding celeba/ and mnist/.")
flags.DEFINE_string("output", None, "JSON path (default under results/).")
flags.DEFINE_bool("overwrite", False, "Overwrite an existing output file.")
flags.DEFINE_bool("quick", False, "Tiny settings for the smoke test.")
flags.DEFINE_enum("backend", None, ["tensorflow", "jax", "torch"], "Keras backend.")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # For `examples`.

DAFL_CHUNK = 20
BALANCED_SAMPLES = 32000
HARD_SAMPLES = 16000
BALANCED_END_TO_END = {
    "balanced_latents": BALANCED_SAMPLES,
    "block_wise": False,
    "fine_tune_heads": True,
}
# name -> (AmalgamationConfig changes, description). A row's "preset" (default
# "default") gives the fields it does not change; the rows of the sequential
# preset are the 0.1 rows (MNIST keeps them). Rows with `balanced_latents`
# need a softmax teacher (MNIST only).
SEQUENTIAL = {"preset": "sequential"}
ROWS = {
    "default": ({}, "our default: adversarial amalgamation with a pool"),
    "no_adversarial": (
        {"adversarial_weight": 0.0},
        "default without the generator's disagreement term",
    ),
    "no_latent_targets": (
        {"latent_targets": False},
        "default without label targets read from the noise",
    ),
    "no_pool": (
        {"pool_size": 64},
        "default with a pool of one batch (the student sees only the newest "
        "generated images)",
    ),
    "one_student_update": (
        {"student_updates": 1},
        "default with one student update per generator update",
    ),
    "paper": ({"preset": "paper"}, "the paper's recipe (Eqs. 5-16)"),
    "sequential": (
        SEQUENTIAL,
        "stage 1, then stage 2 block-wise (the library's 0.1 default)",
    ),
    "sequential_end_to_end": (
        {**SEQUENTIAL, "block_wise": False},
        "sequential, whole trunk trained end to end on images",
    ),
    "dafl": (
        {
            "preset": "paper",
            "loss_weights": {
                "one_hot": 1.0,
                "activation": 0.1,
                "information_entropy": 5.0,
                "discrete": 0.0,
                "intermediate": 0.0,
                "batch_norm": 0.0,
                "total_variation": 0.0,
            },
            "block_wise": False,
            "schedule": "alternate",
            "alternate_steps": DAFL_CHUNK,
        },
        "DAFL-style: one-hot + activation + entropy losses; the student "
        "trained end to end on the generated images alongside the generator "
        f"(alternating every {DAFL_CHUNK} steps)",
    ),
    "balanced": (
        {**SEQUENTIAL, "balanced_latents": BALANCED_SAMPLES},
        f"sequential, dual generator on {BALANCED_SAMPLES} class-balanced latent "
        "vectors (AmalgamGAN.balanced_latents; MNIST only)",
    ),
    "balanced_end_to_end": (
        {**SEQUENTIAL, **BALANCED_END_TO_END},
        "class-balanced latents, trunk trained end to end, trainable head "
        "copies (plain distillation on balanced images; MNIST only)",
    ),
    "balanced_hard": (
        {**SEQUENTIAL, **BALANCED_END_TO_END, "hard_latents": HARD_SAMPLES},
        f"balanced_end_to_end, and for the second half of the student's steps "
        f"{HARD_SAMPLES} more vectors where it disagrees most with the teacher "
        "(DualGenerator.hard_latents; MNIST only)",
    ),
}
# The rows each dataset runs when --rows is not given.
DEFAULT_ROWS = {
    "celeba": [
        "default",
        "no_adversarial",
        "no_latent_targets",
        "no_pool",
        "one_student_update",
        "paper",
        "sequential",
        "dafl",
    ],
    "mnist": [
        "sequential",
        "paper",
        "sequential_end_to_end",
        "dafl",
        "balanced",
        "balanced_end_to_end",
        "balanced_hard",
    ],
}


def needs_softmax(row):
    """Whether a row trains on class-balanced vectors (MNIST only)."""
    return "balanced_latents" in ROWS[row][0]


def row_config(row, base, seed, quick_latents):
    """The `AmalgamationConfig` of `row`: its preset with the row's changes,
    `base`'s latent width, batch size, verbosity and XLA choice, the steps of
    `step_changes()` and `seed`. Under `--quick` the latent-vector counts
    are `quick_latents` (balanced) and a quarter of it (hard)."""
    from keras_dfka.amalgamation import AmalgamationConfig

    changes = dict(ROWS[row][0])
    preset = changes.pop("preset", "default")
    if FLAGS.quick and "balanced_latents" in changes:
        changes["balanced_latents"] = quick_latents
        if "hard_latents" in changes:
            changes["hard_latents"] = max(1, quick_latents // 4)
    shared = ("latent_dim", "batch_size", "verbose", "jit_compile")
    return AmalgamationConfig.from_preset(
        preset,
        **{k: getattr(base, k) for k in shared},
        **step_changes(),
        seed=seed,
        **changes,
    )


def step_changes():
    """The steps every row gets: `--steps` (generator) and `--dual_steps`
    (student), each only when given (`--quick`: 2 and 4 unless given). A
    row's preset gives the others."""
    changes = {"gan_steps": 2, "dual_steps": 4} if FLAGS.quick else {}
    if FLAGS.steps is not None:
        changes["gan_steps"] = FLAGS.steps
    if FLAGS.dual_steps is not None:
        changes["dual_steps"] = FLAGS.dual_steps
    return changes


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


def data_root():
    if FLAGS.data_root:
        return FLAGS.data_root
    return os.environ.get(
        "KERAS_DFKA_DATA_DIR", os.path.join(os.path.dirname(ROOT), "shared", "data")
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


def run_celeba(rows, seeds, workdir):
    import keras_dfka
    from examples import references
    from examples.faces import config as face_config
    from examples.faces import train as faces
    from keras_dfka import evaluation
    from keras_dfka.models.teacher_zoo import block_names

    amalgamation = keras_dfka.AmalgamationConfig(**step_changes(), verbose=0)
    if FLAGS.quick:
        # latent_dim: one dimension per teacher label for latent_targets.
        amalgamation = amalgamation.replace(
            batch_size=16, latent_dim=16, jit_compile=False
        )
    config = face_config.FaceConfig(
        data_dir=os.path.join(data_root(), "celeba"),
        image_size=FLAGS.image_size,
        amalgamation=amalgamation,
        workdir=workdir,
        overwrite=True,
    )
    if FLAGS.teacher_epochs is not None:
        config.teacher_epochs = FLAGS.teacher_epochs
    if FLAGS.quick:
        config.teacher_widths = (4, 8, 8)
    config.resolve()
    splits, attributes, _ = faces.load_face_data(config)
    if FLAGS.quick:
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
        for row, policy in [(r, p) for r in rows for p in FLAGS.dtype_policies]:
            row_settings = row_config(row, amalgamation, seed, None)
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


def run_mnist(rows, seeds, workdir):
    from examples.mnist import config as mnist_config
    from examples.mnist import train as mnist

    config = mnist_config.MNISTConfig(
        data_dir=os.path.join(data_root(), "mnist"), workdir=workdir
    )
    config.amalgamation = config.amalgamation.replace(**step_changes(), verbose=0)
    if FLAGS.quick:
        config.teacher_digits = 300
        config.teacher_epochs = 1
        config.amalgamation = config.amalgamation.replace(batch_size=16, latent_dim=8)
        config.generated_samples = 64
    if FLAGS.teacher_epochs is not None:
        config.teacher_epochs = FLAGS.teacher_epochs
    splits = mnist.load_mnist_splits(config)
    if FLAGS.quick:
        splits["test"] = tuple(a[:200] for a in splits["test"])
    if FLAGS.teacher:
        teacher_model = load_mnist_teacher(FLAGS.teacher)
    else:
        config.amalgamation = config.amalgamation.replace(seed=FLAGS.teacher_seed)
        teacher_model = mnist.train_mnist_teacher(splits, config)
        os.makedirs(workdir, exist_ok=True)
        teacher_model.save(os.path.join(workdir, "teacher.keras"))
    settings = {
        "teacher_epochs": None if FLAGS.teacher else config.teacher_epochs,
        "teacher_seed": None if FLAGS.teacher else FLAGS.teacher_seed,
        "teacher": FLAGS.teacher,
    }
    results = {}
    base = config.amalgamation
    for seed in seeds:
        for index, row in enumerate(rows):
            # --quick: as many balanced vectors as the generated student's
            # images, a quarter of that of hard ones.
            config.amalgamation = row_config(row, base, seed, config.generated_samples)
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


def summarize(results, metric):
    def bounds(key):
        return [
            np.mean([r[key] for r in results[name]])
            for name in ("noise_student", "data_student")
        ]

    lower, upper = bounds(metric)
    validation_metric = f"validation_{metric}"
    has_validation = validation_metric in results["noise_student"][0]
    table = []
    for name, entries in results.items():
        row = {"row": name, "seeds": len(entries)}
        for key in (
            validation_metric,
            "roc_auc",
            "balanced_accuracy",
            "accuracy",
            "wall_time_s",
        ):
            values = [e[key] for e in entries if key in e]
            if values:
                row[key] = float(np.mean(values))
                row[f"{key}_std"] = float(np.std(values))
        per_class = [
            e["per_class_accuracy"] for e in entries if "per_class_accuracy" in e
        ]
        if per_class:
            row["per_class_accuracy"] = [float(v) for v in np.mean(per_class, axis=0)]
        if upper != lower:
            gaps = [(e[metric] - lower) / (upper - lower) for e in entries]
            row["gap_closed"] = float(np.mean(gaps))
            row["gap_closed_std"] = float(np.std(gaps))
        if has_validation:
            low, high = bounds(validation_metric)
            gaps = [(e[validation_metric] - low) / (high - low) for e in entries]
            row["validation_gap_closed"] = float(np.mean(gaps))
        table.append(row)
    return table


def format_per_class(table):
    """A Markdown table of each row's mean top-1 accuracy per true digit."""
    rows = [r for r in table if "per_class_accuracy" in r]
    if not rows:
        return ""
    from keras_dfka import evaluation

    digits = [str(c) for c in range(len(rows[0]["per_class_accuracy"]))]
    cells = [
        {"row": r["row"], **dict(zip(digits, r["per_class_accuracy"]))} for r in rows
    ]
    return evaluation.format_table(cells, ["row"] + digits)


def main(argv):
    del argv
    if FLAGS.backend:
        os.environ["KERAS_BACKEND"] = FLAGS.backend
    if FLAGS.rows:
        rows = FLAGS.rows
    else:
        rows = DEFAULT_ROWS[FLAGS.dataset]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise app.UsageError(f"--rows has unknown names {unknown}; known: {list(ROWS)}")
    if FLAGS.dataset != "mnist" and any(needs_softmax(r) for r in rows):
        raise app.UsageError(
            f"--rows {[r for r in rows if needs_softmax(r)]} need a softmax teacher: "
            "--dataset=mnist only (the CelebA teachers are multi-label)"
        )
    for flag in ("seeds", "steps", "dual_steps", "teacher_epochs"):
        value = getattr(FLAGS, flag)
        if value is not None and value < 1:
            raise app.UsageError(f"--{flag} must be >= 1. Received: {value}")
    for flag in ("teacher_seed", "first_seed"):
        if getattr(FLAGS, flag) < 0:
            raise app.UsageError(
                f"--{flag} must be >= 0. Received: {getattr(FLAGS, flag)}"
            )
    if FLAGS.dataset != "mnist" and (FLAGS.teacher or FLAGS.teacher_seed):
        raise app.UsageError(
            "--teacher and --teacher_seed are for --dataset=mnist only "
            "(the CelebA teachers are cached in the work directory)"
        )
    known_policies = ("float32", "mixed_bfloat16", "mixed_float16")
    policies = FLAGS.dtype_policies
    if not policies or any(p not in known_policies for p in policies):
        raise app.UsageError(
            f"--dtype_policies must name some of {list(known_policies)}. "
            f"Received: {policies}"
        )
    if "float32" not in policies:
        # The reference students copy a float32 row's TargetNet architecture.
        raise app.UsageError(
            "--dtype_policies must include float32 (the reference students "
            f"and the comparison). Received: {policies}"
        )
    if FLAGS.dataset != "celeba" and policies != ["float32"]:
        raise app.UsageError(
            f"--dtype_policies is for --dataset=celeba only. Received: {policies}"
        )
    if FLAGS.teacher and (FLAGS.teacher_epochs is not None or FLAGS.teacher_seed):
        raise app.UsageError(
            "--teacher_epochs and --teacher_seed have no effect with --teacher "
            "(a trained teacher); pass one or the other"
        )
    # keras_dfka before keras: TensorFlow then uses its oneDNN kernels.
    from keras_dfka import evaluation  # noqa: I001

    import keras

    name = f"quality_{FLAGS.dataset}_{keras.backend.backend()}"
    output = FLAGS.output or os.path.join(ROOT, "benchmarks", "results", name + ".json")
    if os.path.exists(output) and not FLAGS.overwrite:
        raise app.UsageError(f"{output} exists; pass --overwrite")
    dataset_dir = os.path.join(data_root(), FLAGS.dataset)
    if not os.path.isdir(dataset_dir):
        print(f"SKIP: {dataset_dir} not found; the quality benchmark needs real data.")
        return 0
    stem = os.path.splitext(os.path.basename(output))[0]
    workdir = os.path.join(os.path.dirname(output), "work_" + stem)
    seeds = list(range(FLAGS.first_seed, FLAGS.first_seed + FLAGS.seeds))
    t0 = time.time()
    runner = run_celeba if FLAGS.dataset == "celeba" else run_mnist
    results, metric, settings = runner(rows, seeds, workdir)
    table = summarize(results, metric)
    report = {
        "dataset": FLAGS.dataset,
        "metric_for_gap": metric,
        "steps": FLAGS.steps,
        "dual_steps": FLAGS.dual_steps,
        "image_size": FLAGS.image_size if FLAGS.dataset == "celeba" else 28,
        "seeds": seeds,
        "dtype_policies": FLAGS.dtype_policies,
        **settings,
        "rows": {r: ROWS[r][1] for r in rows},
        "command": " ".join(["python"] + sys.argv),
        "environment": evaluation.environment_info(),
        "results": results,
        "table": table,
        "total_wall_time_s": time.time() - t0,
    }
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        json.dump(report, f, indent=2)
    columns = [
        "row",
        "seeds",
        metric,
        f"{metric}_std",
        "gap_closed",
        "gap_closed_std",
        "wall_time_s",
    ]
    if metric == "roc_auc":
        columns[4:4] = ["balanced_accuracy", "accuracy"]
        columns[2:2] = ["validation_roc_auc", "validation_gap_closed"]
    print(evaluation.format_table(table, columns, title=name))
    if metric == "accuracy":
        print(format_per_class(table))
    print(f"written: {output}")
    return 0


if __name__ == "__main__":
    app.run(main)
