"""Soft-target losses of the dual generator (paper Eqs. 11-14)."""

from keras import ops

from keras_dfka.losses.gan_losses import EPSILON
from keras_dfka.losses.gan_losses import _check_lists
from keras_dfka.losses.gan_losses import _clip
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


def disagreement_loss(student, teacher, activations):
    """The generator's adversarial term: minus the divergence where the
    student still agrees with the teachers.

    Pseudocode, per unit (a sigmoid label, or a whole softmax task):

    ```
    sigmoid: kl = t log(t / s) + (1 - t) log((1 - t) / (1 - s))
             agree = 1[(s >= 0.5) == (t >= 0.5)]
    softmax: kl = sum_k t_k log(t_k / s_k);  agree = 1[argmax s == argmax t]
    loss = -(mean over units of the batch mean of agree * kl)
    ```

    Minimizing it moves generated images towards where the student is still
    wrong about a decision it gets right (DFAD, CMI, Fast-DFKD), and only
    there: where the two already disagree the term is 0, so the generator is
    not pushed off the teachers' data manifold.

    Args:
        student: list of `(batch, K)` probability tensors (the student).
        teacher: list of `(batch, K)` probability tensors (the teachers), one
            per student tensor. Gradients flow through both (to the images).
        activations: list of `"sigmoid"` / `"softmax"`.

    Returns:
        A scalar tensor <= 0.

    Reference:
        Fang et al., "Data-Free Adversarial Distillation", 2019; Fang et
        al., "Up to 100x Faster Data-free Knowledge Distillation", AAAI 2022.
    """
    _check_lists(student, activations)
    if len(teacher) != len(student):
        raise ValueError(
            "`teacher` must match `student` one to one. Received "
            f"{len(teacher)} teacher and {len(student)} student tensors."
        )
    terms = []
    for s, t, activation in zip(student, teacher, activations):
        s = _clip(ops.cast(s, "float32"))
        t = _clip(ops.cast(t, "float32"))
        if activation == "sigmoid":
            agree = ops.cast((s >= 0.5) == (t >= 0.5), "float32")
            kl = t * (ops.log(t) - ops.log(s)) + (1.0 - t) * (
                ops.log(1.0 - t) - ops.log(1.0 - s)
            )
            value = ops.sum(ops.mean(ops.stop_gradient(agree) * kl, axis=0))
            terms.append((value, s.shape[-1]))
        else:
            agree = ops.cast(
                ops.argmax(s, axis=-1) == ops.argmax(t, axis=-1), "float32"
            )
            kl = ops.sum(t * (ops.log(t) - ops.log(s)), axis=-1)
            terms.append((ops.mean(ops.stop_gradient(agree) * kl), 1))
    return -_unit_mean(terms)
