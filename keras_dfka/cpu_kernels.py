"""TensorFlow's oneDNN kernels on CPUs: on by default with keras-dfka.

TensorFlow turns its oneDNN CPU kernels on by itself only on CPUs with
AVX-512 neural-network instructions (VNNI, BF16, AMX); elsewhere (for example
an AVX2 x86 CPU) it falls back to Eigen kernels. On a 2-core AVX2 CPU our
training steps measured 2-3.6x faster with oneDNN on (`benchmarks/README.md`,
section 3). TensorFlow reads the switch, the environment variable
`TF_ENABLE_ONEDNN_OPTS`, once, when it is imported:

- importing `keras_dfka` before TensorFlow is imported (directly, or through
  `import keras` with the TensorFlow backend) sets `TF_ENABLE_ONEDNN_OPTS=1`
  unless the variable is already set; the `keras-dfka` command does;
- otherwise the first trainer compiled on a TensorFlow CPU without oneDNN
  warns once, naming the variable. Set `TF_ENABLE_ONEDNN_OPTS=1` (faster) or
  `=0` (keep Eigen's kernels, and the warning off) in the environment, or
  before the first `import keras`.

oneDNN's kernels round differently from Eigen's (results agree to float32
rounding, not bit for bit).
"""

import os
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
        "instructions): keras-dfka's training steps measured 2-3.6x faster "
        f"with oneDNN on a 2-core AVX2 CPU. Set {VARIABLE}=1 in the "
        "environment, or import keras_dfka before keras and TensorFlow "
        f"(it then sets it); set {VARIABLE}=0 to keep Eigen's kernels "
        "without this warning.",
        stacklevel=3,
    )
    return True
