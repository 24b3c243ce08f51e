"""`TerminateOnNonFinite`: the trainers' NaN guard, a Keras callback."""

import math

import keras
import numpy as np

from keras_dfka.utils.non_finite import NonFiniteError
from keras_dfka.utils.non_finite import describe_model
from keras_dfka.utils.non_finite import non_finite_weights

# A distillation temperature below this is named as a likely cause.
SMALL_TEMPERATURE = 1e-2


def _learning_rates(model):
    """The current learning rate of each of `model`'s optimizers, as text
    (`["1e-05"]`, or one `name=value` per optimizer of a MultiOptimizer)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return []
    inner = getattr(optimizer, "optimizers", None)
    optimizers = list(inner) if inner else [optimizer]
    rates = []
    for item in optimizers:
        try:
            value = float(np.asarray(keras.ops.convert_to_numpy(item.learning_rate)))
        except (AttributeError, TypeError, ValueError):
            continue
        rates.append(f"{item.name}={value:g}" if len(optimizers) > 1 else f"{value:g}")
    return rates


def _temperature(model):
    """The distillation temperature of `model` (a DualGenerator, or the
    student of an AdversarialAmalgamation), or None."""
    for candidate in (model, getattr(model, "dual_generator", None)):
        temperature = getattr(candidate, "temperature", None)
        if isinstance(temperature, (int, float)):
            return float(temperature)
    return None


class TerminateOnNonFinite(keras.callbacks.Callback):
    """Raises at the first non-finite logged loss, naming step and terms.

    Like `keras.callbacks.TerminateOnNaN(raise_error=True)`, but it checks
    every logged value (the total and each named loss term), and its
    `NonFiniteError` names the model, the step of the `fit()` call (1-based,
    counted over its epochs), the epoch and the batch, and the terms that
    are not finite. At the end of training it checks the model's weights
    too (the last step's update may have made them non-finite).

    The keras-dfka trainers add one to every `fit()` by default (first in
    the list, so that no other callback saves a model after a non-finite
    step); `compile(check_finite=False)` turns it off.

    The logged values are the running means of the epoch, so the first
    batch whose mean is not finite is the first step whose loss was not
    (with `steps_per_execution > 1`, a step of that execution).
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0
        self._steps_before_epoch = 0
        self._last_batch = -1

    def on_train_begin(self, logs=None):
        self._steps_before_epoch = 0
        self._last_batch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._last_batch = -1

    def on_epoch_end(self, epoch, logs=None):
        self._steps_before_epoch += self._last_batch + 1

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch = batch
        bad = {}
        for name, value in (logs or {}).items():
            try:
                value = float(np.asarray(value))
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                bad[name] = value
        if not bad:
            return
        terms = ", ".join(f"{name}={value}" for name, value in bad.items())
        step = self._steps_before_epoch + batch + 1
        per_execution = getattr(self.model, "steps_per_execution", 1) or 1
        when = f"step {step}" if per_execution == 1 else f"or before step {step}"
        message = (
            f"{describe_model(self.model)}: non-finite loss at {when} of this "
            f"fit() (epoch {self._epoch + 1}, batch {batch + 1}): {terms}. "
            "Training stopped; the model's weights may already be non-finite, "
            "so do not save it."
        )
        message += " " + self._likely_cause(bad)
        message += " (compile(check_finite=False) turns this check off.)"
        raise NonFiniteError(message)

    def _likely_cause(self, bad):
        """What the callback can tell about why the step was not finite."""
        total = [n for n in bad if n.endswith("loss")]
        if total and len(total) == len(bad):
            return (
                "Every logged term is finite but their weighted sum is not: a "
                "loss weight is too large."
            )
        causes = []
        diverged = non_finite_weights(self.model)
        rates = _learning_rates(self.model)
        rate_text = f" (now {', '.join(rates)})" if rates else ""
        if diverged:
            causes.append(
                f"The weights are already non-finite ({len(diverged)} "
                f"variable(s), e.g. {diverged[0]}): an update diverged, so "
                f"lower the learning rate{rate_text}."
            )
        temperature = _temperature(self.model)
        if temperature is not None and temperature < SMALL_TEMPERATURE:
            causes.append(
                f"The distillation temperature is {temperature:g}: the "
                "teachers' and the student's logits are divided by it, so a "
                f"temperature below {SMALL_TEMPERATURE:g} overflows; raise it."
            )
        if not causes:
            causes.append(
                "The weights are still finite, so this batch's loss itself was "
                "not: check the teachers (finite weights, outputs declared as "
                "logits or probabilities as they are), then lower the learning "
                f"rate{rate_text} or the loss weights."
            )
        return " ".join(causes)

    def on_train_end(self, logs=None):
        bad = non_finite_weights(self.model)
        if bad:
            shown = bad[:5] + ([f"... ({len(bad) - 5} more)"] if len(bad) > 5 else [])
            raise NonFiniteError(
                f"{describe_model(self.model)}: the weights are not finite after "
                f"training (NaN or infinity in {len(bad)} variable(s): {shown}), "
                "although every logged loss was: the last update diverged. Do not "
                "save this model; lower the learning rate. (compile("
                "check_finite=False) turns this check off.)"
            )


def with_finite_guard(model, callbacks):
    """`callbacks` with a `TerminateOnNonFinite` first, unless it has one.

    Args:
        model: the model being fit (given to the callback when `callbacks`
            is already a `keras.callbacks.CallbackList`).
        callbacks: what `fit()` received: None, a callback, a list of them,
            or a `keras.callbacks.CallbackList`.

    Returns:
        What to pass to `fit()` instead.
    """
    if isinstance(callbacks, keras.callbacks.CallbackList):
        if not any(isinstance(c, TerminateOnNonFinite) for c in callbacks.callbacks):
            guard = TerminateOnNonFinite()
            guard.set_model(model)
            if getattr(callbacks, "params", None):
                guard.set_params(callbacks.params)
            callbacks.callbacks.insert(0, guard)
            # A callback that reads batch ends cannot run asynchronously.
            callbacks._async_train = False
        return callbacks
    if callbacks is None:
        callbacks = []
    elif isinstance(callbacks, keras.callbacks.Callback):
        callbacks = [callbacks]
    callbacks = list(callbacks)
    if not any(isinstance(c, TerminateOnNonFinite) for c in callbacks):
        callbacks.insert(0, TerminateOnNonFinite())
    return callbacks
