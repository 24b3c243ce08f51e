"""One measurement in a fresh subprocess, so that its peak memory is that of
one configuration only, and its backend is chosen before Keras is imported.

    python -m benchmarks.speed.worker --backend=jax --worker='{"kind": ...}' \
        --worker_output=/tmp/result.json

The parent calls `run(spec, backend)`; the subprocess runs `run_worker(spec)`
and writes its result as JSON. The kinds: `fit`, `flops`, `sweep_flops`,
`ceiling` (`measure`), and for the PyTorch comparison `torch_fit` and
`equivalence` (`benchmarks.torch_reference.workers`, which imports torch).
"""

import json

from absl import app
from absl import flags

from benchmarks import common

MODULE = "benchmarks.speed.worker"


def run(spec, backend, timeout=1800, extra_env=None):
    """Runs `run_worker(spec)` in a fresh Python process with `backend`.

    Returns the worker's result dict, or `{"error": ...}` if it failed.
    """
    return common.run_in_subprocess(MODULE, spec, backend, timeout, extra_env)


def run_worker(spec):
    """Runs one measurement in this process (the subprocess side)."""
    from benchmarks.speed import measure

    kind = spec["kind"]
    if kind in ("torch_fit", "equivalence"):
        from benchmarks.torch_reference import workers

        if kind == "torch_fit":
            return workers.measure_torch(spec)
        return workers.run_equivalence(spec)
    if kind == "fit":
        return measure.measure_fit(spec)
    if kind == "flops":
        return measure.count_flops(spec)
    if kind == "sweep_flops":
        return measure.count_sweep_flops(spec)
    if kind == "ceiling":
        return measure.matmul_ceiling(spec["size"], spec["repeats"])
    raise ValueError(f"Unknown worker kind {kind!r}")


def write_result(spec_json, output):
    """Runs the measurement of `spec_json` and writes its result to `output`."""
    result = run_worker(json.loads(spec_json))
    with open(output, "w") as f:
        json.dump(result, f)


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    if not FLAGS.worker or not FLAGS.worker_output:
        raise app.UsageError("--worker and --worker_output are both needed")
    common.set_backend(FLAGS.backend)
    write_result(FLAGS.worker, FLAGS.worker_output)


if __name__ == "__main__":
    flags.DEFINE_enum(
        "backend", "tensorflow", ["tensorflow", "jax", "torch"], "Keras backend."
    )
    flags.DEFINE_string("worker", None, "JSON spec of one measurement.")
    flags.DEFINE_string("worker_output", None, "Where the result JSON goes.")
    app.run(main)
