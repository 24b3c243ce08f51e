"""The command line's side of `AmalgamationConfig`: its fields as options.

Each field `name` is the option `--name-with-dashes`; its value is read
from text by `parse_field`, and an error of the config names its field as
data (`keras_dfka.utils.validation.ArgumentError.argument`), which
`option_of` turns back into the option. The config itself knows nothing of
command-line text. The examples' `--amalgamation=FIELD=VALUE` flags read
their values with `parse_field` too.

`AmalgamationConfig` (and so Keras) is imported on first use, so that
importing this module does not choose the Keras backend.
"""

import dataclasses
import json


def _config_fields():
    from keras_dfka.amalgamation.config import AmalgamationConfig

    return {field.name: field for field in dataclasses.fields(AmalgamationConfig)}


def type_name(kind):
    """`int`, `float | None`, ...: a config field's type as text."""
    return getattr(kind, "__name__", None) or str(kind)


def option_name(field):
    """`"pool_size"` -> `"--pool-size"`."""
    return "--" + field.replace("_", "-")


def option_of(error, default="--preset"):
    """The option an error of `AmalgamationConfig` is about: its
    `argument` (a field) as an option, else `default`."""
    argument = getattr(error, "argument", None)
    return option_name(argument) if argument in _config_fields() else default


def parse_field(name, text):
    """Parses the text of a command-line value of config field `name`.

    Args:
        name: a field of `AmalgamationConfig`.
        text: its value as text: numbers, `true`/`false`, `none`, a
            comma-separated list (`stream_weights`, `feature_widths`,
            `teacher_weights`) or JSON (`loss_weights` as a dict).

    Returns:
        The value, of the field's type.

    Raises:
        ArgumentError: (a `ValueError`) about `name`, for text that is not
            of the field's type or an unknown field.
    """
    from keras_dfka.utils.validation import ArgumentError

    fields = _config_fields()
    if name not in fields:
        raise ArgumentError(
            f"Unknown AmalgamationConfig field {name!r}; expected one of "
            f"{sorted(fields)}.",
            name,
        )
    kind = type_name(fields[name].type)
    text = text.strip()
    if text.lower() == "none" and "None" in kind:
        return None
    try:
        if kind.startswith(("tuple", "list")):
            return [float(v) for v in text.split(",")]
        if kind.startswith("str | dict"):
            return json.loads(text) if text.startswith("{") else text
        if kind == "str | bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        raise ArgumentError(
            f"`{name}` expects a value of type {kind}. Received: {text!r}", name
        ) from None
    return text
