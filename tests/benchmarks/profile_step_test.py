"""Smoke test of `benchmarks/profile_step.py --quick` on the current backend."""

import json
import math
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "profile_step.py")
BACKEND = keras.backend.backend()

pytestmark = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason=f"the profile supports tensorflow and jax, not {BACKEND}",
)


def run_script(*args):
    return subprocess.run(
        [sys.executable, SCRIPT, f"--backend={BACKEND}", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, KERAS_BACKEND=BACKEND),
        cwd=ROOT,
    )


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
