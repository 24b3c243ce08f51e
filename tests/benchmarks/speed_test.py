"""Smoke test of `python -m benchmarks.speed.speed --quick` on the current
KERAS_BACKEND."""

import importlib.util
import json
import math

import pytest
from benchmark_runner import assert_refused
from benchmark_runner import run_module
from conftest import BACKEND
from conftest import tensorflow_or_jax_only

from benchmarks.speed.benchmark import loglog_slope
from benchmarks.speed.settings import settings_for

pytestmark = tensorflow_or_jax_only("the speed benchmark")


def run_script(*args, timeout=600):
    return run_module("speed.speed", *args, timeout=timeout)


def is_positive_number(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_loglog_slope_recovers_a_power_law():
    xs = [1, 2, 4, 8]
    assert loglog_slope(xs, [3.0 * x**1.5 for x in xs]) == pytest.approx(1.5)
    assert loglog_slope([32, 64], [0.2, 0.2]) == pytest.approx(0.0)
    assert loglog_slope([2], [1.0]) is None
    assert loglog_slope([2, 2], [1.0, 3.0]) is None


def test_quick_settings_are_tiny():
    quick = settings_for(quick=True)
    assert quick["image_size"] <= 32 and quick["batch_sizes"] == [8]
    assert settings_for(quick=False, steps=5)["steps"] == 5
    with pytest.raises(ValueError, match="Unknown setting"):
        settings_for(quick=True, no_such_setting=1)


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


def test_flags_are_checked_and_moved_ones_name_their_replacement(tmp_path):
    output = tmp_path / "never.json"
    replacement = "python -m benchmarks.torch_reference.speed_vs_torch"
    cases = (
        (("--reference=torch",), replacement),
        (("--rounds=2",), replacement),
        (("--torch_compile",), replacement),
        (("--backend=tensorflow,jax",), replacement),
        (("--steps=0",), "--steps must be positive; got 0"),
        (("--batch_sizes=8,x",), "--batch_sizes must be integers"),
        (("--jit=maybe",), "--jit takes on and/or off"),
    )
    assert_refused(run_script, output, cases)
