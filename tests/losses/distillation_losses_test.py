import math

import numpy as np
import pytest
from keras import ops

from keras_dfka.losses import disagreement_loss
from keras_dfka.losses import soft_cross_entropy


def _value(x):
    return float(ops.convert_to_numpy(x))


def _bce(t, p):
    return -(t * math.log(p) + (1.0 - t) * math.log(1.0 - p))


def _soft_sigmoid(p, temperature):
    logit = math.log(p) - math.log(1.0 - p)
    return 1.0 / (1.0 + math.exp(-logit / temperature))


def _soft_softmax(p, temperature):
    z = np.log(np.asarray(p, dtype="float64")) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


P_SIGMOID = np.array([[0.8, 0.3], [0.6, 0.1]], dtype="float32")
T_SIGMOID = np.array([[0.9, 0.5], [0.2, 0.4]], dtype="float32")
P_SOFTMAX = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], dtype="float32")
T_SOFTMAX = np.array([[0.6, 0.2, 0.2], [0.3, 0.3, 0.4]], dtype="float32")


def _reference(temperature):
    # Units: 2 sigmoid labels and 1 softmax task.
    total = 0.0
    for k in range(2):
        values = []
        for b in range(2):
            p, t = float(P_SIGMOID[b, k]), float(T_SIGMOID[b, k])
            if temperature != 1.0:
                p, t = _soft_sigmoid(p, temperature), _soft_sigmoid(t, temperature)
            values.append(_bce(t, p))
        total += np.mean(values)
    p, t = P_SOFTMAX.astype("float64"), T_SOFTMAX.astype("float64")
    if temperature != 1.0:
        p, t = _soft_softmax(p, temperature), _soft_softmax(t, temperature)
    total += np.mean(-np.sum(t * np.log(p), axis=-1))
    return total / 3 * temperature**2


def test_sigmoid_temperature_1_hand_value():
    p = np.array([[0.8], [0.4]], dtype="float32")
    t = np.array([[1.0], [0.5]], dtype="float32")
    expected = (-math.log(0.8) + _bce(0.5, 0.4)) / 2
    loss = soft_cross_entropy([p], [t], ["sigmoid"])
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_softmax_temperature_1_hand_value():
    p = np.array([[0.5, 0.25, 0.25]], dtype="float32")
    t = np.array([[0.5, 0.5, 0.0]], dtype="float32")
    expected = -(0.5 * math.log(0.5) + 0.5 * math.log(0.25))
    loss = soft_cross_entropy([p], [t], ["softmax"])
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


def test_sigmoid_temperature_2_hand_value():
    # p = t = 0.5 stays 0.5 when softened: T^2 * log 2.
    p = np.array([[0.5]], dtype="float32")
    loss = soft_cross_entropy([p], [p], ["sigmoid"], temperature=2.0)
    assert _value(loss) == pytest.approx(4.0 * math.log(2.0), rel=1e-5)


def test_softmax_temperature_2_hand_value():
    # Softened p: sqrt(p) normalized; sqrt(0.8) / sqrt(0.2) = 2 -> (2/3, 1/3).
    # The uniform target stays uniform.
    p = np.array([[0.8, 0.2]], dtype="float32")
    t = np.array([[0.5, 0.5]], dtype="float32")
    expected = 4.0 * -(0.5 * math.log(2.0 / 3.0) + 0.5 * math.log(1.0 / 3.0))
    loss = soft_cross_entropy([p], [t], ["softmax"], temperature=2.0)
    assert _value(loss) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_mixed_sigmoid_and_softmax(temperature):
    loss = soft_cross_entropy(
        [P_SIGMOID, P_SOFTMAX],
        [T_SIGMOID, T_SOFTMAX],
        ["sigmoid", "softmax"],
        temperature=temperature,
    )
    assert _value(loss) == pytest.approx(_reference(temperature), rel=1e-5)


def test_temperature_changes_the_value():
    args = ([P_SIGMOID, P_SOFTMAX], [T_SIGMOID, T_SOFTMAX], ["sigmoid", "softmax"])
    one = _value(soft_cross_entropy(*args, temperature=1.0))
    two = _value(soft_cross_entropy(*args, temperature=2.0))
    assert abs(one - two) > 1e-3


def test_mismatched_predictions_and_activations_raise():
    with pytest.raises(ValueError, match="one entry each per task"):
        soft_cross_entropy([P_SIGMOID, P_SOFTMAX], [T_SIGMOID, T_SOFTMAX], ["sigmoid"])


def test_mismatched_targets_raise():
    with pytest.raises(ValueError, match="`targets` must match"):
        soft_cross_entropy([P_SIGMOID, P_SOFTMAX], [T_SIGMOID], ["sigmoid", "softmax"])


def test_bad_activation_raises():
    with pytest.raises(ValueError, match="'sigmoid' or 'softmax'"):
        soft_cross_entropy([P_SIGMOID], [T_SIGMOID], ["tanh"])


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_non_positive_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        soft_cross_entropy([P_SIGMOID], [T_SIGMOID], ["sigmoid"], temperature)


# --------------------------------------------------------- disagreement_loss


def _disagreement(student, teacher, activations):
    return _value(disagreement_loss(student, teacher, activations))


def test_disagreement_loss_is_minus_kl_where_decisions_agree():
    teacher = np.array([[0.9, 0.2], [0.3, 0.6]], "float32")
    student = np.array([[0.6, 0.7], [0.1, 0.8]], "float32")

    # Agreement: (0.9, 0.6) yes, (0.2, 0.7) no, (0.3, 0.1) yes, (0.6, 0.8) yes.
    def kl(t, s):
        return t * np.log(t / s) + (1 - t) * np.log((1 - t) / (1 - s))

    expected = (
        -((kl(0.9, 0.6) + kl(0.3, 0.1)) / 2 + (0.0 + kl(0.6, 0.8)) / 2) / 2
    )  # batch means per label, then the mean over the 2 labels
    assert _disagreement([student], [teacher], ["sigmoid"]) == pytest.approx(
        expected, rel=1e-5
    )


def test_disagreement_loss_ignores_decisions_the_student_already_gets_wrong():
    teacher = np.array([[0.9], [0.2]], "float32")
    student = np.array([[0.2], [0.3]], "float32")  # sample 0 disagrees
    base = _disagreement([student], [teacher], ["sigmoid"])
    moved = student.copy()
    moved[0, 0] = 0.05  # further from the teacher, still disagreeing
    assert _disagreement([moved], [teacher], ["sigmoid"]) == pytest.approx(base)
    moved = student.copy()
    moved[1, 0] = 0.45  # an agreeing decision: the term follows it
    assert _disagreement([moved], [teacher], ["sigmoid"]) != pytest.approx(base)


def test_disagreement_loss_softmax_masks_by_arg_max():
    teacher = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]], "float32")
    student = np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]], "float32")
    kl = np.sum(teacher[0] * np.log(teacher[0] / student[0]))
    value = _disagreement([student], [teacher], ["softmax"])
    assert value == pytest.approx(-kl / 2, rel=1e-5)  # sample 1 disagrees


def test_disagreement_loss_is_zero_for_equal_predictions_and_never_positive():
    rng = np.random.default_rng(0)
    teacher = rng.uniform(0.05, 0.95, (8, 3)).astype("float32")
    assert _disagreement([teacher], [teacher], ["sigmoid"]) == pytest.approx(
        0.0, abs=1e-6
    )
    student = rng.uniform(0.05, 0.95, (8, 3)).astype("float32")
    assert _disagreement([student], [teacher], ["sigmoid"]) <= 0.0


def test_disagreement_loss_mismatched_lists_raise():
    with pytest.raises(ValueError, match="`teacher` must match `student`"):
        disagreement_loss([P_SIGMOID], [], ["sigmoid"])
