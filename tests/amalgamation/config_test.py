import dataclasses
import inspect

import keras
import pytest

import keras_dfka
from keras_dfka.amalgamation.config import AmalgamationConfig
from keras_dfka.amalgamation.config import default_of
from keras_dfka.amalgamation.presets import RECIPE_DEFAULTS
from keras_dfka.utils.validation import ArgumentError

TRAINERS = (
    keras_dfka.AmalgamGAN,
    keras_dfka.DualGenerator,
    keras_dfka.AdversarialAmalgamation,
)


def trainer_fields():
    """`(field, trainer)` for each config field passed to a trainer."""
    return [
        (field, field.metadata["trainer"])
        for field in dataclasses.fields(AmalgamationConfig)
        if field.metadata["trainer"] is not None
    ]


# ---------------------------------------------------------------- defaults
def test_trainer_fields_take_the_constructor_default_object():
    # One default per value: a field passed to a trainer has the argument's
    # name and its default is the constructor's default itself (the same
    # object, not an equal literal), but for RECIPE_DEFAULTS, whose value
    # is the config's default and differs from the constructor's.
    fields = trainer_fields()
    assert {trainer for _, trainer in fields} == set(TRAINERS)
    for field, trainer in fields:
        parameter = inspect.signature(trainer.__init__).parameters[field.name]
        if field.name in RECIPE_DEFAULTS:
            assert field.default is RECIPE_DEFAULTS[field.name], field.name
            assert field.default != parameter.default, field.name
        else:
            assert field.default is parameter.default, field.name
    assert set(RECIPE_DEFAULTS) <= {field.name for field, _ in fields}


def test_every_trainer_argument_with_a_default_is_a_config_field():
    # (But for models, names and the seed, which the schedules pass.)
    names = {field.name: trainer for field, trainer in trainer_fields()}
    skipped = {"blocks", "name", "seed"}
    for trainer in TRAINERS:
        for name, parameter in inspect.signature(trainer.__init__).parameters.items():
            if name in skipped or parameter.default is inspect.Parameter.empty:
                continue
            assert names.get(name) is trainer, (trainer.__name__, name)


def test_options_are_the_fields_of_each_trainer():
    config = AmalgamationConfig(pool_size=7, latent_dim=5, temperature=2.0)
    assert config.gan_options()["latent_dim"] == 5
    assert config.dual_options()["temperature"] == 2.0
    adversarial = config.options(keras_dfka.AdversarialAmalgamation)
    assert adversarial["pool_size"] == 7 and "latent_dim" not in adversarial
    names = set(config.gan_options()) | set(config.dual_options()) | set(adversarial)
    assert names == {field.name for field, _ in trainer_fields()}


def test_default_of():
    assert default_of(keras_dfka.AdversarialAmalgamation, "pool_size") == 20000

    def function(a, b=(1, 2)):
        return a, b

    assert (
        default_of(function, "b") is inspect.signature(function).parameters["b"].default
    )
    with pytest.raises(ValueError, match="has no argument `a` with a default"):
        default_of(function, "a")
    with pytest.raises(ValueError, match="has no argument `nope`"):
        default_of(keras_dfka.AmalgamGAN, "nope")


# ------------------------------------------------------------------ checks
def test_every_field_has_help_and_is_checked_with_its_name():
    # Each field is checked when the config is made, and the error says
    # which field as data (ArgumentError.argument), not only in its text.
    for field in dataclasses.fields(AmalgamationConfig):
        assert field.metadata["help"], field.name
        with pytest.raises(ArgumentError) as info:
            AmalgamationConfig(**{field.name: object()})
        assert info.value.argument == field.name


@pytest.mark.parametrize(
    "changes, argument",
    [
        ({"pool_size": 0}, "pool_size"),
        ({"feature_widths": [8, 0]}, "feature_widths"),
        ({"loss_weights": {"batch_norm": -1.0}}, "loss_weights"),
        ({"loss_weights": "fast"}, "loss_weights"),
        ({"max_feature_width": 4}, "max_feature_width"),
        ({"stream_weights": (0.0, 0.0)}, "stream_weights"),
        ({"teacher_weights": [1.0, float("nan")]}, "teacher_weights"),
        ({"resume": True}, "resume"),
        ({"gan_steps": 10, "dual_steps": 5}, "dual_steps"),
        ({"block_wise": True}, "block_wise"),
        ({"balance_task": "digit"}, "balance_task"),
        ({"balanced_latents": 8}, "balanced_latents"),
        ({"schedule": "sequential", "hard_latents": 4}, "hard_latents"),
    ],
)
def test_errors_carry_the_field_name(changes, argument):
    with pytest.raises(ArgumentError) as info:
        AmalgamationConfig(**changes)
    assert info.value.argument == argument
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"schedule": "fast"}, "`schedule` must be one of"),
        ({"gan_steps": 0}, "`gan_steps` must be an integer >= 1"),
        ({"alternate_steps": 0}, "`alternate_steps` must be an integer >= 1"),
        ({"learning_rate": -1.0}, "`learning_rate` must be a finite number > 0"),
        ({"loss_weights": "fast"}, "`loss_weights` must be one of"),
        ({"jit_compile": "yes"}, "`jit_compile` must be 'auto', True or False"),
        ({"verbose": 3}, r"`verbose` must be 0, 1 or 2. Received: verbose=3"),
        (
            {"student_learning_rate_decay": "linear"},
            "`student_learning_rate_decay` must be one of",
        ),
        ({"feature_widths": [8, 0]}, r"`feature_widths\[1\]` must be an integer >= 1"),
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
        ({"gan_steps": 6, "dual_steps": 4}, "`dual_steps` must be at least"),
        ({"block_wise": True}, "`block_wise` must be False"),
        ({"pool_size": 0}, "pool_size"),
        ({"adversarial_weight": float("inf")}, "adversarial_weight"),
        ({"student_updates": 0}, "student_updates"),
    ],
)
def test_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        AmalgamationConfig(**changes)


def test_values_are_normalized_once():
    config = AmalgamationConfig(stream_weights=[1, 0], teacher_weights=(2, 1))
    assert config.stream_weights == (1.0, 0.0)
    assert config.teacher_weights == [2.0, 1.0]


# ---------------------------------------------------------------- queries
def test_config_round_trips_through_a_dict():
    config = AmalgamationConfig.from_preset(
        "sequential",
        loss_weights={"batch_norm": 1.0},
        hard_latents=4,
        balanced_latents=8,
        jit_compile=False,
    )
    assert AmalgamationConfig.from_dict(config.to_dict()) == config
    assert config.replace(seed=3).seed == 3
    with pytest.raises(ValueError, match="Unknown AmalgamationConfig fields"):
        AmalgamationConfig.from_dict({"gan_step": 3})


def test_balanced_latent_count():
    def sequential(**changes):
        return AmalgamationConfig.from_preset("sequential", **changes)

    assert AmalgamationConfig().balanced_latent_count() is None
    assert sequential(balanced_latents=7).balanced_latent_count() == 7
    config = sequential(balance_task="digit", dual_steps=10, batch_size=4)
    assert config.balanced_latent_count() == 40
    assert sequential(balance_task="digit").balanced_latent_count() == 32000


def test_student_learning_rate():
    # Cosine decay from learning_rate to 0 over the student's updates.
    config = AmalgamationConfig(
        learning_rate=0.01, student_learning_rate_decay="cosine"
    )
    rate = config.student_learning_rate(10)
    assert isinstance(rate, keras.optimizers.schedules.CosineDecay)
    assert float(rate(0)) == pytest.approx(0.01) and float(rate(10)) == 0.0
    assert float(rate(5)) == pytest.approx(0.005)
    constant = config.replace(student_learning_rate_decay="none")
    assert constant.student_learning_rate(10) == pytest.approx(0.01)
