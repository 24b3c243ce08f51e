"""Smoke test of `python -m benchmarks.quality.quality` at tiny size (real data;
skips without)."""

import json
import os

import pytest
from benchmark_runner import run_module
from conftest import BACKEND
from conftest import shared_data_dir

DATA = shared_data_dir()


def _require_data(dataset):
    if not os.path.isdir(os.path.join(DATA, dataset)):
        pytest.skip(f"{os.path.join(DATA, dataset)} not found: no real data here")


@pytest.mark.parametrize("dataset", ["mnist", "celeba"])
def test_quality_quick(dataset, tmp_path):
    _require_data(dataset)
    output = tmp_path / "quality.json"
    args = [
        f"--dataset={dataset}",
        "--quick",
        "--seeds=1",
        "--steps=2",
        "--dual_steps=3",
        "--teacher_epochs=2",
        "--image_size=16",
        "--rows="
        + (
            "sequential,balanced,balanced_hard"
            if dataset == "mnist"
            else "default,sequential"
        ),
        f"--data_root={DATA}",
        f"--output={output}",
    ]
    if dataset == "celeba":
        # Each data-free row once per policy; teachers and references float32.
        args.append("--dtype_policies=float32,mixed_bfloat16")
    result = run_module("quality.quality", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    rows = {row["row"] for row in report["table"]}
    assert {"sequential", "data_student", "noise_student"} <= rows
    metric = report["metric_for_gap"]
    for row in report["table"]:
        assert 0.0 <= row[metric] <= 1.0
    assert "teachers" in rows
    if dataset == "celeba":
        assert {
            "default",
            "default_mixed_bfloat16",
            "sequential_mixed_bfloat16",
        } <= rows
        assert report["dtype_policies"] == ["float32", "mixed_bfloat16"]
        # Chosen on validation, reported on test: both are scored.
        for row in report["table"]:
            assert 0.0 <= row["validation_roc_auc"] <= 1.0
        assert "validation_gap_closed" in result.stdout
    if dataset == "mnist":
        assert {"generated_student", "balanced", "balanced_hard"} <= rows
        assert "class-balanced" in report["rows"]["balanced"]
        assert "hard_latents" in report["rows"]["balanced_hard"]
        for row in report["table"]:
            assert len(row["per_class_accuracy"]) == 10, row["row"]
            assert all(0.0 <= v <= 1.0 for v in row["per_class_accuracy"])
        assert "| row | 0 | 1 |" in result.stdout
    assert report["environment"]["backend"] == BACKEND
    assert (report["steps"], report["dual_steps"]) == (2, 3)
    # The flag reaches both settings' teachers (it used to miss MNIST's).
    assert report["teacher_epochs"] == 2
    # Refuses to overwrite its output.
    again = run_module("quality.quality", *args)
    assert again.returncode != 0
    assert "exists" in again.stderr + again.stdout
    if dataset == "mnist":
        # The trained teacher is saved beside the results; --teacher reuses it
        # (e.g. to compare backends on one teacher) and scores the same.
        # --first_seed adds seeds to an earlier run's.
        saved = tmp_path / "work_quality" / "teacher.keras"
        assert report["teacher"] is None and report["teacher_seed"] == 0
        assert report["seeds"] == [0]
        reused_output = tmp_path / "reused.json"
        reused = run_module(
            "quality.quality",
            *[
                a
                for a in args
                if not a.startswith(("--output", "--teacher_epochs", "--rows"))
            ],
            "--rows=sequential",  # One row is enough to see the teacher reused.
            f"--teacher={saved}",
            "--first_seed=2",
            f"--output={reused_output}",
        )
        assert reused.returncode == 0, reused.stderr[-3000:]
        second = json.loads(reused_output.read_text())
        assert second["teacher"] == str(saved) and second["teacher_epochs"] is None
        assert second["seeds"] == [2]
        assert {r["seed"] for rows in second["results"].values() for r in rows} == {2}
        first_teacher, second_teacher = (
            [r["accuracy"] for r in rep["results"]["teachers"]]
            for rep in (report, second)
        )
        assert second_teacher == first_teacher


@pytest.mark.parametrize("flag", ["seeds", "dual_steps", "teacher_epochs"])
def test_quality_rejects_bad_counts(flag, tmp_path):
    result = run_module(
        "quality.quality", f"--{flag}=0", f"--output={tmp_path / 'quality.json'}"
    )
    assert result.returncode != 0
    assert f"--{flag} must be >= 1. Received: 0" in result.stderr + result.stdout
    assert not (tmp_path / "quality.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--teacher_seed=-1"], "--teacher_seed must be >= 0. Received: -1"),
        (["--first_seed=-1"], "--first_seed must be >= 0. Received: -1"),
        (
            ["--dataset=celeba", "--teacher_seed=1"],
            "--teacher and --teacher_seed are for --dataset=mnist only",
        ),
        (
            ["--dataset=mnist", "--teacher=t.keras", "--teacher_epochs=2"],
            "have no effect with --teacher",
        ),
        (
            ["--dtype_policies=float32,float64"],
            "--dtype_policies must name some of ['float32', 'mixed_bfloat16', "
            "'mixed_float16']. Received: ['float32', 'float64']",
        ),
        (
            ["--dtype_policies=mixed_bfloat16"],
            "--dtype_policies must include float32",
        ),
        (
            ["--dataset=mnist", "--dtype_policies=float32,mixed_float16"],
            "--dtype_policies is for --dataset=celeba only",
        ),
        (
            ["--dataset=celeba", "--rows=default,balanced"],
            "--rows ['balanced'] need a softmax teacher: --dataset=mnist only",
        ),
    ],
)
def test_quality_rejects_conflicting_teacher_flags(args, message, tmp_path):
    result = run_module("quality.quality", *args, f"--output={tmp_path / 'q.json'}")
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not (tmp_path / "q.json").exists()


def test_quality_rejects_a_missing_or_wrong_teacher(tmp_path):
    _require_data("mnist")
    import keras

    wrong = tmp_path / "wrong.keras"
    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    keras.Model(inputs, outputs).save(wrong)
    for teacher, message in (
        (tmp_path / "missing.keras", "not found"),
        (wrong, "to (None, 10) probabilities"),
    ):
        result = run_module(
            "quality.quality",
            "--dataset=mnist",
            "--quick",
            f"--teacher={teacher}",
            f"--data_root={DATA}",
            f"--output={tmp_path / 'q.json'}",
        )
        assert result.returncode != 0
        assert "--teacher must" in result.stderr + result.stdout
        assert message in result.stderr + result.stdout
        assert not (tmp_path / "q.json").exists()
