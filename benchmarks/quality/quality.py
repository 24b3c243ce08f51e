"""Quality benchmark: our default against the paper preset, the sequential
preset, ablations and baselines, on CelebA faces and on MNIST, over seeds.

    python -m benchmarks.quality.quality --dataset=celeba --seeds=3 --image_size=64
    python -m benchmarks.quality.quality --dataset=mnist --seeds=3 --steps=600

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
benchmarks/quality/results/ as JSON, with a Markdown table printed for
benchmarks/README.md; the work files (the CelebA teachers, the MNIST
teacher) go to `work_<output name>/` beside the JSON.

The MNIST teacher decides much of the result: `--teacher_seed` trains it
with another seed, and `--teacher` reuses a saved one, e.g. to compare the
backends on the same teacher:

    python -m benchmarks.quality.quality --dataset=mnist --backend=jax \
        --teacher=$W/work_quality_mnist_tensorflow/teacher.keras \
        --output=$W/quality_mnist_jax_tfteacher.json

(`W=benchmarks/quality/results`).

`--first_seed=3 --seeds=2` runs seeds 3 and 4 only, to add seeds to an
earlier run's (same teacher, same settings, another output file).

The rows are in `rows.py`, the CelebA and MNIST runs in `runs.py`, the
summary table in `summary.py`; this script checks the flags and writes the
report.
"""

import json
import os
import time

from absl import app
from absl import flags

from benchmarks import common
from benchmarks.quality.rows import DEFAULT_ROWS
from benchmarks.quality.rows import ROWS
from benchmarks.quality.rows import needs_softmax
from benchmarks.quality.runs import data_root
from benchmarks.quality.runs import run_celeba
from benchmarks.quality.runs import run_mnist
from benchmarks.quality.summary import format_per_class
from benchmarks.quality.summary import summarize

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
    output = FLAGS.output or os.path.join(common.results_dir("quality"), name + ".json")
    common.refuse_existing(output, FLAGS.overwrite)
    dataset_dir = os.path.join(data_root(FLAGS), FLAGS.dataset)
    if not os.path.isdir(dataset_dir):
        print(f"SKIP: {dataset_dir} not found; the quality benchmark needs real data.")
        return 0
    stem = os.path.splitext(os.path.basename(output))[0]
    workdir = os.path.join(os.path.dirname(output), "work_" + stem)
    seeds = list(range(FLAGS.first_seed, FLAGS.first_seed + FLAGS.seeds))
    t0 = time.time()
    runner = run_celeba if FLAGS.dataset == "celeba" else run_mnist
    results, metric, settings = runner(FLAGS, rows, seeds, workdir)
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
        "command": common.command_line(),
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
