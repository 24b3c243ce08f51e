"""The schedules, each run through `amalgamate` at a tiny size."""

import numpy as np
import pytest
from conftest import weights_of

import keras_dfka
from keras_dfka.amalgamation import schedules
from keras_dfka.amalgamation.config import AmalgamationConfig

TARGETS = ["blue", "is_bright"]


def tiny_config(**changes):
    """A tiny run of the sequential preset (the schedules' own tests say
    `schedule=`)."""
    values = dict(latent_dim=8, batch_size=8, gan_steps=6, dual_steps=4, verbose=0)
    return AmalgamationConfig.from_preset("sequential", **{**values, **changes})


def test_schedules_are_the_choices_of_the_config():
    assert sorted(schedules.SCHEDULES) == ["adversarial", "alternate", "sequential"]
    assert schedules.SCHEDULES is keras_dfka.amalgamation.SCHEDULES


def test_learning_rate_reaches_both_stages_and_the_seed_matters(tiny_teachers):
    # (Two runs with the same seed give the same TargetNet: see
    # tests/cli_test.py, which compares the command line with this function.)
    images = np.random.default_rng(0).uniform(size=(4, 16, 16, 3)).astype("float32")
    predictions = []
    for seed in (1, 2):
        config = tiny_config(seed=seed, learning_rate=0.0123)
        result = keras_dfka.amalgamate(list(tiny_teachers), TARGETS, config)
        for model in (result.gan, result.dual):
            rates = [float(o.learning_rate) for o in model.optimizer.optimizers]
            assert rates == pytest.approx([0.0123, 0.0123])
        assert int(result.gan.optimizer.iterations.numpy()) == 6
        assert int(result.dual.optimizer.iterations.numpy()) == 4
        assert set(result.timings) == {"amalgam_gan_s", "dual_generator_s"}
        assert [len(h) for h in result.histories.values()] == [1, 1]
        assert result.target_net.target_labels == TARGETS
        assert result.config is config
        predictions.append(result.target_net.predict_labels(images))
    assert not np.array_equal(*predictions)


def test_alternate_keeps_the_budget_and_syncs_the_generator(tiny_teachers):
    result = keras_dfka.amalgamate(
        list(tiny_teachers),
        TARGETS,
        tiny_config(schedule="alternate", alternate_steps=2),
    )
    gan, dual = result.gan, result.dual
    # 3 rounds: the GAN gets 2+2+2 steps, the dual 1+2+1 (spread evenly).
    assert int(gan.optimizer.iterations.numpy()) == 6
    assert int(dual.optimizer.iterations.numpy()) == 4
    # The last round refreshed the dual's frozen copy after the GAN's last step.
    assert all(
        np.array_equal(a, b)
        for a, b in zip(weights_of(dual.generator), weights_of(gan.generator))
    )
    assert set(result.timings) == {"amalgam_gan_s", "dual_generator_s"}
    assert [len(h) for h in result.histories.values()] == [3, 3]
    assert result.target_net.predict_labels(gan.generate(4)).shape == (4, 2)


# A 6-step generator makes images of one class only: the warning is expected.
@pytest.mark.filterwarnings("ignore:balanced_latents. no image")
def test_balanced_latents_then_hard_ones_keep_the_budget(tiny_teachers, monkeypatch):
    asked = []
    original = keras_dfka.DualGenerator.hard_latents

    def hard_latents(self, num_samples, **kwargs):
        # Called once, after the first (larger) half of the steps.
        asked.append((num_samples, int(self.optimizer.iterations.numpy())))
        return original(self, num_samples, **kwargs)

    monkeypatch.setattr(keras_dfka.DualGenerator, "hard_latents", hard_latents)
    result = keras_dfka.amalgamate(
        list(tiny_teachers),
        TARGETS,
        tiny_config(
            dual_steps=5, balance_task="dominant", balanced_latents=12, hard_latents=6
        ),
    )
    assert asked == [(6, 3)]
    assert int(result.dual.optimizer.iterations.numpy()) == 5
    assert len(result.histories["dual_generator"]) == 2
    assert set(result.timings) == {
        "amalgam_gan_s",
        "balanced_latents_s",
        "hard_latents_s",
        "dual_generator_s",
    }


def test_adversarial_schedule_trains_both_then_the_student(tiny_teachers):
    # The default configuration, at a tiny size.
    config = AmalgamationConfig(
        latent_dim=8, batch_size=8, gan_steps=3, dual_steps=5, pool_size=16, verbose=0
    )
    assert config.schedule == "adversarial" and config.student_updates == 2
    result = keras_dfka.amalgamate(list(tiny_teachers), TARGETS, config)
    assert set(result.timings) == {"adversarial_amalgamation_s"}
    assert result.steps == {"adversarial_amalgamation": 5}
    assert len(result.histories["adversarial_amalgamation"]) == 2
    rates = result.steps_per_second()
    assert rates["adversarial_amalgamation"] > 0
    # The generator stopped after its 3 steps; the student went on alone.
    assert result.gan.latent_targets
    images = result.gan.generate(4)
    assert result.target_net.predict_labels(images).shape == (4, 2)


def test_student_learning_rate_decay_reaches_the_student_only(
    tiny_teachers, monkeypatch
):
    # Cosine decay from learning_rate to 0 over all of the student's updates
    # (student_updates per step); the generator keeps its constant rate.
    made = []
    original = schedules.default_optimizer

    def spy(learning_rate):
        made.append(original(learning_rate))
        return made[-1]

    monkeypatch.setattr(schedules, "default_optimizer", spy)
    config = AmalgamationConfig(
        latent_dim=8,
        batch_size=8,
        gan_steps=3,
        dual_steps=5,
        pool_size=16,
        verbose=0,
        learning_rate=0.01,
        student_learning_rate_decay="cosine",
    )
    keras_dfka.amalgamate(list(tiny_teachers), TARGETS, config)
    (student,) = made
    assert int(student.iterations.numpy()) == 5 * config.student_updates
    assert float(student.learning_rate) == 0.0

    # The sequential schedule: the dual generator's optimizers decay over
    # its dual_steps.
    result = keras_dfka.amalgamate(
        list(tiny_teachers),
        TARGETS,
        tiny_config(learning_rate=0.01, student_learning_rate_decay="cosine"),
    )
    assert int(result.dual.optimizer.iterations.numpy()) == 4
    assert [float(o.learning_rate) for o in result.dual.optimizer.optimizers] == [
        0.0,
        0.0,
    ]
    assert [float(o.learning_rate) for o in result.gan.optimizer.optimizers] == (
        pytest.approx([0.01, 0.01])
    )
