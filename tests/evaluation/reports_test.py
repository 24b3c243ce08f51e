import json
import os
import re

import keras
import numpy as np
import pytest

from keras_dfka import evaluation


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
        "tensorflow_onednn",
    }
    assert info["keras_version"] == keras.__version__
    assert info["backend"] == keras.backend.backend()
    assert info["numpy_version"] == np.__version__
    assert re.match(r"^\d+\.\d+", info["backend_version"])
    assert info["cpu_count"] is None or info["cpu_count"] >= 1
    if info["backend"] == "tensorflow":
        # The tests run with TF_ENABLE_ONEDNN_OPTS=1 (tests/conftest.py).
        assert info["tensorflow_onednn"] is True
    else:
        assert info["tensorflow_onednn"] is None
    json.dumps(info)  # Serializable as is.


def test_write_json_converts_numpy_and_nan(tmp_path):
    path = tmp_path / "sub" / "data.json"
    evaluation.write_json({"a": np.float32(0.5), "b": [np.nan, 1]}, str(path))
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [None, 1]}
