import os
import subprocess
import sys

from conftest import ROOT

from examples.faces import train as faces


def test_name_seed_is_the_same_in_every_process():
    code = (
        "from examples.faces import train as faces; "
        "print([faces.name_seed(n) for n in ('hair', 'face', 'mouth')])"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONHASHSEED=hash_seed),
            cwd=ROOT,
            check=True,
        )
        outputs.add(result.stdout.strip().splitlines()[-1])
    assert len(outputs) == 1, outputs
    values = [faces.name_seed(n) for n in ("hair", "face", "mouth")]
    assert str(values) in outputs
    assert all(0 <= v < 1000 for v in values)
    assert len(set(values)) == 3
