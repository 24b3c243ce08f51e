"""Each guide: the keras.io tutobook format, and a tiny run that exits 0."""

import ast
import os
import re
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDES_DIR = os.path.join(ROOT, "guides")
GUIDES = [
    "amalgamation_with_fit.py",
    "bring_your_own_teachers.py",
    "customizing_amalgamation.py",
    "training_on_several_devices.py",
]
HEADER_FIELDS = ("Title", "Author", "Date created", "Last modified", "Description")


def read(name):
    with open(os.path.join(GUIDES_DIR, name), encoding="utf-8") as f:
        return f.read()


def test_every_guide_is_listed():
    found = sorted(
        name
        for name in os.listdir(GUIDES_DIR)
        if name.endswith(".py") and not name.startswith("_")
    )
    assert found == sorted(GUIDES)


@pytest.mark.parametrize("name", GUIDES)
def test_tutobook_format(name):
    source = read(name)
    lines = source.splitlines()
    # A docstring header of exactly five `Field: value` lines.
    assert lines[0] == '"""'
    assert lines[6] == '"""'
    for line, field in zip(lines[1:6], HEADER_FIELDS):
        assert line.startswith(f"{field}: ") and line[len(field) + 2 :].strip()
    for line in lines[3:5]:
        assert re.fullmatch(r"[A-Za-z ]+: \d{4}/\d{2}/\d{2}", line)
    # Markdown cells are top-level `"""` strings; they carry `##` sections.
    module = ast.parse(source)
    cells = [
        node.value.value
        for node in module.body
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    sections = [
        line
        for cell in cells[1:]
        for line in cell.splitlines()
        if line.startswith("## ")
    ]
    assert len(cells) >= 5
    assert len(sections) >= 4
    assert sections[0] == "## Introduction"
    assert "## Setup" in sections
    # Sizes come from KERAS_DFKA_GUIDE_SCALE; outputs go under the guide dir.
    assert "KERAS_DFKA_GUIDE_SCALE" in source
    assert "KERAS_DFKA_GUIDE_DIR" in source


@pytest.mark.parametrize("name", GUIDES)
def test_guide_runs_at_tiny_scale(name, tmp_path):
    env = dict(
        os.environ,
        KERAS_BACKEND=keras.backend.backend(),
        KERAS_DFKA_GUIDE_SCALE="tiny",
        KERAS_DFKA_GUIDE_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, os.path.join(GUIDES_DIR, name)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Done. Outputs in" in result.stdout
    # Every output is under the guide directory.
    outputs = os.listdir(tmp_path)
    assert len(outputs) == 1 and outputs[0].startswith(name[:-3])
