"""TensorFlow's oneDNN kernels on CPUs: on by default with keras-dfka.

TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with
AVX-512 neural-network instructions (VNNI, BF16, AMX); elsewhere (for example
an AVX2 x86 CPU) it falls back to Eigen kernels, which run keras-dfka's
training steps 1.5-2.6x slower (`benchmarks/README.md`, section 3t).
TensorFlow reads the switch, the environment variable
`TF_ENABLE_ONEDNN_OPTS`, once, when it is imported:

- importing `keras_dfka` before TensorFlow is imported (directly, or through
  `import keras` with the TensorFlow backend) sets `TF_ENABLE_ONEDNN_OPTS=1`
  unless the variable is already set; the `keras-dfka` command does;
- otherwise the first trainer's `fit()` on a TensorFlow CPU without oneDNN
  warns once, naming the variable. Set `TF_ENABLE_ONEDNN_OPTS=1` (faster) or
  `=0` (keep Eigen's kernels, and the warning off) in the environment, or
  before the first `import keras`.

oneDNN's kernels round differently from Eigen's (results agree to float32
rounding, not bit for bit).
"""

import os
import sys
import tempfile
import warnings

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
_WARNED = []


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN kernels (`None` if TensorFlow
    cannot tell)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # pragma: no cover - depends on the TF build.
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def warn_if_onednn_off():
    """Warns once per process when TensorFlow trains on a CPU with its
    oneDNN kernels off and the user did not choose that with
    `TF_ENABLE_ONEDNN_OPTS`. Returns whether it warned."""
    if _WARNED or os.environ.get(VARIABLE) is not None:
        return False
    import tensorflow as tf

    if any(d.device_type != "CPU" for d in tf.config.list_physical_devices()):
        return False
    if onednn_enabled() is not False:
        return False
    _WARNED.append(True)
    warnings.warn(
        "TensorFlow runs its Eigen CPU kernels here, not oneDNN's (TensorFlow "
        "turns oneDNN on by itself only on CPUs with AVX-512 neural-network "
        "instructions): keras-dfka's training steps measured 1.5-2.6x faster "
        f"with oneDNN on a 2-core AVX2 CPU. Set {VARIABLE}=1 in the "
        "environment, or import keras_dfka before keras and TensorFlow "
        f"(it then sets it); set {VARIABLE}=0 to keep Eigen's kernels "
        "without this warning.",
        stacklevel=3,
    )
    return True


# TensorFlow's lines written while it is imported, before its logging is set
# up (so whatever TF_CPP_MIN_LOG_LEVEL says).
_START_UP_LINES = (
    "before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "cpu_feature_guard",
    "To enable the following instructions",
)


def import_keras_quietly():
    """Imports Keras (and so its backend) for the `keras-dfka` command,
    without TensorFlow's start-up lines: the process's standard error is
    captured while Keras is imported, and every other line is written back
    (also when the import fails)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(True)
            kept = [
                line
                for line in lines
                if not any(marker in line for marker in _START_UP_LINES)
            ]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
