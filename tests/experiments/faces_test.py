import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import weights_of

import keras_dfka
from keras_dfka.experiments import faces


def test_label_model_starts_from_teacher_heads_and_trains_everything(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    dual = keras_dfka.DualGenerator(
        gan, ["blue", "is_bright", "green_most"], fine_tune_heads=True
    )
    dual.compile()
    dual.fit(keras_dfka.datasets.LatentNoise(8, 8, steps=2), verbose=0)
    target = keras_dfka.TargetNet.from_dual(dual)
    student = faces.label_model(target, list(tiny_teachers))

    assert student.output.shape == (None, 3)
    heads = [layer for layer in student.layers if layer.name.endswith("_head")]
    assert len(heads) == 2
    by_name = {f"branch_{t.name}_head": t for t in tiny_teachers}
    for head in heads:
        # The teacher's own weights, not the TargetNet's fine-tuned ones, and
        # trainable (the TargetNet's copy is frozen).
        expected = weights_of(by_name[head.name].head)
        assert all(np.array_equal(a, b) for a, b in zip(weights_of(head), expected))
        tuned = weights_of(target.get_layer(head.name))
        assert any(not np.array_equal(a, b) for a, b in zip(tuned, expected))
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


# A 6-step generator makes images of one class only: the warning is expected.
@pytest.mark.filterwarnings("ignore:balanced_latents. no image")
def test_amalgamate_on_balanced_latents_keeps_the_budget(tiny_teachers, tmp_path):
    config = _tiny_config(tmp_path, dual_steps=5)
    gan, dual, target, timings = faces.amalgamate(
        list(tiny_teachers), config, callbacks=False, balanced_latents=12
    )
    assert int(dual.optimizer.iterations.numpy()) == 5
    assert set(timings) == {"amalgam_gan_s", "balanced_latents_s", "dual_generator_s"}
    assert target.predict_labels(gan.generate(4)).shape == (4, 2)


@pytest.mark.filterwarnings("ignore:balanced_latents. no image")
def test_amalgamate_adds_hard_latents_for_the_second_half(
    tiny_teachers, tmp_path, monkeypatch
):
    config = _tiny_config(tmp_path, dual_steps=5)
    asked = []
    original = keras_dfka.DualGenerator.hard_latents

    def hard_latents(self, num_samples, **kwargs):
        # Called once, after the first (larger) half of the steps.
        asked.append((num_samples, int(self.optimizer.iterations.numpy())))
        return original(self, num_samples, **kwargs)

    monkeypatch.setattr(keras_dfka.DualGenerator, "hard_latents", hard_latents)
    gan, dual, target, timings = faces.amalgamate(
        list(tiny_teachers),
        config,
        callbacks=False,
        balanced_latents=12,
        hard_latents=6,
    )
    assert asked == [(6, 3)]
    assert int(dual.optimizer.iterations.numpy()) == 5
    assert set(timings) == {
        "amalgam_gan_s",
        "balanced_latents_s",
        "hard_latents_s",
        "dual_generator_s",
    }
    assert target.predict_labels(gan.generate(4)).shape == (4, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"balanced_latents": 0}, "`balanced_latents` must be an integer >= 1"),
        ({"hard_latents": 4}, "give `balanced_latents` too"),
        (
            {"balanced_latents": 8, "hard_latents": 0},
            "`hard_latents` must be an integer >= 1",
        ),
        (
            {"balanced_latents": 8, "alternate_steps": 2},
            "cannot be combined with `alternate_steps`",
        ),
    ],
)
def test_amalgamate_rejects_bad_balanced_latents(
    tiny_teachers, tmp_path, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        faces.amalgamate(
            list(tiny_teachers), _tiny_config(tmp_path), callbacks=False, **kwargs
        )


def test_reference_students_train_one_model_per_image_set(tiny_teachers, tmp_path):
    config = _tiny_config(tmp_path, student_steps=3)
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    dual = keras_dfka.DualGenerator(gan, config.target_labels)
    target = keras_dfka.TargetNet.from_dual(dual)
    x_train = np.random.default_rng(1).uniform(size=(16, 16, 16, 3)).astype("float32")

    inputs = faces.reference_inputs(x_train, seed=3)
    assert list(inputs) == ["data_student", "noise_student"]
    assert inputs["data_student"] is x_train
    noise = inputs["noise_student"]
    assert noise.shape == x_train.shape and noise.dtype == np.float32
    assert 0.0 <= noise.min() and noise.max() < 1.0
    np.testing.assert_array_equal(
        noise, faces.reference_inputs(x_train, seed=3)["noise_student"]
    )
    assert not np.array_equal(
        noise, faces.reference_inputs(x_train, seed=4)["noise_student"]
    )

    students, seconds = faces.train_reference_students(
        target, list(tiny_teachers), config.target_labels, inputs, config
    )
    assert list(students) == list(seconds) == ["data_student", "noise_student"]
    assert all(s >= 0.0 for s in seconds.values())
    for student in students.values():
        # 3 steps of batch 8 over 16 images: rounded to 2 epochs of 2 steps.
        assert int(student.optimizer.iterations.numpy()) == 4
        assert student.predict(x_train, verbose=0).shape == (16, 2)
    # Trained on different images, the two students differ.
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            weights_of(students["data_student"]), weights_of(students["noise_student"])
        )
    )


def test_name_seed_is_the_same_in_every_process():
    code = (
        "from keras_dfka.experiments import faces; "
        "print([faces.name_seed(n) for n in ('hair', 'face', 'mouth')])"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONHASHSEED=hash_seed),
            check=True,
        )
        outputs.add(result.stdout.strip().splitlines()[-1])
    assert len(outputs) == 1, outputs
    values = [faces.name_seed(n) for n in ("hair", "face", "mouth")]
    assert str(values) in outputs
    assert all(0 <= v < 1000 for v in values)
    assert len(set(values)) == 3
