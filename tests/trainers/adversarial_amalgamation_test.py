import keras
import numpy as np
import pytest
from conftest import all_equal
from conftest import any_changed
from conftest import weights_of
from trainer_case import assert_round_trip

import keras_dfka
from keras_dfka.models.student_block import build_student_block
from keras_dfka.trainers import adversarial_amalgamation

TARGETS = ["red", "is_bright", "blue_most"]


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def build(teachers, **kwargs):
    gan = keras_dfka.AmalgamGAN(
        list(teachers), latent_dim=8, loss_weights="adversarial", latent_targets=True
    )
    dual = keras_dfka.DualGenerator(gan, TARGETS, block_wise=False)
    options = dict(pool_size=40, adversarial_start=1, seed=0, student_updates=2)
    options.update(kwargs)
    trainer = keras_dfka.AdversarialAmalgamation(gan, dual, **options)
    trainer.compile()
    return gan, dual, trainer


def test_fit_trains_generator_and_student_and_fills_the_pool(tiny_teachers):
    teacher_a, teacher_b = tiny_teachers
    gan, dual, trainer = build(tiny_teachers)
    teachers_before = weights_of(teacher_a) + weights_of(teacher_b)
    generator_before = weights_of(gan.generator)
    trunk_before = [weights_of(b) for b in dual.student_blocks]
    noise = keras_dfka.datasets.LatentNoise(8, batch_size=16, steps=3)
    history = trainer.fit(noise, epochs=1, verbose=0)

    # Teachers (weights and BatchNorm statistics) unchanged.
    assert all_equal(teachers_before, weights_of(teacher_a) + weights_of(teacher_b))
    assert any_changed(generator_before, weights_of(gan.generator))
    after = [weights_of(b) for b in dual.student_blocks]
    assert all(any_changed(b, a) for b, a in zip(trunk_before, after))
    # Three pushes of 16 into 40 places.
    assert int(numpy(trainer.pool.count)) == 48
    assert int(numpy(trainer.pool.size)) == 40
    assert numpy(trainer.pool.images).max() > 0
    assert int(numpy(trainer.step_count)) == 3
    # One generator and two student updates per step.
    assert int(numpy(trainer.generator_optimizer.iterations)) == 3
    assert int(numpy(trainer.student_optimizer.iterations)) == 6
    assert int(numpy(trainer.optimizer.iterations)) == 3
    expected = {"generator_loss", "student_loss", "adversarial"}
    assert expected <= set(history.history)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert history.history["adversarial"][0] <= 0.0


def test_each_phase_updates_only_its_own_model(tiny_teachers):
    gan, dual, trainer = build(tiny_teachers)
    variables = {id(v) for v in trainer.trainable_variables}
    generator = {id(v) for v in gan.trainable_variables}
    student = {id(v) for v in dual.trainable_variables}
    assert generator.isdisjoint(student)
    assert variables == generator | student
    # The student's optimizer holds the student's variables, the generator's
    # optimizer the generator's and its filters'.
    inner = trainer.optimizer.optimizers
    assert len(inner) == 2
    by_optimizer = [
        {
            id(v)
            for v in trainer.trainable_variables
            if trainer.optimizer._optimizer_map(v) is opt
        }
        for opt in inner
    ]
    assert generator in by_optimizer and student in by_optimizer


def test_student_only_steps_leave_generator_and_pool_alone(tiny_teachers):
    gan, dual, trainer = build(tiny_teachers)
    noise = keras_dfka.datasets.LatentNoise(8, batch_size=16, steps=2)
    trainer.fit(noise, epochs=1, verbose=0)
    generator_before = weights_of(gan.generator)
    pool_before = numpy(trainer.pool.images).copy()
    trunk_before = [weights_of(b) for b in dual.student_blocks]
    trainer.set_generator_training(False)
    history = trainer.fit(noise, epochs=1, verbose=0)
    assert all_equal(generator_before, weights_of(gan.generator))
    np.testing.assert_array_equal(pool_before, numpy(trainer.pool.images))
    assert int(numpy(trainer.pool.count)) == 32
    after = [weights_of(b) for b in dual.student_blocks]
    assert all(any_changed(b, a) for b, a in zip(trunk_before, after))
    assert set(history.history) == {"student_loss"}
    assert int(numpy(trainer.generator_optimizer.iterations)) == 2
    assert int(numpy(trainer.student_optimizer.iterations)) == 8
    with pytest.raises(ValueError, match="train_generator"):
        trainer.set_generator_training("no")


def test_adversarial_term_waits_for_its_start(tiny_teachers):
    gan, dual, trainer = build(tiny_teachers, adversarial_start=1000)
    z = np.random.default_rng(0).standard_normal((16, 8)).astype("float32")
    loss, logs = trainer.generator_phase_loss(z, training=False)
    gan_loss, _ = gan.compute_step_loss(z, training=False)
    # Not started: the generator's loss is AmalgamGAN's alone.
    assert float(numpy(loss)) == pytest.approx(float(numpy(gan_loss)), rel=1e-6)
    # Logged before it starts; <= 0 (exactly 0 when the untrained student
    # agrees with the teachers on no decision, as happens under some inits).
    adversarial = float(numpy(logs["adversarial"]))
    assert adversarial <= 0.0
    trainer.adversarial_start = 0
    trainer.adversarial_weight = 3.0
    started, _ = trainer.generator_phase_loss(z, training=False)
    assert float(numpy(started)) == pytest.approx(
        float(numpy(gan_loss)) + 3.0 * adversarial, rel=1e-5, abs=1e-6
    )


def test_the_target_net_comes_from_the_student(tiny_teachers):
    _, dual, trainer = build(tiny_teachers)
    trainer.fit(keras_dfka.datasets.LatentNoise(8, 16, steps=2), verbose=0)
    target = keras_dfka.TargetNet.from_dual(dual)
    images = np.random.default_rng(1).uniform(size=(5, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(
        target.predict_labels(images), numpy(dual(images)), atol=1e-5
    )


def test_student_mixup_trains_on_mixed_pool_images(tiny_teachers, monkeypatch):
    # With student_mixup the student (and the teachers labelling its batch)
    # see the mixed images: the distillation loss is called on
    # random_mixup's output.
    _, dual, trainer = build(tiny_teachers, student_mixup=True)
    calls = []
    mixup = adversarial_amalgamation.random_mixup

    def spy(images, seed):
        mixed = mixup(images, seed)
        calls.append(mixed)
        return mixed

    seen = []
    distill = dual.image_distillation_loss

    def spy_loss(images, training=False):
        seen.append(images)
        return distill(images, training=training)

    monkeypatch.setattr(adversarial_amalgamation, "random_mixup", spy)
    monkeypatch.setattr(dual, "image_distillation_loss", spy_loss)
    before = [weights_of(b) for b in dual.student_blocks]
    history = trainer.fit(keras_dfka.datasets.LatentNoise(8, 16, steps=2), verbose=0)
    assert np.isfinite(history.history["student_loss"][0])
    # Traced once per student update (or run once per update eagerly).
    assert len(calls) >= 2 and len(seen) == len(calls)
    assert all(mixed is images for mixed, images in zip(calls, seen))
    after = [weights_of(b) for b in dual.student_blocks]
    assert all(any_changed(b, a) for b, a in zip(before, after))


def test_round_trip(tiny_teachers, tmp_path):
    _, _, trainer = build(
        tiny_teachers, pool_size=33, adversarial_weight=0.5, student_mixup=True
    )
    z = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    images = np.random.default_rng(1).uniform(size=(3, 16, 16, 3)).astype("float32")

    def outputs(model):
        return {
            "images": model.amalgam_gan.generate(z=z),
            "labels": numpy(model.dual_generator(images)),
            "pool": numpy(model.pool.images),
        }

    loaded = assert_round_trip(trainer, tmp_path, outputs)
    assert loaded.pool_size == 33
    assert loaded.student_mixup is True
    assert loaded.adversarial_weight == 0.5
    assert loaded.dual_generator.amalgam_gan is loaded.amalgam_gan
    assert loaded.dual_generator.target_labels == TARGETS
    assert int(numpy(loaded.student_optimizer.iterations)) == 4


def test_bad_arguments_are_refused(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    other = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    dual = keras_dfka.DualGenerator(gan, TARGETS, block_wise=False)
    block_wise = keras_dfka.DualGenerator(gan, TARGETS)
    cls = keras_dfka.AdversarialAmalgamation
    with pytest.raises(ValueError, match="`amalgam_gan` must be"):
        cls("gan", dual)
    with pytest.raises(ValueError, match="`dual_generator` must be a"):
        cls(gan, gan)
    with pytest.raises(ValueError, match="built from `amalgam_gan`"):
        cls(other, dual)
    with pytest.raises(ValueError, match="block_wise=False"):
        cls(gan, block_wise)
    with pytest.raises(ValueError, match="pool_size"):
        cls(gan, dual, pool_size=0)
    with pytest.raises(ValueError, match="adversarial_weight"):
        cls(gan, dual, adversarial_weight=float("nan"))
    with pytest.raises(ValueError, match="adversarial_start"):
        cls(gan, dual, adversarial_start=-1)
    with pytest.raises(ValueError, match="student_batch_size"):
        cls(gan, dual, student_batch_size=0)
    trainer = cls(gan, dual)
    with pytest.raises(ValueError, match="`loss` is not an argument"):
        trainer.compile(loss="mse")
    shared = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer instances"):
        trainer.compile(generator_optimizer=shared, student_optimizer=shared)


def test_compile_takes_a_schedule_and_refuses_shared_variable_paths(tiny_teachers):
    gan, _, trainer = build(tiny_teachers)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)
    trainer.compile(learning_rate=schedule)
    config = trainer.get_compile_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    # A custom block whose layer has the name of a generator layer: the
    # optimizers are chosen by variable path, so compile() refuses it.
    shapes = gan.level_shapes
    generator_layer = gan.generator.layers[1].name
    image = keras.Input(shapes[0])
    conv = keras.layers.Conv2D(
        shapes[1][-1], 3, strides=2, padding="same", name=generator_layer
    )
    first = keras.Model(image, conv(image))
    rest = [
        build_student_block(shapes[b - 1], shapes[b], 1, name=f"custom_{b}")
        for b in range(2, gan.num_blocks + 1)
    ]
    dual = keras_dfka.DualGenerator(
        gan, TARGETS, blocks=[first] + rest, block_wise=False
    )
    clashing = keras_dfka.AdversarialAmalgamation(gan, dual)
    with pytest.raises(
        ValueError, match="`student_optimizer` trains a variable of path"
    ):
        clashing.compile()


def test_latent_targets_need_a_wide_enough_latent(tiny_teachers):
    with pytest.raises(ValueError, match="`latent_dim` must be at least 7"):
        keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=4, latent_targets=True)
    with pytest.raises(ValueError, match="latent_targets"):
        keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8, latent_targets="yes")
