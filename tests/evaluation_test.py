import json
import math
import os
import re

import keras
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


def _tiny_model(name=None):
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3),  # 4 * 3 + 3 = 15
            keras.layers.BatchNormalization(),  # 4 * 3 = 12 (6 non-trainable)
            keras.layers.Dense(2),  # 3 * 2 + 2 = 8
        ],
        name=name,
    )


def test_count_params_single_model():
    assert evaluation.count_params(_tiny_model()) == 35


def test_count_params_list_and_shared_variables():
    a = _tiny_model("a")
    b = _tiny_model("b")
    assert evaluation.count_params([a, b]) == 70
    # A model sharing all of `a`'s layers adds nothing.
    inputs = keras.Input((4,))
    shared = keras.Model(inputs, a(inputs))
    assert evaluation.count_params([a, shared]) == 35
    assert evaluation.count_params((a, b, shared)) == 70


def test_count_params_rejects_bad_inputs():
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="`model_or_models` must contain only built"):
        evaluation.count_params(unbuilt)
    with pytest.raises(ValueError, match="`model_or_models`.*received an empty list"):
        evaluation.count_params([])
    with pytest.raises(ValueError, match="`model_or_models`.*received str"):
        evaluation.count_params("model")


# ---------------------------------------------------------------------------
# inference_time
# ---------------------------------------------------------------------------


def test_inference_time_on_model():
    calls = []

    class RecordingModel(keras.Sequential):
        def predict(self, x, batch_size=None, verbose="auto", **kwargs):
            calls.append((len(x), batch_size, verbose))
            return super().predict(x, batch_size=batch_size, verbose=verbose)

    model = RecordingModel([keras.Input((4,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).random((10, 4)).astype("float32")
    timing = evaluation.inference_time(model, x, batch_size=4, repeats=2, warmup=1)

    assert set(timing) == {"seconds_per_image", "images_per_second"}
    assert 0 < timing["seconds_per_image"] < 10
    assert math.isfinite(timing["images_per_second"])
    assert timing["images_per_second"] * timing["seconds_per_image"] == (
        pytest.approx(1.0)
    )
    # One warmup pass and two timed passes over all of `x`.
    assert calls == [(10, 4, 0)] * 3


def test_inference_time_on_callable_batches_input():
    batch_sizes = []

    def predict_fn(batch):
        batch_sizes.append(len(batch))
        return keras.ops.sum(batch, axis=1)

    x = np.ones((10, 3), dtype="float32")
    timing = evaluation.inference_time(predict_fn, x, batch_size=4, repeats=3)
    assert timing["seconds_per_image"] > 0
    assert timing["images_per_second"] > 0
    # (1 warmup + 3 timed passes) x batches of 4, 4, 2.
    assert batch_sizes == [4, 4, 2] * 4


def test_inference_time_rejects_bad_arguments():
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1"):
        evaluation.inference_time(lambda b: b, x, batch_size=0)
    with pytest.raises(ValueError, match="`repeats` must be an integer >= 1"):
        evaluation.inference_time(lambda b: b, x, repeats=1.5)
    with pytest.raises(ValueError, match="`x` must be an array with at least one"):
        evaluation.inference_time(lambda b: b, np.ones((0, 2)))
    with pytest.raises(ValueError, match="`model_or_callable`"):
        evaluation.inference_time("model", x)


# ---------------------------------------------------------------------------
# format_table
# ---------------------------------------------------------------------------


def test_format_table_output():
    rows = [
        {"model": "teacher|A", "params": 1234567, "auc": 0.91234, "ok": True},
        {"model": "student", "params": np.int64(1000), "auc": np.float32(0.5)},
        {"model": "baseline", "params": None, "auc": float("nan"), "ok": False},
    ]
    table = evaluation.format_table(rows, ["model", "params", "auc", "ok"], "Results")
    assert table == (
        "### Results\n"
        "\n"
        "| model | params | auc | ok |\n"
        "| --- | --- | --- | --- |\n"
        "| teacher\\|A | 1,234,567 | 0.912 | True |\n"
        "| student | 1,000 | 0.500 | - |\n"
        "| baseline | - | nan | False |\n"
    )


def test_format_table_without_title_and_rows():
    assert evaluation.format_table([], ["a", "b"]) == "| a | b |\n| --- | --- |\n"


def test_format_table_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`columns` must be a non-empty list"):
        evaluation.format_table([{"a": 1}], "a")
    with pytest.raises(ValueError, match="`rows` must be a list of dicts"):
        evaluation.format_table([[1]], ["a"])


# ---------------------------------------------------------------------------
# write_report / environment_info
# ---------------------------------------------------------------------------


def _report():
    report = evaluation.binary_report(
        np.array([[1, 1], [0, 1]]), np.array([[0.9, 0.2], [0.3, 0.8]]), ["a", "b"]
    )
    report["params"] = np.int64(35)
    report["curve"] = np.array([0.5, np.nan], dtype="float32")
    return report


def test_write_report_writes_json_and_markdown(tmp_path):
    directory = tmp_path / "results"  # Created on demand.
    json_path, md_path = evaluation.write_report(_report(), directory, "student")

    assert json_path == os.path.join(directory, "student.json")
    assert md_path == os.path.join(directory, "student.md")
    with open(json_path, encoding="utf-8") as file:
        text = file.read()
    data = json.loads(text)
    assert text.startswith('{\n  "per_label"')  # indent=2
    assert data["per_label"]["b"]["roc_auc"] is None  # NaN -> null.
    assert data["per_label"]["a"]["roc_auc"] == 1.0
    assert data["mean"]["roc_auc"] == 1.0
    assert data["params"] == 35
    assert data["curve"] == [0.5, None]
    assert "NaN" not in text

    with open(md_path, encoding="utf-8") as file:
        markdown = file.read()
    assert markdown.startswith("# student\n")
    assert "| params | 35 |" in markdown
    assert "| name | accuracy | balanced_accuracy | roc_auc | positive_rate |" in (
        markdown
    )
    assert "| a | 1.000 | 1.000 | 1.000 | 0.500 |" in markdown
    assert "| roc_auc | 1.000 |" in markdown


def test_write_report_refuses_to_overwrite(tmp_path):
    json_path, md_path = evaluation.write_report({"x": 1}, tmp_path, "run")
    with pytest.raises(FileExistsError, match=re.escape(json_path)):
        evaluation.write_report({"x": 2}, tmp_path, "run")
    with open(json_path, encoding="utf-8") as file:
        assert json.load(file) == {"x": 1}

    # Only the Markdown file exists: still refused, and no JSON is written.
    os.remove(json_path)
    with pytest.raises(FileExistsError, match=re.escape(md_path)):
        evaluation.write_report({"x": 2}, tmp_path, "run")
    assert not os.path.exists(json_path)

    evaluation.write_report({"x": 3}, tmp_path, "run", overwrite=True)
    with open(json_path, encoding="utf-8") as file:
        assert json.load(file) == {"x": 3}


def test_write_report_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="`stem` must be a non-empty file name"):
        evaluation.write_report({"x": 1}, tmp_path, "sub/run")
    with pytest.raises(ValueError, match="`report` must contain only"):
        evaluation.write_report({"x": object()}, tmp_path, "run")
    assert os.listdir(tmp_path) == []


def test_environment_info():
    info = evaluation.environment_info()
    assert set(info) == {
        "keras_version",
        "backend",
        "backend_version",
        "python_version",
        "numpy_version",
        "platform",
        "processor",
        "cpu_count",
    }
    assert info["keras_version"] == keras.__version__
    assert info["backend"] == keras.backend.backend()
    assert info["numpy_version"] == np.__version__
    assert re.match(r"^\d+\.\d+", info["backend_version"])
    assert info["cpu_count"] is None or info["cpu_count"] >= 1
    json.dumps(info)  # Serializable as is.
