"""Smoke test of `benchmarks/speed.py --quick` on the current KERAS_BACKEND."""

import importlib.util
import json
import math
import os

import pytest
from conftest import BACKEND
from conftest import ROOT
from conftest import run_benchmark
from conftest import tensorflow_or_jax_only

SCRIPT = os.path.join(ROOT, "benchmarks", "speed.py")

pytestmark = tensorflow_or_jax_only("the speed benchmark")


def load_speed_module():
    """Imports benchmarks/speed.py without running it (no flags defined)."""
    spec = importlib.util.spec_from_file_location("speed_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args, timeout=600):
    return run_benchmark("speed.py", *args, timeout=timeout)


def is_positive_number(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_loglog_slope_recovers_a_power_law():
    speed = load_speed_module()
    xs = [1, 2, 4, 8]
    assert speed.loglog_slope(xs, [3.0 * x**1.5 for x in xs]) == pytest.approx(1.5)
    assert speed.loglog_slope([32, 64], [0.2, 0.2]) == pytest.approx(0.0)
    assert speed.loglog_slope([2], [1.0]) is None
    assert speed.loglog_slope([2, 2], [1.0, 3.0]) is None


def test_quick_settings_are_tiny():
    speed = load_speed_module()
    quick = speed.settings_for(quick=True)
    assert quick["image_size"] <= 32 and quick["batch_sizes"] == [8]
    assert speed.settings_for(quick=False, steps=5)["steps"] == 5
    with pytest.raises(ValueError, match="Unknown setting"):
        speed.settings_for(quick=True, no_such_setting=1)


def test_quick_run_writes_a_complete_report(tmp_path):
    output = tmp_path / "speed.json"
    # The quick mode restricted to the backend's default jit_compile (XLA under
    # JAX, plain graphs for TensorFlow on CPU) and run two at a time, so that
    # the whole smoke test stays around a minute on a 2-core machine.
    jit = "on" if BACKEND == "jax" else "off"
    result = run_script("--quick", f"--output={output}", f"--jit={jit}", "--jobs=2")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "# Speed benchmark" in result.stdout
    with open(output) as f:
        report = json.load(f)

    assert report["backend"] == BACKEND and report["quick"] is True
    assert report["environment"]["backend"] == BACKEND
    assert report["environment"]["cpu_count"] >= 1
    assert is_positive_number(report["ceiling"]["flops_per_second"])

    assert {(r["spec"]["stage"], r["spec"]["jit"]) for r in report["runs"]} == {
        (1, jit),
        (2, jit),
    }
    sweep_runs = [r for s in report["sweeps"].values() for r in s["runs"]]
    for run in report["runs"] + sweep_runs:
        assert "error" not in run, run
        assert is_positive_number(run["steps_per_second"]), run
        assert is_positive_number(run["samples_per_second"]), run
        assert run["samples_per_second"] == pytest.approx(
            run["steps_per_second"] * run["spec"]["batch_size"]
        )
        assert is_positive_number(run["peak_rss_mb"])
        assert run["peak_rss_mb"] >= run["baseline_rss_mb"]
        assert run["losses_finite"]
        assert run["jit_compile"] == (jit == "on")
        # The subprocesses run with TensorFlow's oneDNN kernels, the default.
        assert run["tf_onednn"] is (True if BACKEND == "tensorflow" else None)

    assert set(report["sweeps"]) == {"teachers", "blocks", "image_size"}
    for name, sweep in report["sweeps"].items():
        assert len(sweep["values"]) >= 2, name
        assert isinstance(sweep["slope"], float) and math.isfinite(sweep["slope"])

    if importlib.util.find_spec("jax") is not None:
        counts = report["flops"]["flops"]
        assert counts["stage1"]["8"]["flops"] > 0
        assert counts["stage2"]["8"]["flops"] > 0
        for run in report["runs"]:
            assert is_positive_number(run["flops_per_step"])
            assert 0 < run["fraction_of_ceiling"] < 1
        # Convolutions cost the image area: FLOPs grow as side**2.
        assert 1.5 < report["sweeps"]["image_size"]["flops_slope"] < 2.5
        assert report["sweeps"]["teachers"]["flops_slope"] > 0

    assert "## Scaling" in report["markdown"]
    if BACKEND == "tensorflow":
        assert "TensorFlow's oneDNN kernels on" in report["markdown"]

    # A second run refuses to overwrite the report (before measuring anything).
    again = run_script("--quick", f"--output={output}", timeout=120)
    assert again.returncode != 0
    assert "--overwrite" in again.stdout + again.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None,
    reason="--reference=torch needs torch (an optional benchmark dependency)",
)
def test_quick_torch_reference_run_reports_every_contender(tmp_path):
    output = tmp_path / "speed_vs_torch.json"
    result = run_script(
        "--reference=torch",
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


def test_torch_reference_flags_are_checked(tmp_path):
    output = tmp_path / "never.json"
    for args, message in (
        (("--reference=torch", "--jit=on"), "--jit"),
        (("--reference=torch", "--rounds=0"), "--rounds"),
        (("--rounds=2",), "--reference=torch"),
        (("--backend=tensorflow,jax",), "--reference=torch"),
    ):
        result = run_benchmark(
            "speed.py", "--quick", f"--output={output}", *args, timeout=120
        )
        assert result.returncode != 0, args
        assert message in result.stdout + result.stderr, args
    assert not output.exists()
