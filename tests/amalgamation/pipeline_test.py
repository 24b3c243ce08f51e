import dataclasses
import inspect

import keras
import numpy as np
import pytest
from conftest import weights_of

import keras_dfka
from keras_dfka.amalgamation import pipeline
from keras_dfka.amalgamation.pipeline import PRESETS
from keras_dfka.amalgamation.pipeline import RECIPE_DEFAULTS
from keras_dfka.amalgamation.pipeline import AmalgamationConfig
from keras_dfka.amalgamation.pipeline import parse_field

TARGETS = ["blue", "is_bright"]


def tiny_config(**changes):
    """A tiny run of the sequential preset (the schedules' own tests say
    `schedule=`)."""
    values = dict(latent_dim=8, batch_size=8, gan_steps=6, dual_steps=4, verbose=0)
    return AmalgamationConfig.from_preset("sequential", **{**values, **changes})


# ------------------------------------------------------------------ config
def test_every_trainer_default_lives_in_the_config():
    # Each constructor argument of the two trainers that is not a model, a
    # name or a seed has a field of the same name and the same default
    # (`augment`'s None means "on except for the paper's loss weights").
    # The fields of RECIPE_DEFAULTS hold the adversarial recipe instead, and
    # only those.
    fields = {f.name: f for f in dataclasses.fields(AmalgamationConfig)}
    config = AmalgamationConfig()
    skipped = {"teachers", "amalgam_gan", "dual_generator", "target_labels"}
    skipped |= {"blocks", "name", "seed"}
    differing = {}
    for cls in (
        keras_dfka.AmalgamGAN,
        keras_dfka.DualGenerator,
        keras_dfka.AdversarialAmalgamation,
    ):
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name in skipped or parameter.default is inspect.Parameter.empty:
                continue
            assert name in fields, (cls.__name__, name)
            expected = True if name == "augment" else parameter.default
            if getattr(config, name) != expected:
                differing[name] = getattr(config, name)
    assert differing == RECIPE_DEFAULTS
    assert set(config.gan_options()) | set(config.dual_options()) <= set(fields)
    for field in dataclasses.fields(AmalgamationConfig):
        assert field.metadata["help"], field.name


def test_from_preset_default_paper_and_sequential():
    default = AmalgamationConfig.from_preset("default")
    assert default == AmalgamationConfig()
    assert default.schedule == "adversarial" and not default.block_wise
    paper = AmalgamationConfig.from_preset("paper", seed=3)
    assert paper.schedule == "sequential" and paper.loss_weights == "paper"
    assert paper.augment is False and not paper.latent_targets
    assert paper.block_wise and paper.stream_weights == (1.0, 1.0)
    assert not paper.fine_tune_heads and paper.seed == 3
    sequential = AmalgamationConfig.from_preset("sequential")
    assert sequential.schedule == "sequential" and sequential.block_wise
    assert sequential.loss_weights == "default" and sequential.augment
    assert sorted(PRESETS) == ["default", "paper", "sequential"]
    with pytest.raises(ValueError, match="`name` must be one of"):
        AmalgamationConfig.from_preset("fast")


def test_config_round_trips_through_a_dict():
    config = AmalgamationConfig.from_preset(
        "sequential",
        loss_weights={"batch_norm": 1.0},
        hard_latents=4,
        balanced_latents=8,
        jit_compile=False,
    )
    assert AmalgamationConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="Unknown AmalgamationConfig fields"):
        AmalgamationConfig.from_dict({"gan_step": 3})


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"schedule": "fast"}, "`schedule` must be one of"),
        ({"gan_steps": 0}, "`gan_steps` must be an integer >= 1"),
        ({"alternate_steps": 0}, "`alternate_steps` must be an integer >= 1"),
        ({"learning_rate": -1.0}, "`learning_rate` must be a finite number > 0"),
        ({"loss_weights": "fast"}, "`loss_weights` must be one of"),
        ({"jit_compile": "yes"}, "`jit_compile` must be 'auto', True or False"),
        (
            {"student_learning_rate_decay": "linear"},
            "`student_learning_rate_decay` must be one of",
        ),
        ({"balanced_latents": 0}, "`balanced_latents` must be an integer >= 1"),
        ({"hard_latents": 4}, "give `balanced_latents` or `balance_task` too"),
        (
            {"balanced_latents": 8, "hard_latents": 0},
            "`hard_latents` must be an integer >= 1",
        ),
        (
            {"balanced_latents": 8, "schedule": "alternate"},
            "need schedule='sequential'",
        ),
    ],
)
def test_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        AmalgamationConfig(**changes)


def test_balanced_latent_count():
    def sequential(**changes):
        return AmalgamationConfig.from_preset("sequential", **changes)

    assert AmalgamationConfig().balanced_latent_count() is None
    assert sequential(balanced_latents=7).balanced_latent_count() == 7
    config = sequential(balance_task="digit", dual_steps=10, batch_size=4)
    assert config.balanced_latent_count() == 40
    assert sequential(balance_task="digit").balanced_latent_count() == 32000


def test_parse_field():
    assert parse_field("gan_steps", "12") == 12
    assert parse_field("learning_rate", "0.5") == 0.5
    assert parse_field("block_wise", "false") is False
    assert parse_field("jit_compile", "false") is False
    assert parse_field("jit_compile", "auto") == "auto"
    assert parse_field("stream_weights", "1,0") == [1.0, 0.0]
    assert parse_field("balanced_latents", "none") is None
    assert parse_field("loss_weights", "paper") == "paper"
    assert parse_field("loss_weights", '{"batch_norm": 2}') == {"batch_norm": 2}
    with pytest.raises(ValueError, match="`gan_steps` expects a value of type int"):
        parse_field("gan_steps", "many")
    with pytest.raises(ValueError, match="Unknown AmalgamationConfig field"):
        parse_field("steps", "3")


# ---------------------------------------------------------------- amalgamate
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


def test_amalgamate_checks_its_arguments_before_training(tiny_teachers):
    with pytest.raises(ValueError, match="`config` must be"):
        keras_dfka.amalgamate(list(tiny_teachers), TARGETS, {"gan_steps": 3})
    with pytest.raises(ValueError, match="no teacher predicts"):
        keras_dfka.amalgamate(list(tiny_teachers), ["purple"], tiny_config())
    with pytest.raises(ValueError, match="softmax"):
        keras_dfka.amalgamate(
            list(tiny_teachers), TARGETS, tiny_config(balance_task="color")
        )


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
    original = pipeline.default_optimizer

    def spy(learning_rate):
        made.append(original(learning_rate))
        return made[-1]

    monkeypatch.setattr(pipeline, "default_optimizer", spy)
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
    rate = config.student_learning_rate(10)
    assert isinstance(rate, keras.optimizers.schedules.CosineDecay)
    assert float(rate(0)) == pytest.approx(0.01) and float(rate(10)) == 0.0
    assert float(rate(5)) == pytest.approx(0.005)
    assert config.replace(student_learning_rate_decay="none").student_learning_rate(
        10
    ) == pytest.approx(0.01)
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


def test_adversarial_schedule_checks_its_fields():
    with pytest.raises(ValueError, match="`dual_steps` must be at least"):
        tiny_config(schedule="adversarial", block_wise=False, gan_steps=6, dual_steps=4)
    with pytest.raises(ValueError, match="`block_wise` must be False"):
        tiny_config(schedule="adversarial", block_wise=True, dual_steps=6)
    with pytest.raises(ValueError, match="pool_size"):
        tiny_config(pool_size=0)
    with pytest.raises(ValueError, match="adversarial_weight"):
        tiny_config(adversarial_weight=float("inf"))
    with pytest.raises(ValueError, match="student_updates"):
        tiny_config(student_updates=0)


def test_checkpoints_written_before_max_feature_width_still_resume():
    from keras_dfka.amalgamation.checkpoint import run_fingerprint

    # At its default the field is left out of the fingerprint, as in the
    # checkpoints written before it existed; another value is checked.
    default = run_fingerprint(AmalgamationConfig(), [], ["a"])["config"]
    assert "max_feature_width" not in default
    other = run_fingerprint(AmalgamationConfig(max_feature_width=64), [], ["a"])
    assert other["config"]["max_feature_width"] == 64
    # The same for the fields added after it.
    for name, value in (
        ("student_learning_rate_decay", "cosine"),
        ("student_mixup", True),
    ):
        assert name not in default
        other = run_fingerprint(AmalgamationConfig(**{name: value}), [], ["a"])
        assert other["config"][name] == value
