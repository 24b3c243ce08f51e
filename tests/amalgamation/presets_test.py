import inspect

import pytest

import keras_dfka
from keras_dfka.amalgamation.config import AmalgamationConfig
from keras_dfka.amalgamation.presets import PRESETS
from keras_dfka.amalgamation.presets import RECIPE_DEFAULTS


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
    with pytest.raises(ValueError, match="`name` must be one of") as info:
        AmalgamationConfig.from_preset("fast")
    assert info.value.argument == "name"


def test_paper_preset_is_the_constructors_recipe():
    # The recipe fields of the "paper" preset take the trainers' own
    # defaults (augment: None means off with the paper's loss weights).
    paper = AmalgamationConfig.from_preset("paper")
    for name in RECIPE_DEFAULTS:
        for trainer in (keras_dfka.AmalgamGAN, keras_dfka.DualGenerator):
            parameters = inspect.signature(trainer.__init__).parameters
            if name in parameters and name not in ("augment", "loss_weights"):
                assert getattr(paper, name) == parameters[name].default, name
    assert paper.loss_weights == "paper" and paper.augment is False
