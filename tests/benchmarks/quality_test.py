"""Smoke test of benchmarks/quality.py at tiny size (real data; skips without)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.environ.get(
    "KERAS_DFKA_DATA_DIR", os.path.join(os.path.dirname(ROOT), "shared", "data")
)


@pytest.mark.parametrize("dataset", ["mnist", "celeba"])
def test_quality_quick(dataset, tmp_path):
    if not os.path.isdir(os.path.join(DATA, dataset)):
        pytest.skip(f"{os.path.join(DATA, dataset)} not found: no real data here")
    output = tmp_path / "quality.json"
    command = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "quality.py"),
        f"--dataset={dataset}",
        "--quick",
        "--seeds=1",
        "--steps=2",
        "--dual_steps=3",
        "--teacher_epochs=1",
        "--image_size=16",
        "--rows=default,no_block_wise",
        f"--data_root={DATA}",
        f"--output={output}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    rows = {row["row"] for row in report["table"]}
    assert {"default", "no_block_wise", "data_student", "noise_student"} <= rows
    metric = report["metric_for_gap"]
    for row in report["table"]:
        assert 0.0 <= row[metric] <= 1.0
    assert "teachers" in rows
    if dataset == "mnist":
        assert "generated_student" in rows
        for row in report["table"]:
            assert len(row["per_class_accuracy"]) == 10, row["row"]
            assert all(0.0 <= v <= 1.0 for v in row["per_class_accuracy"])
        assert "| row | 0 | 1 |" in result.stdout
    assert report["environment"]["backend"] in ("tensorflow", "jax")
    assert (report["steps"], report["dual_steps"]) == (2, 3)
    # Refuses to overwrite its output.
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode != 0
    assert "exists" in again.stderr + again.stdout


def test_quality_rejects_bad_step_counts(tmp_path):
    command = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "quality.py"),
        "--dual_steps=0",
        f"--output={tmp_path / 'quality.json'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "--dual_steps must be >= 1. Received: 0" in result.stderr + result.stdout
    assert not (tmp_path / "quality.json").exists()
