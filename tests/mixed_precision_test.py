"""Both stage trainers under a mixed precision policy: float32 losses and
variables, images in [0, 1], finite after a few steps."""

import keras
import numpy as np
import pytest
from conftest import BACKEND

import keras_dfka
from keras_dfka.datasets import LatentNoise

pytestmark = pytest.mark.skipif(
    BACKEND == "torch", reason="mixed precision is tested on TensorFlow and JAX"
)


@pytest.fixture(params=["mixed_bfloat16", "mixed_float16"])
def policy(request):
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy("float32")


def finite(model):
    return all(
        np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in model.weights
    )


def test_both_trainers_train_in_mixed_precision(tiny_teachers, policy):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8, seed=0)
    gan.compile()
    if policy == "mixed_float16":  # Keras adds loss scaling.
        assert isinstance(gan.optimizer, keras.optimizers.LossScaleOptimizer)
    assert gan.generator.compute_dtype == policy[len("mixed_") :]
    z = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(4, 8)))
    loss, logs = gan.compute_step_loss(keras.ops.cast(z, "float32"), training=True)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    history = gan.fit(LatentNoise(8, batch_size=8, steps=3), verbose=0)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert finite(gan)
    assert all(v.dtype == "float32" for v in gan.trainable_variables)
    images = gan.generate(5)
    assert images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0

    dual = keras_dfka.DualGenerator(gan, ["red", "is_bright"])
    dual.compile()
    loss, _ = dual.compute_step_loss(keras.ops.cast(z, "float32"), training=True)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    history = dual.fit(LatentNoise(8, batch_size=8, steps=3), verbose=0)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert finite(dual)


def test_adversarial_amalgamation_trains_in_mixed_precision(tiny_teachers, policy):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8, seed=0)
    dual = keras_dfka.DualGenerator(gan, ["red", "is_bright"], block_wise=False)
    trainer = keras_dfka.AdversarialAmalgamation(
        gan, dual, pool_size=16, adversarial_start=0, seed=0
    )
    trainer.compile()
    assert dual.compute_dtype == policy[len("mixed_") :]
    start = [keras.ops.convert_to_numpy(v) for v in dual.trainable_variables]
    history = trainer.fit(LatentNoise(8, batch_size=8, steps=3), verbose=0)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert finite(trainer)
    assert all(v.dtype == "float32" for v in trainer.trainable_variables)
    # Both the generator's and the student's phases moved their weights.
    moved = [
        not np.array_equal(s, keras.ops.convert_to_numpy(v))
        for s, v in zip(start, dual.trainable_variables)
    ]
    assert any(moved)
    assert int(keras.ops.convert_to_numpy(trainer.pool.size)) == 16
