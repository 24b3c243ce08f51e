"""The old import paths of the amalgamation package still work, with a
`DeprecationWarning` naming the new one."""

import sys

import pytest

import keras_dfka
import keras_dfka.amalgamation
from keras_dfka.cli import fields


@pytest.mark.parametrize(
    "old", ["keras_dfka.pipeline", "keras_dfka.amalgamation.pipeline"]
)
def test_old_module_path_is_the_package(old, monkeypatch):
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"`{old}` moved to"):
        module = __import__(old, fromlist=["AmalgamationConfig"])
    assert module is keras_dfka.amalgamation
    assert module.AmalgamationConfig is keras_dfka.AmalgamationConfig
    # The package keeps its own spec (the old path's is not left on it).
    assert module.__spec__.name == "keras_dfka.amalgamation"


def test_pipeline_amalgamation_config_imports_with_a_warning(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras_dfka.pipeline", raising=False)
    with pytest.warns(DeprecationWarning, match="`keras_dfka.amalgamation`"):
        from keras_dfka.pipeline import AmalgamationConfig
    assert AmalgamationConfig is keras_dfka.AmalgamationConfig
    from keras_dfka.pipeline import PRESETS
    from keras_dfka.pipeline import RECIPE_DEFAULTS
    from keras_dfka.pipeline import SCHEDULES
    from keras_dfka.pipeline import amalgamate

    assert amalgamate is keras_dfka.amalgamate
    assert "paper" in PRESETS and "loss_weights" in RECIPE_DEFAULTS
    assert "adversarial" in SCHEDULES


def test_command_line_parsing_moved_to_the_cli():
    with pytest.warns(DeprecationWarning, match="keras_dfka.cli.fields.parse_field"):
        parse_field = keras_dfka.amalgamation.parse_field
    assert parse_field is fields.parse_field
    with pytest.warns(DeprecationWarning, match="keras_dfka.cli.fields.type_name"):
        assert keras_dfka.amalgamation.type_name is fields.type_name


def test_other_old_names_fail_naming_the_new_modules():
    with pytest.raises(AttributeError, match="split into the modules config"):
        keras_dfka.amalgamation.default_optimizer  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'nope'$"):
        keras_dfka.nope  # noqa: B018
    with pytest.warns(DeprecationWarning, match="`keras_dfka.LabelTask`"):
        assert keras_dfka.Task is keras_dfka.LabelTask
