"""keras-dfka: data-free knowledge amalgamation for Keras 3.

Implements the Group-Stack Dual-GAN (Ye et al., CVPR 2020).
"""

# ruff: noqa: E402 - the environment is prepared before Keras is imported.

import os as _os
import sys as _sys

# The `keras-dfka` command (and `python -m keras_dfka`) import this package,
# and so Keras and its backend, before they read their arguments: keep
# TensorFlow's C++ start-up lines out of their help and usage errors, unless
# the user chose a log level (TensorFlow writes some of them whatever the
# level: those are held back while Keras is imported). Library users are not
# affected.
_COMMAND = _os.path.basename(_sys.argv[0] if _sys.argv else "") == "keras-dfka" or (
    getattr(_sys, "orig_argv", [])[1:3] == ["-m", "keras_dfka"]
)
if _COMMAND:
    _os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
# TensorFlow's oneDNN CPU kernels, unless TensorFlow is already imported or
# the user chose (keras_dfka.utils.cpu_kernels).
if "tensorflow" not in _sys.modules:
    _os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
__version__ = "0.1.0"
if _COMMAND:  # `--help` and `--version` answer without Keras, then exit.
    from keras_dfka.cli.help import answer_without_keras

    answer_without_keras()
if _COMMAND and "keras" not in _sys.modules:
    from keras_dfka.utils.cpu_kernels import import_keras_quietly

    import_keras_quietly()

from keras_dfka import _legacy
from keras_dfka import callbacks
from keras_dfka import datasets
from keras_dfka import deployment
from keras_dfka import layers
from keras_dfka import losses
from keras_dfka.amalgamation import AmalgamationConfig
from keras_dfka.amalgamation import AmalgamationResult
from keras_dfka.amalgamation import amalgamate
from keras_dfka.models.label_task import LabelTask
from keras_dfka.models.model_graph import propose_blocks
from keras_dfka.models.target_net import TargetNet
from keras_dfka.models.teacher import Teacher
from keras_dfka.trainers.adversarial_amalgamation import AdversarialAmalgamation
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.dual_generator import DualGenerator

_legacy.install()


__all__ = [
    "AdversarialAmalgamation",
    "AmalgamGAN",
    "AmalgamationConfig",
    "AmalgamationResult",
    "DualGenerator",
    "TargetNet",
    "amalgamate",
    "propose_blocks",
    "callbacks",
    "LabelTask",
    "Teacher",
    "datasets",
    "deployment",
    "layers",
    "losses",
]


def __getattr__(name):
    """`keras_dfka.Task`: the old name of `LabelTask`, with a warning."""
    return _legacy.renamed_attribute(name)
