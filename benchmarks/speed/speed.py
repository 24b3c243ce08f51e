"""Training speed, scaling and FLOP throughput of AmalgamGAN and DualGenerator.

    python -m benchmarks.speed.speed --backend=tensorflow  # speed_tensorflow.json
    python -m benchmarks.speed.speed --backend=jax         # speed_jax.json
    python -m benchmarks.speed.speed --backend=jax --quick # speed_jax_quick.json

(from the repository root; the JSON goes to `benchmarks/speed/results/`
unless `--output`). `--quick` is a smoke run with tiny models (16x16
images, 2 measurements at a time); its timings only show that everything
runs. An existing output file is kept unless `--overwrite`. Other flags:
`--batch_sizes=32,64`, `--jit=on`, `--stages=1`, `--steps`, `--epochs`,
`--jobs`, `--output`, `--notf_onednn`. The comparison with a plain PyTorch
reference (once `--reference=torch` here) is
`python -m benchmarks.torch_reference.speed_vs_torch`.

What is measured (every measurement runs in a fresh worker subprocess,
`worker.py`, so the peak memory is that of one configuration only):

1. Steps/s and samples/s of one stage-1 step (`AmalgamGAN.fit` on
   `keras_dfka.datasets.LatentNoise`) and one stage-2 step
   (`DualGenerator.fit`) for `jit_compile` on and off and several batch
   sizes. The teachers are untrained `teacher_zoo.small_cnn` models (speed
   does not depend on their weights). `fit()` runs one warm-up epoch (it
   includes tracing and compilation) and then timed epochs; each timed epoch
   is measured from `on_epoch_begin` to `on_epoch_end`, where the callback
   first waits for the logs and the model variables to be computed (JAX
   dispatches asynchronously; its state is synced only at epoch end). The
   step time is the median timed epoch over its steps (it includes the
   per-epoch cost of `fit()`, about 15 ms with TensorFlow's tf.data
   iterator); no per-batch callback is used, since one makes Keras convert
   the logs after every step and so serializes JAX's dispatch. Under JAX
   with `jit_compile=False` every op runs eagerly: fewer, shorter epochs.
   Peak memory is `ru_maxrss` of the subprocess (it includes the framework
   itself: `baseline_rss_mb` is the value after the imports).
2. Cost as the work grows: the stage-1 step time at one batch size with the
   default `jit_compile="auto"` (XLA under JAX; plain graphs for TensorFlow
   on CPU) against the number of teachers, of blocks and the image size,
   with the least-squares slope of log(step time) against log(quantity), and
   the same slope of the step's FLOPs (pre-optimization XLA count) to
   compare with.
3. Achieved FLOP throughput: the FLOPs of one stage-1 (and stage-2) training
   step, forward, backward and optimizer update, from XLA's cost analysis of
   the jitted JAX step (`jax.jit(train_step).lower(state, z).compile()
   .cost_analysis()["flops"]`, in a JAX subprocess for either backend: the
   computation is the same), divided by the measured step time and by the
   ceiling, the FLOP/s this backend reaches on a large float32 matrix
   multiply (`2 n^3` FLOPs, median of several runs; the faster of the jitted
   and the plain op, both recorded).

Everything is printed as Markdown and saved, with the environment
(`keras_dfka.evaluation.environment_info()`) and the load average, to the JSON
file given by `--output`.
"""

import sys

from absl import app
from absl import flags

from benchmarks import common
from benchmarks.speed import cli
from benchmarks.speed import worker
from benchmarks.speed.benchmark import run_benchmark
from benchmarks.speed.settings import default_output
from benchmarks.speed.settings import settings_for

FLAGS = flags.FLAGS
REPLACEMENT = "python -m benchmarks.torch_reference.speed_vs_torch"
# The flags of the PyTorch comparison, which moved to REPLACEMENT.
MOVED_FLAGS = ("reference", "rounds", "torch_threads", "torch_compile")


def define_flags():
    """Defines the command-line flags (only when run as a script)."""
    cli.define_common_flags("results/speed_<backend>[_quick].json")
    flags.DEFINE_list("jit", None, "jit_compile modes of the stage runs: on, off.")
    flags.DEFINE_integer(
        "jobs", None, "Measurements run at once (> 1 only for smoke tests)."
    )
    flags.DEFINE_string("reference", None, f"Moved: {REPLACEMENT}.")
    flags.DEFINE_integer("rounds", None, f"Moved: {REPLACEMENT} --rounds.")
    flags.DEFINE_bool("torch_compile", None, f"Moved: {REPLACEMENT} --torch_compile.")
    flags.DEFINE_integer(
        "torch_threads", None, f"Moved: {REPLACEMENT} --torch_threads."
    )
    flags.DEFINE_string("worker", None, "Internal: JSON spec of one measurement.")
    flags.DEFINE_string("worker_output", None, "Internal: where a worker writes.")


def main(argv):
    del argv
    moved = [name for name in MOVED_FLAGS if getattr(FLAGS, name) is not None]
    if moved:
        raise app.UsageError(
            f"--{moved[0]}: the comparison with the plain PyTorch reference "
            f"moved to `{REPLACEMENT}` (the same flags, without --reference)"
        )
    if FLAGS.worker:  # The subprocess side, as `python -m benchmarks.speed.worker`.
        if not FLAGS.worker_output:
            raise app.UsageError("--worker needs --worker_output")
        common.set_backend((FLAGS.backend or ["tensorflow"])[0])
        worker.write_result(FLAGS.worker, FLAGS.worker_output)
        return
    (backend,) = cli.parse_backends(
        FLAGS.backend, hint=f" (a list only in {REPLACEMENT})"
    )
    common.set_backend(backend)
    overrides = cli.common_overrides(FLAGS)
    overrides["jobs"] = common.require_positive("jobs", FLAGS.jobs)
    if FLAGS.jit:
        if not set(FLAGS.jit) <= {"on", "off"}:
            raise app.UsageError(f"--jit takes on and/or off; got {FLAGS.jit}")
        overrides["jit_modes"] = list(FLAGS.jit)
    settings = settings_for(FLAGS.quick, **overrides)
    output = FLAGS.output or default_output(backend, FLAGS.quick)
    common.refuse_existing(output, FLAGS.overwrite)
    report = run_benchmark(backend, settings)
    cli.print_and_write(report, output, FLAGS.overwrite)
    failures = [r for r in report["runs"] if "error" in r] + [
        r for s in report["sweeps"].values() for r in s["runs"] if "error" in r
    ]
    if failures or "error" in report["ceiling"]:
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
