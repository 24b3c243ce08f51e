"""Helpers shared across the package: argument checks (`validation`),
small model and tensor helpers (`model_utils`, whose functions are also
available here, e.g. `keras_dfka.utils.random_mixup`), the NaN checks
(`non_finite`), data-parallel helpers (`distribution`), TensorFlow's CPU
kernels (`cpu_kernels`) and image grids (`visualization`).

The functions of `model_utils` are loaded on first use, so that importing a
submodule (`keras_dfka.utils.cpu_kernels`, read before Keras is imported)
does not import Keras.
"""

_MODEL_UTILS = (
    "as_list",
    "copy_model",
    "map_batches",
    "random_flip_and_shift",
    "random_mixup",
    "set_all_trainable",
)

__all__ = list(_MODEL_UTILS)


def __getattr__(name):
    if name in _MODEL_UTILS:
        from keras_dfka.utils import model_utils

        return getattr(model_utils, name)
    raise AttributeError(f"module 'keras_dfka.utils' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_MODEL_UTILS))
