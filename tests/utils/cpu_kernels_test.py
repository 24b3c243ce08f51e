"""TensorFlow's oneDNN CPU kernels: on when keras_dfka is imported first,
the user's choice kept, and one warning when TensorFlow trains without them
unasked (`keras_dfka.utils.cpu_kernels`). Each case runs in a fresh interpreter,
since TensorFlow reads the switch once, when it is imported."""

import json
import os
import subprocess
import sys

import keras
import pytest

from keras_dfka.utils import cpu_kernels

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow's kernels"
)

REPORT = """
import json, os, warnings
{imports}
from keras_dfka.utils import cpu_kernels
from keras_dfka.models.teacher_zoo import block_names, small_cnn

task = keras_dfka.LabelTask("t", ["a", "b"], "sigmoid")
model = small_cnn((16, 16, 3), [task], widths=(4, 8), name="teacher")
teacher = keras_dfka.Teacher(model, block_names(model), tasks=[task])
gan = keras_dfka.AmalgamGAN([teacher], latent_dim=8)
gan.compile()
noise = keras_dfka.datasets.LatentNoise(8, batch_size=4, steps=1)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    gan.fit(noise, epochs=1, verbose=0)
    gan.fit(noise, epochs=1, verbose=0)
print(json.dumps({{
    "variable": os.environ.get(cpu_kernels.VARIABLE),
    "onednn": cpu_kernels.onednn_enabled(),
    "warnings": [str(w.message) for w in caught
                 if cpu_kernels.VARIABLE in str(w.message)],
}}))
"""


def run_report(imports, variable=None):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    env.pop(cpu_kernels.VARIABLE, None)
    if variable is not None:
        env[cpu_kernels.VARIABLE] = variable
    result = subprocess.run(
        [sys.executable, "-c", REPORT.format(imports=imports)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_keras_dfka_first_turns_onednn_on():
    report = run_report("import keras_dfka\nimport keras")
    assert report == {"variable": "1", "onednn": True, "warnings": []}


def test_the_users_choice_is_kept_and_not_warned_about():
    report = run_report("import keras_dfka", variable="0")
    assert report == {"variable": "0", "onednn": False, "warnings": []}


def test_tensorflow_imported_first_warns_once_where_onednn_is_off():
    report = run_report("import keras\nimport keras_dfka")
    # TensorFlow decided by itself (on with AVX-512 neural-network
    # instructions, off elsewhere); keras_dfka changed nothing.
    assert report["variable"] is None
    if report["onednn"]:
        assert report["warnings"] == []
    else:
        assert len(report["warnings"]) == 1
        assert "TF_ENABLE_ONEDNN_OPTS=1" in report["warnings"][0]


def test_no_warning_once_the_variable_is_set(monkeypatch):
    monkeypatch.setenv(cpu_kernels.VARIABLE, "0")
    assert cpu_kernels.warn_if_onednn_off() is False
