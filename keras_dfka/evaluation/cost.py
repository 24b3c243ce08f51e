"""The cost of a model: its parameter count and its inference time."""

import time
from collections.abc import Mapping

import keras
import numpy as np

from keras_dfka.utils.validation import check_int

# ---------------------------------------------------------------------------
# Cost measurements.
# ---------------------------------------------------------------------------


def count_params(model_or_models):
    """Total number of parameters (trainable and non-trainable) of models.

    Args:
        model_or_models: a built `keras.Model` (or `keras.layers.Layer`), or a
            list/tuple of them. Variables shared between the models (for
            example a common backbone) are counted once.

    Returns:
        An int, the number of scalar parameters.

    Example:

    ```python
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> count_params(model)
    15
    ```
    """
    if isinstance(model_or_models, (list, tuple)):
        models = list(model_or_models)
        if not models:
            raise ValueError(
                "`model_or_models` must be a Keras model or a non-empty list of "
                "models; received an empty list"
            )
    else:
        models = [model_or_models]
    seen = set()
    total = 0
    for index, model in enumerate(models):
        if not isinstance(model, keras.layers.Layer):
            raise ValueError(  # noqa: TRY004 (package convention: ValueError)
                "`model_or_models` must be a Keras model or a list of models; "
                f"received {type(model).__name__} at position {index}"
            )
        if not model.built:
            raise ValueError(
                "`model_or_models` must contain only built models (call the "
                "model on data or give it an `Input`); received unbuilt model "
                f"{model.name!r}"
            )
        for variable in model.weights:
            if id(variable) in seen:
                continue
            seen.add(id(variable))
            total += int(np.prod(variable.shape, dtype="int64"))
    return total


def _materialize(outputs):
    """Converts (nested) outputs to NumPy, waiting for asynchronous backends."""
    if outputs is None:
        return None
    if isinstance(outputs, Mapping):
        return {key: _materialize(value) for key, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [_materialize(value) for value in outputs]
    return keras.ops.convert_to_numpy(outputs)


def inference_time(model_or_callable, x, batch_size=64, repeats=3, warmup=1):
    """Median inference time per image.

    A `keras.Model` is timed with `model.predict(x, batch_size=batch_size,
    verbose=0)`. Any other callable is called on consecutive slices of `x` of
    `batch_size` rows, and its outputs are converted to NumPy so that
    asynchronous backends (JAX) finish the computation inside the timing.
    `warmup` untimed passes (tracing, compilation) run first; then `repeats`
    timed passes over all of `x`, and the median pass time is divided by the
    number of images.

    Args:
        model_or_callable: a `keras.Model`, or a callable mapping a batch to
            outputs.
        x: array of inputs, shape `(n, ...)` with `n >= 1`.
        batch_size: int >= 1. Defaults to `64`.
        repeats: int >= 1, the number of timed passes. Defaults to `3`.
        warmup: int >= 0, the number of untimed passes. Defaults to `1`.

    Returns:
        A dict `{"seconds_per_image": float, "images_per_second": float}`.

    Example:

    ```python
    timing = inference_time(student, x_test[:512], batch_size=128)
    print(f"{timing['images_per_second']:.0f} images/s")
    ```
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    repeats = check_int(repeats, "repeats", 1)
    warmup = check_int(warmup, "warmup", 0)
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(
            f"`x` must be an array with at least one sample (n, ...); received "
            f"shape {x.shape}"
        )
    num_images = x.shape[0]

    if isinstance(model_or_callable, keras.Model):
        model = model_or_callable

        def run_pass():
            model.predict(x, batch_size=batch_size, verbose=0)

    elif callable(model_or_callable):
        function = model_or_callable

        def run_pass():
            for start in range(0, num_images, batch_size):
                _materialize(function(x[start : start + batch_size]))

    else:
        raise ValueError(  # noqa: TRY004 (package convention: ValueError)
            "`model_or_callable` must be a keras.Model or a callable; received "
            f"{type(model_or_callable).__name__}"
        )

    for _ in range(warmup):
        run_pass()
    durations = []
    for _ in range(repeats):
        start_time = time.perf_counter()
        run_pass()
        durations.append(time.perf_counter() - start_time)
    seconds_per_image = float(np.median(durations)) / num_images
    if seconds_per_image > 0:
        images_per_second = 1.0 / seconds_per_image
    else:  # Below the clock resolution.
        images_per_second = float("inf")
    return {
        "seconds_per_image": seconds_per_image,
        "images_per_second": images_per_second,
    }
