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
