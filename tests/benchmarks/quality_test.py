"""Smoke test of benchmarks/quality.py at tiny size (real data; skips without)."""

import json
import os

import pytest
from conftest import BACKEND
from conftest import run_benchmark
from conftest import shared_data_dir

DATA = shared_data_dir()


@pytest.mark.parametrize("dataset", ["mnist", "celeba"])
def test_quality_quick(dataset, tmp_path):
    if not os.path.isdir(os.path.join(DATA, dataset)):
        pytest.skip(f"{os.path.join(DATA, dataset)} not found: no real data here")
    output = tmp_path / "quality.json"
    args = [
        f"--dataset={dataset}",
        "--quick",
        "--seeds=1",
        "--steps=2",
        "--dual_steps=3",
        "--teacher_epochs=2",
        "--image_size=16",
        "--rows=default,no_block_wise",
        f"--data_root={DATA}",
        f"--output={output}",
    ]
    result = run_benchmark("quality.py", *args)
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
    assert report["environment"]["backend"] == BACKEND
    assert (report["steps"], report["dual_steps"]) == (2, 3)
    # The flag reaches both settings' teachers (it used to miss MNIST's).
    assert report["teacher_epochs"] == 2
    # Refuses to overwrite its output.
    again = run_benchmark("quality.py", *args)
    assert again.returncode != 0
    assert "exists" in again.stderr + again.stdout


@pytest.mark.parametrize("flag", ["seeds", "dual_steps", "teacher_epochs"])
def test_quality_rejects_bad_counts(flag, tmp_path):
    result = run_benchmark(
        "quality.py", f"--{flag}=0", f"--output={tmp_path / 'quality.json'}"
    )
    assert result.returncode != 0
    assert f"--{flag} must be >= 1. Received: 0" in result.stderr + result.stdout
    assert not (tmp_path / "quality.json").exists()
