"""`keras-dfka --version`, `--help` and `COMMAND --help` answer without
importing Keras or a backend (keras_dfka/cli/help.py)."""

import os
import subprocess
import sys

import pytest

import keras_dfka
from keras_dfka.cli import main
from keras_dfka.cli.help import command_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Runs as the `keras-dfka` program would, then reports what was imported.
PROGRAM = """
import atexit, sys
atexit.register(lambda: print(
    "IMPORTED", "keras" in sys.modules, "tensorflow" in sys.modules,
    "jax" in sys.modules, "torch" in sys.modules))
sys.argv = ["keras-dfka", *{argv!r}]
from keras_dfka.cli import main
sys.exit(main())
"""


def _run_as_program(argv):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run(
        [sys.executable, "-c", PROGRAM.format(argv=argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--version"], f"keras-dfka {keras_dfka.__version__}"),
        (["--help"], "export"),
        (["--backend", "jax", "--help"], "COMMAND"),
        (["export", "--help"], "--tolerance"),
        (["evaluate", "--help"], "--celeba-dir"),
    ],
)
def test_answers_without_keras(argv, expected):
    completed = _run_as_program(argv)
    assert completed.returncode == 0, completed.stderr
    assert expected in completed.stdout
    assert "IMPORTED False False False False" in completed.stdout


def test_amalgamate_help_still_lists_the_run_options():
    completed = _run_as_program(["amalgamate", "--help"])
    assert completed.returncode == 0, completed.stderr
    assert "--gan-steps" in completed.stdout


def test_version_in_process(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "keras-dfka 0.1.0"


def test_command_of():
    assert command_of(["--backend", "jax", "export", "--help"]) == "export"
    assert command_of(["--help"]) is None
