"""The flags that `speed.py` and `torch_reference/speed_vs_torch.py` share,
and their checks (absl usage errors name the flag and the value)."""

import os

from absl import app
from absl import flags

from benchmarks import common


def define_common_flags(default_output):
    """Defines the shared flags; `default_output` describes `--output`'s
    default in its help."""
    flags.DEFINE_list(
        "backend",
        None,
        "Keras backend (default: env); speed_vs_torch.py takes a list "
        "(e.g. tensorflow,jax): the Keras backends timed against torch.",
    )
    flags.DEFINE_string("output", None, f"JSON path (default: {default_output}).")
    flags.DEFINE_bool("overwrite", False, "Overwrite an existing --output file.")
    flags.DEFINE_bool(
        "tf_onednn",
        None,
        "TensorFlow's oneDNN CPU kernels in the measurements (default: on, as "
        "keras_dfka sets them); --notf_onednn: TensorFlow's Eigen kernels.",
    )
    flags.DEFINE_bool("quick", False, "Tiny settings for a smoke run (< 2 minutes).")
    flags.DEFINE_list("batch_sizes", None, "Batch sizes of the stage-1/2 runs.")
    flags.DEFINE_list("stages", None, "Stages to time: 1, 2.")
    flags.DEFINE_integer("steps", None, "Steps per timed epoch.")
    flags.DEFINE_integer("epochs", None, "Timed epochs (after the warm-up epoch).")


def parse_backends(values, several=False, hint=""):
    """`--backend` as a list (default: KERAS_BACKEND, else tensorflow).

    Args:
        values: the flag's value (a list or None).
        several: whether more than one backend is accepted.
        hint: what the usage error for several backends adds.
    """
    backends = list(values or [os.environ.get("KERAS_BACKEND", "tensorflow")])
    for backend in backends:
        if backend not in common.BACKENDS:
            raise app.UsageError(
                f"--backend must be among {common.BACKENDS}; got {','.join(backends)!r}"
            )
    if len(set(backends)) != len(backends):
        raise app.UsageError(f"--backend repeats a backend: {','.join(backends)!r}")
    if len(backends) > 1 and not several:
        raise app.UsageError(
            f"--backend takes one backend{hint}; got {','.join(backends)!r}"
        )
    return backends


def common_overrides(FLAGS):
    """The settings the shared flags override (None: the default)."""
    overrides = {
        "steps": common.require_positive("steps", FLAGS.steps),
        "epochs": common.require_positive("epochs", FLAGS.epochs),
        "tf_onednn": FLAGS.tf_onednn,
    }
    if FLAGS.batch_sizes:
        overrides["batch_sizes"] = common.positive_ints(
            FLAGS.batch_sizes, "batch_sizes"
        )
    if FLAGS.stages:
        if not set(FLAGS.stages) <= {"1", "2"}:
            raise app.UsageError(f"--stages takes 1 and/or 2; got {FLAGS.stages}")
        overrides["stages"] = [int(s) for s in FLAGS.stages]
    return overrides


def print_and_write(report, output, overwrite):
    """Prints a report's Markdown and writes its JSON to `output`."""
    print()
    print(report["markdown"], flush=True)
    common.write_report(report, output, overwrite=overwrite)
    print(f"Wrote {output} ({report['total_seconds']:.0f} s)")
