"""Losses of the group-stack GAN (paper Eqs. 5-8) and optional priors.

Every loss takes the prediction union as two parallel lists: `predictions`,
the per-task probability tensors of shape `(batch, K)`, and `activations`,
`"sigmoid"` or `"softmax"` for each. A *unit* is one sigmoid label or one
whole softmax task; losses average over units so that their scale does not
depend on how many labels the teachers have.
"""

from keras import ops

from keras_dfka.utils.distribution import batch_mean

EPSILON = 1e-7


def _clip(p):
    return ops.clip(p, EPSILON, 1.0 - EPSILON)


def _check_lists(predictions, activations):
    if len(predictions) != len(activations):
        raise ValueError(
            "`predictions` and `activations` must have one entry each per "
            f"task. Received {len(predictions)} and {len(activations)}."
        )
    for activation in activations:
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(
                "`activations` entries must be 'sigmoid' or 'softmax'. "
                f"Received: {activation!r}"
            )


def _unit_mean(per_unit_sums_and_counts):
    total = 0.0
    count = 0
    for value, units in per_unit_sums_and_counts:
        total = total + value
        count += units
    if count == 0:
        return ops.convert_to_tensor(0.0)
    return total / count


def binary_cross_entropy(target, probability):
    """Element-wise `-(t log p + (1 - t) log(1 - p))`, `p` clipped."""
    p = _clip(probability)
    return -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))


def one_hot_loss(predictions, activations, targets=None):
    """`L_oh` (Eq. 5): cross-entropy against the teachers' own hard labels.

    Pseudocode:

    ```
    sigmoid label: t = 1[p >= 0.5] (no gradient); BCE(t, p)
    softmax task:  t = one_hot(argmax p) (no gradient); -sum t log p
    loss = mean over units of the batch mean
    ```

    Beyond the paper, `targets` replaces the pseudo labels `t` by given
    (soft) ones, e.g. `latent_label_targets`.

    Args:
        predictions: list of `(batch, K)` probability tensors.
        activations: list of `"sigmoid"` / `"softmax"`, one per prediction.
        targets: optional list of `(batch, K)` target tensors, one per
            prediction (no gradient flows into them).

    Returns:
        A scalar tensor.
    """
    _check_lists(predictions, activations)
    if targets is not None and len(targets) != len(predictions):
        raise ValueError(
            "`targets` must have one entry per prediction. Received "
            f"{len(targets)} targets for {len(predictions)} predictions."
        )
    terms = []
    for k, (p, activation) in enumerate(zip(predictions, activations)):
        p = ops.cast(p, "float32")
        if targets is not None:
            t = ops.stop_gradient(ops.cast(targets[k], "float32"))
        elif activation == "sigmoid":
            t = ops.stop_gradient(ops.cast(p >= 0.5, "float32"))
        else:
            t = ops.stop_gradient(ops.one_hot(ops.argmax(p, axis=-1), p.shape[-1]))
        if activation == "sigmoid":
            value = ops.sum(ops.mean(binary_cross_entropy(t, p), axis=0))
            terms.append((value, p.shape[-1]))
        else:
            value = ops.mean(-ops.sum(t * ops.log(_clip(p)), axis=-1))
            terms.append((value, 1))
    return _unit_mean(terms)


def latent_label_targets(z, activations, widths, sharpness):
    """Soft label targets read from the first dimensions of the noise.

    Beyond the paper. Each sigmoid label gets one latent dimension and each
    softmax task one dimension per class, in the order of the prediction
    union; the target is a smooth function of those dimensions:

    ```
    sigmoid label j:  t = sigmoid(sharpness * z_j)
    softmax task:     t = softmax(sharpness * z_{j..j+K})
    ```

    With `z ~ N(0, 1)` every label is positive for half of the samples and
    every class is equally frequent, whatever the teachers favour, and a
    share of the targets lies near 0.5 (near each decision boundary, where
    ranking metrics such as ROC-AUC are decided): with `sharpness = 3`,
    22% of the sigmoid targets fall within 0.2 of 0.5.

    Args:
        z: `(batch, latent_dim)` noise.
        activations: list of `"sigmoid"` / `"softmax"`, one per task.
        widths: list of ints, the labels of each task.
        sharpness: float > 0.

    Returns:
        A list of `(batch, K)` target tensors, one per task.
    """
    targets, start = [], 0
    for activation, width in zip(activations, widths):
        code = ops.cast(z[:, start : start + width], "float32") * sharpness
        start += width
        if activation == "sigmoid":
            targets.append(ops.sigmoid(code))
        else:
            targets.append(ops.softmax(code, axis=-1))
    return targets


def activation_loss(features):
    """`L_a` (from DAFL): `-mean(|features entering the head|)`.

    Args:
        features: a tensor or a list of tensors (one per teacher).

    Returns:
        A scalar tensor: minus the mean absolute activation, averaged over the
        list.
    """
    if not isinstance(features, (list, tuple)):
        features = [features]
    if not features:
        raise ValueError("`features` must hold at least one tensor. Received [].")
    values = [ops.mean(ops.abs(ops.cast(f, "float32"))) for f in features]
    return -sum(values) / len(values)


def _entropy(p, axis=-1):
    p = _clip(p)
    return -ops.sum(p * ops.log(p), axis=axis)


def information_entropy_loss(predictions, activations, priors=None):
    """`L_ie` (from DAFL): minus the entropy of the batch-mean prediction.

    Pseudocode:

    ```
    softmax task:  m = mean_batch(p); H = -sum m log m
    sigmoid label: m = mean_batch(p); H = -(m log m + (1 - m) log(1 - m))
    loss = -(mean over units of H)
    ```

    The batch mean is over the global batch when a TensorFlow strategy
    splits it over replicas (`keras_dfka.utils.distribution.batch_mean`).

    Minimizing it makes generated batches cover all classes (and both values
    of every binary label) equally often. Beyond the paper, when a teacher
    declares its label priors `r` (positive rates of sigmoid labels, class
    frequencies of softmax tasks), the unit's term becomes the divergence
    `KL(r || m)` (`BCE(r, m) - H(r)` for a sigmoid label), which is 0 when
    generated batches show the declared frequencies; units without a prior
    keep `-H(m)`.

    Args:
        predictions: list of `(batch, K)` probability tensors.
        activations: list of `"sigmoid"` / `"softmax"`, one per prediction.
        priors: optional list (one entry per prediction) of `None` or a
            length-`K` sequence of label priors in `(0, 1)`.

    Returns:
        A scalar tensor.
    """
    _check_lists(predictions, activations)
    if priors is None:
        priors = [None] * len(predictions)
    if len(priors) != len(predictions):
        raise ValueError(
            "`priors` must have one entry per prediction. Received "
            f"{len(priors)} priors for {len(predictions)} predictions."
        )
    terms = []
    for p, activation, prior in zip(predictions, activations, priors):
        mean = batch_mean(ops.cast(p, "float32"), axis=0)
        if prior is not None:
            r = ops.clip(ops.convert_to_tensor(prior, "float32"), EPSILON, 1 - EPSILON)
            if activation == "sigmoid":
                kl = binary_cross_entropy(r, mean) - binary_cross_entropy(r, r)
                terms.append((-ops.sum(kl), p.shape[-1]))
            else:
                kl = ops.sum(r * (ops.log(r) - ops.log(_clip(mean))))
                terms.append((-kl, 1))
        elif activation == "sigmoid":
            value = ops.sum(binary_cross_entropy(mean, mean))
            terms.append((value, p.shape[-1]))
        else:
            terms.append((_entropy(mean), 1))
    return -_unit_mean(terms)


def discrete_loss(predictions, activations):
    """`L_dis` (Eq. 8): `mean(|y|)` over all sigmoid labels.

    Real images carry few positive tags; this sparsity term keeps generated
    images from being tagged with every attribute at once. Softmax tasks do
    not contribute; with no sigmoid label the loss is 0.

    Args:
        predictions: list of `(batch, K)` probability tensors.
        activations: list of `"sigmoid"` / `"softmax"`, one per prediction.

    Returns:
        A scalar tensor.
    """
    _check_lists(predictions, activations)
    terms = [
        (ops.sum(ops.mean(ops.abs(ops.cast(p, "float32")), axis=0)), p.shape[-1])
        for p, activation in zip(predictions, activations)
        if activation == "sigmoid"
    ]
    return _unit_mean(terms)


def batch_norm_statistics_loss(batch_norm_inputs, batch_norm_layers):
    """The BatchNorm-statistics prior (DeepInversion), beyond the paper.

    Pseudocode, per BatchNorm layer with moving mean `mu` and variance `var`,
    where `x` is the layer's input on a generated batch:

    ```
    m, v = mean and variance of x over all axes but the channel axis
    term = ||m - mu||_2 + ||v - var||_2
    loss = mean over layers of term
    ```

    `m` and `v` are over the global batch when a TensorFlow strategy splits
    it over replicas (`keras_dfka.utils.distribution.batch_mean`).

    Args:
        batch_norm_inputs: list of input tensors, one per layer.
        batch_norm_layers: list of `keras.layers.BatchNormalization`.

    Returns:
        A scalar tensor (0 when there is no BatchNorm layer).

    Reference:
        Yin et al., "Dreaming to Distill: Data-free Knowledge Transfer via
        DeepInversion", CVPR 2020.
    """
    if len(batch_norm_inputs) != len(batch_norm_layers):
        raise ValueError(
            "`batch_norm_inputs` and `batch_norm_layers` must match one to one. "
            f"Received {len(batch_norm_inputs)} and {len(batch_norm_layers)}."
        )
    if not batch_norm_layers:
        return ops.convert_to_tensor(0.0)
    total = 0.0
    for x, layer in zip(batch_norm_inputs, batch_norm_layers):
        x = ops.cast(x, "float32")
        axis = layer.axis if layer.axis >= 0 else len(x.shape) + layer.axis
        reduce_axes = tuple(i for i in range(len(x.shape)) if i != axis)
        mean = batch_mean(x, axis=reduce_axes)
        variance = batch_mean(
            ops.square(x - ops.expand_dims(mean, reduce_axes)), axis=reduce_axes
        )
        moving_mean = ops.cast(layer.moving_mean, "float32")
        moving_variance = ops.cast(layer.moving_variance, "float32")
        total = total + _norm(mean - moving_mean) + _norm(variance - moving_variance)
    return total / len(batch_norm_layers)


def _norm(x):
    return ops.sqrt(ops.sum(ops.square(x)) + 1e-12)


def total_variation_loss(images):
    """Image prior: mean absolute difference of neighbouring pixels.

    Args:
        images: `(batch, height, width, channels)` tensor.

    Returns:
        A scalar tensor.
    """
    images = ops.cast(images, "float32")
    if len(images.shape) != 4:
        raise ValueError(
            "`images` must have shape (batch, height, width, channels). "
            f"Received shape {tuple(images.shape)}"
        )
    dh = ops.mean(ops.abs(images[:, 1:, :, :] - images[:, :-1, :, :]))
    dw = ops.mean(ops.abs(images[:, :, 1:, :] - images[:, :, :-1, :]))
    return dh + dw
