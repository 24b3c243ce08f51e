import numpy as np
import pytest
from conftest import weights_of

import keras_dfka
from keras_dfka.experiments import faces


def test_label_model_starts_from_teacher_heads_and_trains_everything(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    dual = keras_dfka.DualGenerator(gan, ["blue", "is_bright", "green_most"])
    target = keras_dfka.TargetNet.from_dual(dual)
    student = faces.label_model(target)

    assert student.output.shape == (None, 3)
    heads = [layer for layer in student.layers if layer.name.endswith("_head")]
    assert len(heads) == 2
    for head in heads:
        # The teacher's weights, and trainable (the TargetNet's copy is frozen).
        expected = weights_of(target.get_layer(head.name))
        assert all(np.array_equal(a, b) for a, b in zip(weights_of(head), expected))
        assert head.trainable and len(head.trainable_weights) == len(head.weights)
    trunk = student.get_layer("trunk_block_1")
    assert trunk.trainable_weights
    # The trunk is re-initialized, not copied.
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(weights_of(trunk), weights_of(target.get_layer(trunk.name)))
    )
    # Same predictions as a model with the same labels: one column per label.
    x = np.random.default_rng(0).uniform(size=(4, 16, 16, 3)).astype("float32")
    assert student.predict(x, verbose=0).shape == (4, 3)


def _tiny_config(tmp_path, **overrides):
    config = faces.FaceConfig(
        workdir=str(tmp_path),
        latent_dim=8,
        batch_size=8,
        gan_steps=6,
        dual_steps=4,
        target_labels=["blue", "is_bright"],
        verbose=0,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_amalgamate_alternately_keeps_the_budget_and_syncs_the_generator(
    tiny_teachers, tmp_path
):
    config = _tiny_config(tmp_path)
    gan, dual, target, timings = faces.amalgamate(
        list(tiny_teachers), config, callbacks=False, alternate_steps=2
    )
    # 3 rounds: the GAN gets 2+2+2 steps, the dual 1+2+1 (spread evenly).
    assert int(gan.optimizer.iterations.numpy()) == 6
    assert int(dual.optimizer.iterations.numpy()) == 4
    # The last round refreshed the dual's frozen copy after the GAN's last step.
    assert all(
        np.array_equal(a, b)
        for a, b in zip(weights_of(dual.generator), weights_of(gan.generator))
    )
    assert set(timings) == {"amalgam_gan_s", "dual_generator_s"}
    assert target.predict_labels(gan.generate(4)).shape == (4, 2)


def test_amalgamate_rejects_non_positive_chunks(tiny_teachers, tmp_path):
    with pytest.raises(ValueError, match="alternate_steps"):
        faces.amalgamate(
            list(tiny_teachers),
            _tiny_config(tmp_path),
            callbacks=False,
            alternate_steps=0,
        )
