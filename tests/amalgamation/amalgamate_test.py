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
