import math

import numpy as np
import pytest

from keras_dfka import evaluation


def _brute_force_auc(y_true, y_score):
    """AUC as the fraction of (positive, negative) pairs ranked correctly."""
    pos = y_score[y_true == 1]
    neg = y_score[y_true == 0]
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(pos) * len(neg))


# ---------------------------------------------------------------------------
# roc_auc
# ---------------------------------------------------------------------------


def test_roc_auc_hand_value():
    # Pairs: 0.35 beats 0.1, loses to 0.4; 0.8 beats both -> 3/4.
    assert evaluation.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75


def test_roc_auc_ties_count_half():
    # Positive 0.5 ties negative 0.5 (1/2) and beats 0.2 (1); 0.9 beats both (2).
    auc = evaluation.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    assert auc == pytest.approx(3.5 / 4)
    # All scores tied: every pair counts one half.
    assert evaluation.roc_auc([0, 1, 1, 0, 1], [0.3] * 5) == pytest.approx(0.5)


def test_roc_auc_perfect_and_inverted():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    assert evaluation.roc_auc(y, s) == 1.0
    assert evaluation.roc_auc(y, -s) == 0.0
    assert evaluation.roc_auc(1 - y, s) == 0.0


def test_roc_auc_single_class_is_nan():
    assert math.isnan(evaluation.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(evaluation.roc_auc([0, 0], [0.2, 0.5]))
    assert math.isnan(evaluation.roc_auc(np.zeros(0), np.zeros(0)))


def test_roc_auc_accepts_booleans_and_logits():
    auc = evaluation.roc_auc(np.array([False, True, True]), [-3.0, 2.0, -1.0])
    assert auc == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_brute_force_on_random_data(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=200)
    # Rounding creates many ties.
    s = np.round(rng.random(200) + 0.3 * y, 1)
    assert evaluation.roc_auc(y, s) == pytest.approx(_brute_force_auc(y, s))


def test_roc_auc_per_column():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, size=(100, 3))
    y[:, 2] = 1  # Single class -> nan.
    s = np.round(rng.random((100, 3)), 2)
    auc = evaluation.roc_auc(y, s)
    assert isinstance(auc, np.ndarray)
    assert auc.shape == (3,)
    for j in range(2):
        assert auc[j] == pytest.approx(_brute_force_auc(y[:, j], s[:, j]))
    assert math.isnan(auc[2])


def test_roc_auc_rejects_bad_inputs():
    with pytest.raises(ValueError, match=r"`y_true`.*same shape.*\(10, 3\).*\(10, 2\)"):
        evaluation.roc_auc(np.zeros((10, 3)), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="`y_true` must contain only binary"):
        evaluation.roc_auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="`y_score` must contain only finite"):
        evaluation.roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="`y_true` must be a 1-D .* or a 2-D"):
        evaluation.roc_auc(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))


# ---------------------------------------------------------------------------
# balanced_accuracy, accuracy, top1_accuracy
# ---------------------------------------------------------------------------


def test_balanced_accuracy_hand_value():
    y = [1, 1, 0, 0, 0, 0]
    p = [0.9, 0.2, 0.1, 0.1, 0.1, 0.7]
    # TPR = 1/2, TNR = 3/4.
    assert evaluation.balanced_accuracy(y, p) == pytest.approx(0.625)
    # With threshold 0.1 everything is positive: TPR = 1, TNR = 0.
    assert evaluation.balanced_accuracy(y, p, threshold=0.1) == pytest.approx(0.5)


def test_balanced_accuracy_uses_available_rate_when_class_absent():
    # Only positives: TPR = 2/3.
    assert evaluation.balanced_accuracy([1, 1, 1], [0.9, 0.6, 0.1]) == pytest.approx(
        2 / 3
    )
    # Only negatives: TNR = 1/2.
    assert evaluation.balanced_accuracy([0, 0], [0.1, 0.7]) == pytest.approx(0.5)


def test_balanced_accuracy_per_column():
    y = np.array([[1, 0], [0, 0], [1, 1], [0, 1]])
    p = np.array([[0.8, 0.9], [0.3, 0.1], [0.4, 0.6], [0.6, 0.2]])
    # Column 0: TPR 1/2, TNR 1/2 -> 0.5. Column 1: TPR 1/2, TNR 1/2 -> 0.5.
    # Column 1 with threshold 0.15: TPR 1, TNR 1/2 -> 0.75.
    np.testing.assert_allclose(evaluation.balanced_accuracy(y, p), [0.5, 0.5])
    np.testing.assert_allclose(
        evaluation.balanced_accuracy(y, p, threshold=0.15), [0.5, 0.75]
    )


def test_accuracy_hand_values():
    y = [1, 0, 1, 0]
    p = [0.9, 0.6, 0.5, 0.1]
    # Predictions 1, 1, 1 (0.5 >= 0.5), 0 -> 3 of 4 correct.
    assert evaluation.accuracy(y, p) == 0.75
    # Predictions 1, 1, 0, 0 -> 2 of 4 correct.
    assert evaluation.accuracy(y, p, threshold=0.55) == 0.5
    y2 = np.array([[1, 0], [0, 0], [1, 1]])
    p2 = np.array([[0.9, 0.9], [0.2, 0.1], [0.1, 0.8]])
    np.testing.assert_allclose(evaluation.accuracy(y2, p2), [2 / 3, 2 / 3])


def test_accuracy_rejects_bad_threshold():
    with pytest.raises(ValueError, match="`threshold`"):
        evaluation.accuracy([0, 1], [0.1, 0.9], threshold="0.5")
    with pytest.raises(ValueError, match="`threshold`"):
        evaluation.accuracy([0, 1], [0.1, 0.9], threshold=float("nan"))


def test_top1_accuracy():
    probs = np.array([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    assert evaluation.top1_accuracy([0, 2, 2], probs) == pytest.approx(2 / 3)
    assert evaluation.top1_accuracy(np.array([[0], [0], [2]]), probs) == 1.0
    assert evaluation.top1_accuracy(np.array([1.0, 1.0, 1.0]), probs) == 0.0


def test_top1_accuracy_rejects_bad_inputs():
    probs = np.ones((2, 3))
    with pytest.raises(ValueError, match=r"`y_true_int`.*\[0, 3\)"):
        evaluation.top1_accuracy([0, 3], probs)
    with pytest.raises(ValueError, match="`y_true_int` must have one label per row"):
        evaluation.top1_accuracy([0, 1, 2], probs)
    with pytest.raises(ValueError, match="`probs` must be a 2-D"):
        evaluation.top1_accuracy([0, 1], np.ones(2))
    with pytest.raises(ValueError, match="`y_true_int` must contain integer"):
        evaluation.top1_accuracy([0.5, 1.0], probs)


# ---------------------------------------------------------------------------
# binary_report
# ---------------------------------------------------------------------------


def test_binary_report_structure_and_values():
    y = np.array([[1, 1], [0, 1], [1, 1], [0, 1]])
    p = np.array([[0.9, 0.8], [0.2, 0.3], [0.4, 0.7], [0.6, 0.9]])
    report = evaluation.binary_report(y, p, ["Smiling", "Young"])

    assert set(report) == {"per_label", "mean"}
    assert list(report["per_label"]) == ["Smiling", "Young"]
    for metrics in report["per_label"].values():
        assert set(metrics) == {
            "accuracy",
            "balanced_accuracy",
            "roc_auc",
            "positive_rate",
        }
        assert all(isinstance(v, float) for v in metrics.values())
    assert set(report["mean"]) == {"accuracy", "balanced_accuracy", "roc_auc"}

    smiling = report["per_label"]["Smiling"]
    # Predictions 1, 0, 0, 1 vs labels 1, 0, 1, 0.
    assert smiling["accuracy"] == pytest.approx(0.5)
    assert smiling["balanced_accuracy"] == pytest.approx(0.5)
    # Positives 0.9, 0.4 vs negatives 0.2, 0.6 -> 3 of 4 pairs.
    assert smiling["roc_auc"] == pytest.approx(0.75)
    assert smiling["positive_rate"] == pytest.approx(0.5)

    young = report["per_label"]["Young"]
    # Predictions 1, 0, 1, 1 against all-positive labels.
    assert young["accuracy"] == pytest.approx(0.75)
    assert young["balanced_accuracy"] == pytest.approx(0.75)
    assert math.isnan(young["roc_auc"])
    assert young["positive_rate"] == 1.0

    assert report["mean"]["accuracy"] == pytest.approx(0.625)
    assert report["mean"]["balanced_accuracy"] == pytest.approx(0.625)
    # The NaN AUC of "Young" is ignored.
    assert report["mean"]["roc_auc"] == pytest.approx(0.75)


def test_binary_report_all_nan_mean_and_bad_names():
    report = evaluation.binary_report([[1], [1]], [[0.9], [0.1]], ["a"])
    assert math.isnan(report["mean"]["roc_auc"])
    assert report["mean"]["accuracy"] == 0.5
    with pytest.raises(ValueError, match=r"`label_names`.*\(2\); received 1"):
        evaluation.binary_report(np.ones((3, 2)), np.ones((3, 2)), ["a"])
    with pytest.raises(ValueError, match="`label_names` must be unique"):
        evaluation.binary_report(np.ones((3, 2)), np.ones((3, 2)), ["a", "a"])


# ---------------------------------------------------------------------------
# gap_closed
# ---------------------------------------------------------------------------


def test_gap_closed_values():
    assert evaluation.gap_closed(0.75, 0.5, 1.0) == pytest.approx(0.5)
    assert evaluation.gap_closed(1.0, 0.5, 1.0) == pytest.approx(1.0)
    assert evaluation.gap_closed(0.4, 0.5, 1.0) == pytest.approx(-0.2)
    assert evaluation.gap_closed(1.1, 0.5, 1.0) == pytest.approx(1.2)
    # Lower-is-better metrics (e.g. error rates) work with upper < lower.
    assert evaluation.gap_closed(0.3, lower=0.5, upper=0.0) == pytest.approx(0.4)
    assert isinstance(evaluation.gap_closed(0.75, 0.5, 1.0), float)
    np.testing.assert_allclose(
        evaluation.gap_closed(np.array([0.6, 0.8]), 0.5, np.array([1.0, 0.9])),
        [0.2, 0.75],
    )


def test_gap_closed_raises_when_upper_equals_lower():
    with pytest.raises(ValueError, match="`upper` must differ from `lower`"):
        evaluation.gap_closed(0.7, 0.5, 0.5)
    with pytest.raises(ValueError, match="`upper` must differ from `lower`"):
        evaluation.gap_closed([0.7, 0.8], [0.5, 0.6], [1.0, 0.6])


# ---------------------------------------------------------------------------
# count_params
# ---------------------------------------------------------------------------
