"""Training on several devices, simulated: two CPU devices against one.

The devices must exist before the backend starts, so the trainers run in a
subprocess (`tests/distribution_worker.py`, once per backend and module):
JAX with `XLA_FLAGS=--xla_force_host_platform_device_count=2` and
`keras.distribution.DataParallel`, TensorFlow with two logical CPU devices
and `tf.distribute.MirroredStrategy`. Each case trains a model on one
device, then the same model from the same initial weights on two, over the
same latent batches. The error tests (named `test_refuses_*`) are listed
in `docs/reliability.md`'s table.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import BACKEND
from conftest import ROOT

import keras_dfka
from keras_dfka.datasets import LatentNoise
from keras_dfka.datasets.latent_noise import draw_latents

multi_device = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason="simulated devices: JAX DataParallel and TF MirroredStrategy only",
)
jax_only = pytest.mark.skipif(BACKEND != "jax", reason="JAX DataParallel only")
tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="TF MirroredStrategy only"
)

# Same weights as one device within this (the brief of issue 20).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def results():
    """The worker's measurements: `{case: {...}}`."""
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "distribution_worker.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    lines = run.stdout.splitlines()
    measured = json.loads(lines[lines.index("RESULTS") + 1])
    for name, case in measured.items():
        assert "crash" not in case, f"{name}:\n{case.get('crash')}"
        print(name, {k: v for k, v in case.items() if not isinstance(v, str)})
    return measured


@multi_device
def test_one_sgd_step_on_two_devices_moves_as_far_as_on_one(results):
    case = results["sgd_step"]
    assert case["replicas"] == 2
    assert case["update_one"] > 1e-3  # the step moved the weights
    assert case["update_ratio"] == pytest.approx(1.0, abs=1e-4)
    assert case["max_difference"] < TOLERANCE


@multi_device
@pytest.mark.parametrize("trainer", ["amalgam_gan", "dual_generator"])
def test_adam_steps_on_two_devices_equal_one_device(results, trainer):
    case = results[trainer]
    assert case["replicas"] == 2
    assert case["finite"]
    assert case["update_one"] > 1e-3
    assert case["max_difference"] < TOLERANCE
    # Every device holds the same copy of every variable (BatchNorm moving
    # statistics and seed states included).
    assert case["replica_spread"] == 0.0


@jax_only
def test_adversarial_amalgamation_on_two_devices_equals_one_device(results):
    """Its pool and step counter are one state under JAX's single program
    (TensorFlow refuses several replicas: see below)."""
    case = results["adversarial_amalgamation"]
    assert case["replicas"] == 2
    assert case["finite"]
    assert case["max_difference"] < TOLERANCE
    # The pool's uint8 images: a float rounding apart can flip a level.
    assert case["quantized_levels"] <= 1
    assert case["quantized_fraction"] < 1e-3
    assert case["replica_spread"] == 0.0


@multi_device
def test_refuses_a_batch_the_devices_cannot_split(results):
    errors = results["errors"]
    if BACKEND == "jax":
        expected = "cannot be split over the 2 devices"
        received = "batch of 3 latent vectors"
    else:
        expected = "leaves a replica of the 2 of MirroredStrategy without a sample"
        received = "global batch of 1 latent vectors"
    assert expected in errors["batch_known"]
    assert received in errors["batch_known"]
    assert "LatentNoise(batch_size=" in errors["batch_known"]
    assert expected in errors["array_last_batch"]
    assert "the last batch of" in errors["array_last_batch"]
    # Refused before anything changed; the model still works.
    assert errors["unchanged_after"]
    assert errors["generate_after"] is None
    assert errors["finite_after"]


@multi_device
def test_refuses_a_batch_of_unknown_size_the_devices_cannot_split(results):
    """A dataset that does not tell its batch size: the error comes from the
    step (TF: an empty replica; JAX: the sharding) and the model keeps its
    last weights, finite and usable."""
    errors = results["errors"]
    assert errors["batch_unknown"] is not None
    if BACKEND == "tensorflow":
        assert "received no latent vector" in errors["batch_later"]
    else:
        assert "IndivisibleError" in errors["batch_later"]
    assert errors["generate_after"] is None
    assert errors["finite_after"]


@jax_only
def test_refuses_teachers_built_before_the_distribution(results):
    error = results["errors"]["teachers_outside"]
    assert error.startswith("ValueError")
    assert "created before `keras.distribution.set_distribution(...)`" in error
    assert "dist_a_b1_conv1/kernel" in error
    assert results["errors"]["generate_after_outside"] is None


@tensorflow_only
def test_refuses_keras_distribution_under_tensorflow(results):
    error = results["errors"]["keras_distribution"]
    assert error.startswith("ValueError")
    assert "only the JAX backend trains with it" in error
    assert "tf.distribute.MirroredStrategy" in error


@tensorflow_only
def test_refuses_adversarial_amalgamation_on_several_replicas(results):
    error = results["errors"]["adversarial_replicas"]
    assert error.startswith("ValueError")
    assert "sample pool would differ between the replicas" in error


# ------------------------------------------------------- per-host seeds
def test_latent_noise_draws_its_own_stream_on_each_host(monkeypatch):
    host_0 = LatentNoise(4, batch_size=3, steps=2, seed=5)
    assert host_0.process_index == 0
    expected = draw_latents(3, 4, (5, 0, 1))  # what it always drew
    np.testing.assert_array_equal(host_0[1], expected)

    monkeypatch.setattr(keras_dfka.utils.distribution, "process_index", lambda: 1)
    host_1 = LatentNoise(4, batch_size=3, steps=2, seed=5)
    assert host_1.process_index == 1
    assert not np.allclose(host_1[1], expected)
    np.testing.assert_array_equal(host_1[1], draw_latents(3, 4, (5, 0, 1, 1)))
    np.testing.assert_array_equal(host_1[0], host_1[0])  # still reproducible
    monkeypatch.setattr(keras_dfka.utils.distribution, "process_index", lambda: 2)
    host_2 = LatentNoise(4, batch_size=3, steps=2, seed=5)
    assert not np.allclose(host_2[1], host_1[1])


def test_process_index_of_a_tensorflow_cluster(monkeypatch):
    monkeypatch.setattr(keras_dfka.utils.distribution, "_BACKEND", "tensorflow")
    config = {
        "cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert keras_dfka.utils.distribution.process_index() == 2
    config["task"] = {"type": "chief", "index": 0}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert keras_dfka.utils.distribution.process_index() == 0
    monkeypatch.delenv("TF_CONFIG")
    assert keras_dfka.utils.distribution.process_index() == 0


def test_batch_mean_is_the_mean_on_one_device():
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_allclose(
        np.asarray(keras_dfka.utils.distribution.batch_mean(x, (0, 1))), x.mean((0, 1))
    )
