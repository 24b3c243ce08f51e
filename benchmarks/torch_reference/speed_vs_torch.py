"""keras-dfka's stage-1 and stage-2 steps against the plain PyTorch reference.

    pip install -e ".[torch]"   # torch: the benchmark's only extra need
    python -m benchmarks.torch_reference.speed_vs_torch --backend=tensorflow,jax
    python -m benchmarks.torch_reference.speed_vs_torch --quick   # a smoke run

(from the repository root). First checks that the reference computes our
losses, gradients and Adam updates on the same weights (nothing is timed if
it does not), then times each Keras backend's step (its default
`jit_compile="auto"`) and the torch reference's, interleaved in rounds
(`--rounds`), each measurement in a fresh subprocess, with the load average
before and after each round (`comparison.run_comparison`;
results/speed_vs_torch.json). The models are the CelebA setting of the face
example: two untrained `small_cnn` teachers (widths 16, 32, 64 at 64x64, 8
sigmoid labels each, 4 target labels each in stage 2).

Flags: `--backend` (a list), `--rounds`, `--torch_threads`,
`--torch_compile`, `--batch_sizes`, `--stages`, `--steps`, `--epochs`,
`--notf_onednn` (TensorFlow's Eigen kernels), `--quick`, `--output`,
`--overwrite`. The parent process only orchestrates: it imports neither
Keras nor torch.
"""

import os
import sys

from absl import app
from absl import flags

from benchmarks import common
from benchmarks.speed import cli
from benchmarks.torch_reference.comparison import RESULTS_DIR
from benchmarks.torch_reference.comparison import compare_settings_for
from benchmarks.torch_reference.comparison import run_comparison

FLAGS = flags.FLAGS


def define_flags():
    """Defines the command-line flags (only when run as a script)."""
    cli.define_common_flags("results/speed_vs_torch[_quick].json")
    flags.DEFINE_integer("rounds", None, "Rounds of measurements.")
    flags.DEFINE_bool("torch_compile", False, "torch.compile the reference's loss.")
    flags.DEFINE_integer("torch_threads", None, "torch.set_num_threads.")


def main(argv):
    del argv
    backends = cli.parse_backends(FLAGS.backend, several=True)
    overrides = cli.common_overrides(FLAGS)
    overrides["rounds"] = common.require_positive("rounds", FLAGS.rounds)
    overrides["torch_threads"] = common.require_positive(
        "torch_threads", FLAGS.torch_threads
    )
    overrides["torch_compile"] = FLAGS.torch_compile
    if not common.module_available("torch"):
        raise app.UsageError("the comparison needs torch: pip install torch")
    settings = compare_settings_for(FLAGS.quick, **overrides)
    suffix = "_quick" if FLAGS.quick else ""
    output = FLAGS.output or os.path.join(RESULTS_DIR, f"speed_vs_torch{suffix}.json")
    common.refuse_existing(output, FLAGS.overwrite)
    report = run_comparison(backends, settings)
    cli.print_and_write(report, output, FLAGS.overwrite)
    failures = [run for r in report["rounds"] for run in r["runs"] if "error" in run]
    equivalence = report["equivalence"]
    if failures or "error" in equivalence or not equivalence.get("passed"):
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
