"""Soft-target losses of the dual generator (paper Eqs. 11-14)."""

from keras import ops

from keras_dfka.losses.gan_losses import EPSILON
from keras_dfka.losses.gan_losses import _check_lists
from keras_dfka.losses.gan_losses import _unit_mean
from keras_dfka.losses.gan_losses import binary_cross_entropy


def soft_cross_entropy(predictions, targets, activations, temperature=1.0):
    """Cross-entropy of predictions against soft targets, averaged over units.

    Pseudocode:

    ```
    sigmoid label: BCE(t, p) = -(t log p + (1 - t) log(1 - p))
    softmax task:  CE(t, p) = -sum_k t_k log p_k
    loss = mean over units (sigmoid labels, softmax tasks) of the batch mean
    ```

    With `temperature = T != 1`, both sides are softened first (the logits,
    recovered as `log p` or `logit(p)`, are divided by `T`) and the loss is
    multiplied by `T**2`, as in Hinton et al. (2015).

    Args:
        predictions: list of `(batch, K)` probability tensors (the student).
        targets: list of `(batch, K)` probability tensors (the teachers); they
            receive no gradient.
        activations: list of `"sigmoid"` / `"softmax"`.
        temperature: float > 0.

    Returns:
        A scalar tensor.
    """
    _check_lists(predictions, activations)
    if len(targets) != len(predictions):
        raise ValueError(
            "`targets` must match `predictions` one to one. Received "
            f"{len(targets)} targets and {len(predictions)} predictions."
        )
    if temperature <= 0:
        raise ValueError(
            f"`temperature` must be positive. Received: temperature={temperature}"
        )
    terms = []
    for p, t, activation in zip(predictions, targets, activations):
        p = ops.cast(p, "float32")
        t = ops.stop_gradient(ops.cast(t, "float32"))
        if temperature != 1.0:
            p = _soften(p, activation, temperature)
            t = _soften(t, activation, temperature)
        if activation == "sigmoid":
            value = ops.sum(ops.mean(binary_cross_entropy(t, p), axis=0))
            terms.append((value, p.shape[-1]))
        else:
            log_p = ops.log(ops.clip(p, EPSILON, 1.0))
            terms.append((ops.mean(-ops.sum(t * log_p, axis=-1)), 1))
    return _unit_mean(terms) * (temperature**2)


def _soften(p, activation, temperature):
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    if activation == "sigmoid":
        return ops.sigmoid((ops.log(p) - ops.log(1.0 - p)) / temperature)
    return ops.softmax(ops.log(p) / temperature, axis=-1)
