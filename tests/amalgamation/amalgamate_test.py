"""`amalgamate`, the one entry point: its arguments and its result."""

import pytest

import keras_dfka
from keras_dfka.amalgamation.config import AmalgamationConfig

TARGETS = ["blue", "is_bright"]


SEQUENTIAL = AmalgamationConfig.from_preset(
    "sequential", latent_dim=8, batch_size=8, gan_steps=2, dual_steps=2, verbose=0
)


def test_amalgamate_checks_its_arguments_before_training(tiny_teachers):
    with pytest.raises(ValueError, match="`config` must be"):
        keras_dfka.amalgamate(list(tiny_teachers), TARGETS, {"gan_steps": 3})
    with pytest.raises(ValueError, match="no teacher predicts"):
        keras_dfka.amalgamate(list(tiny_teachers), ["purple"], SEQUENTIAL)
    with pytest.raises(ValueError, match="softmax"):
        keras_dfka.amalgamate(
            list(tiny_teachers), TARGETS, SEQUENTIAL.replace(balance_task="color")
        )


def test_logdir_logs_curves_without_changing_the_target_net(tiny_teachers, tmp_path):
    """The monitor that `logdir` adds reads the models between steps (and syncs
    JAX's state): the TargetNet is the same as without it. The result also
    carries each target label's coverage."""
    import keras
    import numpy as np

    config = AmalgamationConfig(
        gan_steps=60, dual_steps=60, batch_size=8, latent_dim=16, verbose=0
    )
    labels = ["red", "is_bright"]
    plain = keras_dfka.amalgamate(list(tiny_teachers), labels, config)
    logged = keras_dfka.amalgamate(
        list(tiny_teachers), labels, config, logdir=str(tmp_path)
    )
    for a, b in zip(plain.target_net.weights, logged.target_net.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b)
        )
    events = list((tmp_path / "adversarial_amalgamation").glob("events.out.*"))
    assert events and not list(tmp_path.rglob("*.png"))
    assert list(logged.coverage) == labels
    for shares in logged.coverage.values():
        assert 0.0 <= shares["positive"] <= 1.0 and 0.0 <= shares["boundary"] <= 1.0
