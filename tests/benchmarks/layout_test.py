"""The shape of `benchmarks/` (issue 34): the commands the READMEs give name
modules that exist, each folder's `results/` holds exactly the files
`benchmarks/README.md` cites, and the modules and READMEs stay short."""

import glob
import importlib.util
import itertools
import os
import re

import pytest
from conftest import ROOT

BENCHMARKS = os.path.join(ROOT, "benchmarks")
READMES = [os.path.join(ROOT, "README.md"), os.path.join(BENCHMARKS, "README.md")]


def read(path):
    with open(path) as f:
        return f.read()


def expand_braces(name):
    """`a{,_b}.json` -> `["a.json", "a_b.json"]` (as a shell expands it)."""
    parts = re.split(r"\{([^}]*)\}", name)
    choices = [
        part.split(",") if index % 2 else [part] for index, part in enumerate(parts)
    ]
    return ["".join(p) for p in itertools.product(*choices)]


@pytest.mark.parametrize("readme", READMES, ids=os.path.basename)
def test_every_benchmark_command_names_a_module(readme):
    modules = set(re.findall(r"python -m (benchmarks(?:\.\w+)+)", read(readme)))
    assert modules
    missing = [m for m in sorted(modules) if importlib.util.find_spec(m) is None]
    assert not missing, missing


def test_results_hold_exactly_the_cited_files():
    text = read(os.path.join(BENCHMARKS, "README.md"))
    cited = {
        name
        for token in re.findall(r"[\w{},.]+\.json", text)
        for name in expand_braces(token)
    }
    files = glob.glob(os.path.join(BENCHMARKS, "*", "results", "*"))
    present = {os.path.basename(f) for f in files}
    assert present, "no results files"
    assert not present - cited, f"results not cited: {sorted(present - cited)}"
    assert not cited - present, f"cited, not in a results/: {sorted(cited - present)}"


def test_modules_and_readmes_stay_short():
    modules = glob.glob(os.path.join(BENCHMARKS, "**", "*.py"), recursive=True)
    long = {m: n for m in modules if (n := len(read(m).splitlines())) > 400}
    assert not long, long
    assert len(read(READMES[0]).splitlines()) <= 250
    assert len(read(READMES[1]).splitlines()) <= 400
