"""Smoke test of `python -m benchmarks.speed.profile_step --quick` on the
current backend."""

import json
import math

from benchmark_runner import run_module
from conftest import BACKEND
from conftest import tensorflow_or_jax_only

pytestmark = tensorflow_or_jax_only("the profile")


def run_script(*args):
    return run_module("speed.profile_step", *args)


def test_quick_run_writes_every_measurement(tmp_path):
    output = tmp_path / "profile.json"
    result = run_script("--quick", f"--output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["environment"]["backend"] == BACKEND
    names = [row["measurement"] for row in report["rows"]]
    assert len(names) == 6 and any("sub-pixel" in n for n in names)
    assert all(math.isfinite(r["ms"]) and r["ms"] > 0 for r in report["rows"])
    # The variant really replaced every 2x upsampling and kept the shapes.
    check = report["subpixel_variant_check"]
    assert check["upsampling_layers"]["library"] > 0
    assert check["upsampling_layers"]["subpixel"] == 0
    assert check["same_output_shapes"] is True
    assert "| measurement | median ms |" in result.stdout
    # An existing output is kept unless --overwrite.
    again = run_script("--quick", f"--output={output}")
    assert again.returncode != 0 and "--overwrite" in again.stderr
