"""The NaN guard: training stops at the first non-finite loss.

The trainers (`AmalgamGAN`, `DualGenerator`, `AdversarialAmalgamation`) add a
`TerminateOnNonFinite` callback to every `fit()` unless compiled with
`check_finite=False`, as Keras adds its `History` and `ProgbarLogger`. It
reads the logged losses at the end of every batch, like
`keras.callbacks.TerminateOnNaN`, but raises a `NonFiniteError` that names
the trainer, the step and the loss terms; at the end of training it also
checks the weights, which the last step's update may have made non-finite.
"""

import keras
from keras import ops


class NonFiniteError(RuntimeError):
    """A loss or a weight became NaN or infinite (or a model holds one)."""


def non_finite_weights(model, weights=None):
    """The paths of `model`'s float weights that hold a NaN or an infinity.

    Args:
        model: a Keras layer or model.
        weights: optional list of variables to check instead of
            `model.weights`.

    Returns:
        A list of variable paths (empty when every value is finite).
    """
    bad = []
    for variable in model.weights if weights is None else weights:
        if not keras.backend.is_float_dtype(variable.dtype):
            continue
        finite = ops.convert_to_numpy(ops.all(ops.isfinite(variable.value)))
        if not bool(finite):
            bad.append(variable.path)
    return bad


def describe_model(model):
    """`AmalgamGAN 'amalgam_gan'`: a model's class and name, for messages."""
    return f"{type(model).__name__} '{model.name}'"


def raise_if_non_finite_weights(model, what=None, weights=None):
    """Raises a `NonFiniteError` if `model` has a non-finite weight.

    Args:
        model: a Keras layer or model.
        what: how the message names the model (default: its class and name).
        weights: optional list of variables to check instead of
            `model.weights`.
    """
    bad = non_finite_weights(model, weights)
    if bad:
        shown = bad[:5] + ([f"... ({len(bad) - 5} more)"] if len(bad) > 5 else [])
        raise NonFiniteError(
            f"{what or describe_model(model)} has non-finite weights (NaN or "
            f"infinity) in {len(bad)} variable(s): {shown}. It is not used or "
            "saved."
        )
