"""Runs a benchmark as its README does: `python -m benchmarks.<module>` from
the repository root, on the current backend."""

import os
import subprocess
import sys

from conftest import BACKEND
from conftest import ROOT


def run_module(module, *args, timeout=600):
    """Runs `python -m benchmarks.<module> --backend=<BACKEND> *args`."""
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", f"--backend={BACKEND}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, KERAS_BACKEND=BACKEND),
        cwd=ROOT,
    )


def assert_refused(run, output, cases):
    """For each `(args, message)` of `cases`, `run("--quick", "--output=...",
    *args)` exits non-zero printing `message`, and writes no output."""
    for args, message in cases:
        result = run("--quick", f"--output={output}", *args, timeout=120)
        assert result.returncode != 0, args
        assert message in result.stdout + result.stderr, args
    assert not output.exists()
