"""Smoke test of `python -m benchmarks.torch_reference.speed_vs_torch --quick`
(needs torch) and its flag checks (do not)."""

import importlib.util
import json
import math

import pytest
from benchmark_runner import assert_refused
from benchmark_runner import run_module
from conftest import BACKEND
from conftest import tensorflow_or_jax_only

pytestmark = tensorflow_or_jax_only("the comparison with PyTorch")


def run_script(*args, timeout=600):
    return run_module("torch_reference.speed_vs_torch", *args, timeout=timeout)


def is_positive_number(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="--reference=torch needs torch (an optional benchmark dependency)",
)
def test_quick_torch_reference_run_reports_every_contender(tmp_path):
    output = tmp_path / "speed_vs_torch.json"
    result = run_script(
        "--quick",
        "--stages=1,2",
        f"--output={output}",
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "# Speed against the PyTorch reference" in result.stdout
    with open(output) as f:
        report = json.load(f)

    assert report["benchmark"] == "speed_vs_torch" and report["quick"] is True
    assert report["backends"] == [BACKEND]
    equivalence = report["equivalence"]
    assert equivalence["passed"] is True, equivalence
    for stages in equivalence["precisions"].values():
        assert set(stages) == {"stage1", "stage2"}
        for check in stages.values():
            assert check["passed"]
            assert check["max_term_relative_difference"] <= 1e-5
    assert len(report["rounds"]) == 1
    contenders = {f"keras-{BACKEND}", "torch"}
    for round_ in report["rounds"]:
        assert set(round_["order"]) == contenders
        for key in ("load_average_before", "load_average_after"):
            assert len(round_[key]) == 3 and all(x >= 0 for x in round_[key])
        assert len(round_["runs"]) == 2 * len(contenders)  # 2 stages, batch 8
        for run in round_["runs"]:
            assert "error" not in run, run
            assert is_positive_number(run["steps_per_second"]), run
            assert run["losses_finite"], run
            if run["contender"] == "torch":
                assert run["torch_threads"] >= 1
                assert run["torch_compile"] is False
    rows = {(row["stage"], row["batch_size"]): row for row in report["summary"]}
    assert set(rows) == {(1, 8), (2, 8)}
    for row in rows.values():
        assert set(row["median_steps_per_second"]) == contenders
        assert row["best_keras"] == f"keras-{BACKEND}"
        assert is_positive_number(row["best_keras_over_torch"])
        assert len(row["best_keras_over_torch_per_round"]) == 1
    assert len(report["load_average_start"]) == 3
    assert len(report["load_average_end"]) == 3
    assert "- Equivalence check (batch 4, augmentation off" in report["markdown"]
    assert "tensorflow): passed" in report["markdown"]
    assert "best Keras / torch" in report["markdown"]
    assert "## Per round" in report["markdown"]


def test_flags_are_checked_before_anything_runs(tmp_path):
    output = tmp_path / "never.json"
    cases = (
        (("--jit=on",), "Unknown command line flag 'jit'"),
        (("--rounds=0",), "--rounds must be positive; got 0"),
        (("--torch_threads=0",), "--torch_threads must be positive; got 0"),
        (("--backend=tensorflow,tensorflow",), "--backend repeats a backend"),
        (("--stages=3",), "--stages takes 1 and/or 2"),
    )
    assert_refused(run_script, output, cases)
