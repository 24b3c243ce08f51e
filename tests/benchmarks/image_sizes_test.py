"""Smoke test of `python -m benchmarks.image_sizes.image_sizes --quick` on the
current backend."""

import json

from benchmark_runner import run_module
from conftest import BACKEND
from conftest import tensorflow_or_jax_only

pytestmark = tensorflow_or_jax_only("the image-size benchmark")


def test_quick_run_reports_each_size(tmp_path):
    output = tmp_path / "sizes.json"
    args = ["--quick", "--stages=1", f"--output={output}"]
    result = run_module("image_sizes.image_sizes", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["backend"] == BACKEND == report["environment"]["backend"]
    assert report["architecture"] == "mobilenet_v2"
    assert len(report["load_before"]) == 3 == len(report["load_after"])
    (run,) = report["runs"]
    assert "error" not in run, run
    assert run["spec"]["image_size"] == 32 and run["spec"]["stage"] == 1
    assert run["steps_per_second"] > 0 and run["peak_rss_mb"] > 0
    assert run["losses_finite"]
    # The generator's levels: the image, then the teachers' last 3 stage ends.
    assert run["level_shapes"][0] == [32, 32, 3] and len(run["level_shapes"]) == 4
    assert "| 32 | 1 |" in result.stdout
    # An existing report is kept.
    again = run_module("image_sizes.image_sizes", *args)
    assert again.returncode != 0
    assert "exists" in again.stderr + again.stdout


def test_bad_sizes_are_refused(tmp_path):
    output = tmp_path / "sizes.json"
    result = run_module(
        "image_sizes.image_sizes", "--image_sizes=64,0", f"--output={output}"
    )
    assert result.returncode != 0
    assert "--image_sizes must be positive integers" in result.stderr + result.stdout
    assert not output.exists()
