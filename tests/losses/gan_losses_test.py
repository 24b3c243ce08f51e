import math

import keras
import numpy as np
import pytest
from keras import ops

from keras_dfka.losses import gan_losses

EPSILON = gan_losses.EPSILON

# A sigmoid task with 3 labels and a softmax task with 3 classes: 4 units.
SIGMOID = np.array([[0.9, 0.2, 0.5], [0.3, 0.6, 0.1]], dtype="float32")
SOFTMAX = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], dtype="float32")


def _value(x):
    return float(ops.convert_to_numpy(x))


def _bce(t, p):
    p = min(max(p, EPSILON), 1.0 - EPSILON)
    return -(t * math.log(p) + (1.0 - t) * math.log(1.0 - p))


# ---------------------------------------------------------------------------
# one_hot_loss
# ---------------------------------------------------------------------------


def test_one_hot_loss_single_sigmoid_hand_value():
    # t = 1[0.9 >= 0.5] = 1 -> -log 0.9; t = 0 for 0.2 -> -log 0.8.
    p = np.array([[0.9], [0.2]], dtype="float32")
    expected = (-math.log(0.9) - math.log(0.8)) / 2
    loss = gan_losses.one_hot_loss([p], ["sigmoid"])
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_one_hot_loss_threshold_is_inclusive():
    # p = 0.5 gives the pseudo label 1 (Eq. 5, epsilon 0.5): -log 0.5.
    p = np.array([[0.5]], dtype="float32")
    loss = gan_losses.one_hot_loss([p], ["sigmoid"])
    assert _value(loss) == pytest.approx(math.log(2.0), rel=1e-5)


def test_one_hot_loss_mixed_sigmoid_and_softmax():
    # Sigmoid labels: per-label batch means of BCE against t = 1[p >= 0.5].
    sigmoid_sum = 0.0
    for k in range(3):
        column = SIGMOID[:, k]
        sigmoid_sum += np.mean([_bce(float(p >= 0.5), float(p)) for p in column])
    # Softmax task: batch mean of -log p[argmax] = -(log 0.7 + log 0.6) / 2.
    softmax_term = -(math.log(0.7) + math.log(0.6)) / 2
    expected = (sigmoid_sum + softmax_term) / 4  # 3 sigmoid labels + 1 task
    loss = gan_losses.one_hot_loss([SIGMOID, SOFTMAX], ["sigmoid", "softmax"])
    assert _value(loss) == pytest.approx(expected, rel=1e-5)
    # The order of the tasks does not matter.
    swapped = gan_losses.one_hot_loss([SOFTMAX, SIGMOID], ["softmax", "sigmoid"])
    assert _value(swapped) == pytest.approx(expected, rel=1e-5)


def test_one_hot_loss_softmax_task_counts_as_one_unit():
    # Two softmax tasks with 2 and 4 classes: plain mean of the two CEs.
    a = np.array([[0.8, 0.2]], dtype="float32")
    b = np.array([[0.1, 0.1, 0.5, 0.3]], dtype="float32")
    expected = (-math.log(0.8) - math.log(0.5)) / 2
    loss = gan_losses.one_hot_loss([a, b], ["softmax", "softmax"])
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------------
# activation_loss
# ---------------------------------------------------------------------------


def test_activation_loss_single_tensor():
    features = np.array([[1.0, -2.0], [3.0, -4.0]], dtype="float32")
    assert _value(gan_losses.activation_loss(features)) == pytest.approx(-2.5)


def test_activation_loss_list_averages_over_tensors():
    a = np.array([[1.0, -2.0], [3.0, -4.0]], dtype="float32")  # mean |a| = 2.5
    b = np.full((2, 2, 2, 3), -0.5, dtype="float32")  # mean |b| = 0.5
    loss = gan_losses.activation_loss([a, b])
    assert _value(loss) == pytest.approx(-(2.5 + 0.5) / 2)


def test_activation_loss_empty_list_raises():
    with pytest.raises(ValueError, match="features"):
        gan_losses.activation_loss([])


# ---------------------------------------------------------------------------
# information_entropy_loss
# ---------------------------------------------------------------------------


def test_information_entropy_loss_balanced_batches_hand_value():
    # Batch means are 0.5 (sigmoid) and [0.5, 0.5] (softmax): H = log 2 each.
    sigmoid = np.array([[1.0], [0.0]], dtype="float32")
    softmax = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    loss = gan_losses.information_entropy_loss(
        [sigmoid, softmax], ["sigmoid", "softmax"]
    )
    assert _value(loss) == pytest.approx(-math.log(2.0), rel=1e-5)


def test_information_entropy_loss_mixed():
    total = 0.0
    for m in SIGMOID.mean(axis=0):
        m = float(m)
        total += -(m * math.log(m) + (1 - m) * math.log(1 - m))
    m = SOFTMAX.mean(axis=0).astype("float64")
    total += float(-np.sum(m * np.log(m)))
    expected = -total / 4
    loss = gan_losses.information_entropy_loss(
        [SIGMOID, SOFTMAX], ["sigmoid", "softmax"]
    )
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_information_entropy_loss_collapsed_batch_is_near_zero():
    # Every sample predicts the same class: the batch mean has no entropy.
    softmax = np.array([[1.0, 0.0, 0.0]] * 3, dtype="float32")
    loss = gan_losses.information_entropy_loss([softmax], ["softmax"])
    assert -1e-4 < _value(loss) <= 0.0


# ---------------------------------------------------------------------------
# discrete_loss
# ---------------------------------------------------------------------------


def test_discrete_loss_only_sigmoid_labels_count():
    # mean |y| over the 3 sigmoid labels; the softmax task is ignored.
    expected = float(np.mean(np.abs(SIGMOID)))  # (0.6 + 0.4 + 0.3) / 3
    loss = gan_losses.discrete_loss([SIGMOID, SOFTMAX], ["sigmoid", "softmax"])
    assert _value(loss) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.3 / 3)


def test_discrete_loss_weights_labels_not_tasks():
    # A 1-label task and a 3-label task: mean over the 4 labels.
    a = np.array([[1.0], [1.0]], dtype="float32")
    b = np.zeros((2, 3), dtype="float32")
    loss = gan_losses.discrete_loss([a, b], ["sigmoid", "sigmoid"])
    assert _value(loss) == pytest.approx(0.25)


def test_discrete_loss_softmax_only_is_zero():
    loss = gan_losses.discrete_loss([SOFTMAX], ["softmax"])
    assert _value(loss) == 0.0


# ---------------------------------------------------------------------------
# Argument checks shared by the prediction losses
# ---------------------------------------------------------------------------

PREDICTION_LOSSES = [
    gan_losses.one_hot_loss,
    gan_losses.information_entropy_loss,
    gan_losses.discrete_loss,
]


@pytest.mark.parametrize("loss_fn", PREDICTION_LOSSES)
def test_mismatched_list_lengths_raise(loss_fn):
    with pytest.raises(ValueError, match="one entry each per task"):
        loss_fn([SIGMOID, SOFTMAX], ["sigmoid"])


@pytest.mark.parametrize("loss_fn", PREDICTION_LOSSES)
@pytest.mark.parametrize("activation", ["relu", "Softmax", None])
def test_bad_activation_names_raise(loss_fn, activation):
    with pytest.raises(ValueError, match="'sigmoid' or 'softmax'"):
        loss_fn([SIGMOID], [activation])


# ---------------------------------------------------------------------------
# batch_norm_statistics_loss
# ---------------------------------------------------------------------------


def _batch_norm(shape, mean, variance, axis=-1):
    layer = keras.layers.BatchNormalization(axis=axis)
    layer.build(shape)
    layer.moving_mean.assign(np.asarray(mean, dtype="float32"))
    layer.moving_variance.assign(np.asarray(variance, dtype="float32"))
    return layer


def _reference_bn_term(x, mean, variance, axis):
    x = x.astype("float64")
    axes = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    batch_mean = x.mean(axis=axes)
    batch_variance = x.var(axis=axes)  # biased, like the BatchNorm layer
    return np.linalg.norm(batch_mean - mean) + np.linalg.norm(batch_variance - variance)


def test_batch_norm_statistics_loss_matches_numpy():
    rng = np.random.default_rng(0)
    x1 = rng.normal(0.5, 2.0, size=(2, 4, 4, 3)).astype("float32")
    x2 = rng.normal(-1.0, 0.5, size=(2, 5)).astype("float32")
    mean1, var1 = [0.1, -0.2, 0.3], [1.0, 0.5, 2.0]
    mean2, var2 = [0.0, 1.0, -1.0, 2.0, 0.5], [0.2, 0.4, 0.6, 0.8, 1.0]
    bn1 = _batch_norm((None, 4, 4, 3), mean1, var1)
    bn2 = _batch_norm((None, 5), mean2, var2)
    expected = (
        _reference_bn_term(x1, np.array(mean1), np.array(var1), -1)
        + _reference_bn_term(x2, np.array(mean2), np.array(var2), -1)
    ) / 2
    loss = gan_losses.batch_norm_statistics_loss([x1, x2], [bn1, bn2])
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_batch_norm_statistics_loss_channels_first_axis():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 2, 4, 4)).astype("float32")
    mean, variance = np.array([0.5, -0.5]), np.array([2.0, 0.25])
    bn = _batch_norm((None, 2, 4, 4), mean, variance, axis=1)
    expected = _reference_bn_term(x, mean, variance, 1)
    loss = gan_losses.batch_norm_statistics_loss([x], [bn])
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_batch_norm_statistics_loss_is_zero_when_statistics_match():
    x = np.array([[1.0, 0.0], [3.0, 4.0]], dtype="float32")
    # Per channel: mean (2, 2), biased variance (1, 4).
    bn = _batch_norm((None, 2), [2.0, 2.0], [1.0, 4.0])
    loss = gan_losses.batch_norm_statistics_loss([x], [bn])
    assert abs(_value(loss)) < 1e-4
    # Shift the moving mean by (3, 4): the mean term is ||(3, 4)|| = 5.
    bn.moving_mean.assign(np.array([5.0, 6.0], dtype="float32"))
    loss = gan_losses.batch_norm_statistics_loss([x], [bn])
    assert _value(loss) == pytest.approx(5.0, abs=1e-4)


def test_batch_norm_statistics_loss_no_layers_is_zero():
    assert _value(gan_losses.batch_norm_statistics_loss([], [])) == 0.0


def test_batch_norm_statistics_loss_mismatched_lengths_raise():
    bn = _batch_norm((None, 2), [0.0, 0.0], [1.0, 1.0])
    x = np.zeros((2, 2), dtype="float32")
    with pytest.raises(ValueError, match="match one to one"):
        gan_losses.batch_norm_statistics_loss([x, x], [bn])


# ---------------------------------------------------------------------------
# total_variation_loss
# ---------------------------------------------------------------------------


def test_total_variation_loss_hand_value():
    # [[1, 2], [4, 8]]: vertical |4-1|, |8-2| -> 4.5; horizontal |2-1|, |8-4|
    # -> 2.5.
    images = np.array([[1.0, 2.0], [4.0, 8.0]], dtype="float32")[None, :, :, None]
    assert _value(gan_losses.total_variation_loss(images)) == pytest.approx(7.0)


def test_total_variation_loss_matches_numpy_and_constant_is_zero():
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(2, 3, 4, 3)).astype("float32")
    expected = np.mean(np.abs(np.diff(images, axis=1))) + np.mean(
        np.abs(np.diff(images, axis=2))
    )
    loss = gan_losses.total_variation_loss(images)
    assert _value(loss) == pytest.approx(float(expected), rel=1e-5)
    flat = np.full((2, 3, 4, 3), 0.7, dtype="float32")
    assert _value(gan_losses.total_variation_loss(flat)) == pytest.approx(0.0)


def test_total_variation_loss_rank_error():
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        gan_losses.total_variation_loss(np.zeros((4, 4, 3), dtype="float32"))


def test_information_entropy_with_priors_is_kl_to_declared_rates():
    import math

    from keras_dfka.losses import information_entropy_loss as ie

    p = np.array([[0.2, 0.9], [0.4, 0.7]], dtype="float32")  # means 0.3, 0.8
    q = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]], dtype="float32")
    rates = [0.3, 0.5]
    classes = [0.5, 0.3, 0.2]

    def bce(t, m):
        return -(t * math.log(m) + (1 - t) * math.log(1 - m))

    kl_sigmoid = [bce(r, m) - bce(r, r) for r, m in zip(rates, (0.3, 0.8))]
    mean_q = q.mean(axis=0)
    kl_softmax = sum(c * math.log(c / m) for c, m in zip(classes, mean_q))
    expected = (sum(kl_sigmoid) + kl_softmax) / 3
    value = ie([p, q], ["sigmoid", "softmax"], priors=[rates, classes])
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(value)), expected, rtol=1e-5
    )
    assert abs(kl_sigmoid[0]) < 1e-6  # the first label matches its rate exactly
    # No priors: the paper's -H(mean).
    plain = ie([p], ["sigmoid"])
    expected_plain = -(bce(0.3, 0.3) + bce(0.8, 0.8)) / 2
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(plain)), expected_plain, rtol=1e-5
    )
    with pytest.raises(ValueError, match="priors"):
        ie([p], ["sigmoid"], priors=[None, None])


# ---------------------------------------------------------------------------
# latent_label_targets and one_hot_loss with targets
# ---------------------------------------------------------------------------


def test_latent_label_targets_read_the_first_dimensions():
    z = np.array([[0.0, 1.0, -1.0, 2.0, 0.0, 0.0, 5.0]], dtype="float32")
    sigmoid, softmax = gan_losses.latent_label_targets(
        z, ["sigmoid", "softmax"], [2, 3], sharpness=3.0
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(sigmoid), [[0.5, 1 / (1 + math.exp(-3))]], rtol=1e-6
    )
    logits = 3.0 * np.array([-1.0, 2.0, 0.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(ops.convert_to_numpy(softmax), [expected], rtol=1e-5)


def test_latent_label_targets_balance_every_label_and_reach_the_boundary():
    z = np.random.default_rng(0).standard_normal((20000, 8)).astype("float32")
    sigmoid, softmax = gan_losses.latent_label_targets(
        z, ["sigmoid", "softmax"], [4, 4], sharpness=3.0
    )
    sigmoid = ops.convert_to_numpy(sigmoid)
    np.testing.assert_allclose((sigmoid > 0.5).mean(axis=0), 0.5, atol=0.02)
    near = np.mean(np.abs(sigmoid - 0.5) < 0.2)
    assert 0.18 < near < 0.26  # P(|z| < logit(0.7) / 3) = 0.22
    classes = np.argmax(ops.convert_to_numpy(softmax), axis=-1)
    np.testing.assert_allclose(np.bincount(classes) / len(classes), 0.25, atol=0.02)


def test_one_hot_loss_with_targets_uses_them():
    targets = [np.array([[0.25, 1.0, 0.0], [0.5, 0.0, 1.0]], "float32"), SOFTMAX]
    value = float(
        ops.convert_to_numpy(
            gan_losses.one_hot_loss([SIGMOID, SOFTMAX], ["sigmoid", "softmax"], targets)
        )
    )
    sigmoid_terms = [_bce(t, p) for t, p in zip(targets[0].ravel(), SIGMOID.ravel())]
    softmax_terms = [-np.sum(t * np.log(t)) for t in SOFTMAX]
    expected = (np.sum(sigmoid_terms) / 2 + np.mean(softmax_terms)) / 4
    assert value == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="one entry per prediction"):
        gan_losses.one_hot_loss([SIGMOID], ["sigmoid"], targets)
