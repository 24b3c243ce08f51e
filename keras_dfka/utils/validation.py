"""Argument checks shared by the library's public entry points.

Every check raises an `ArgumentError`: a `ValueError` whose message names
the argument, what was expected and what was received, and whose `argument`
attribute names the argument as data (`"feature_widths"` for an error about
`feature_widths[2]`), so that a caller such as the command line can tell
which of its options an error is about without reading the message.
"""

import contextlib

import numpy as np


class ArgumentError(ValueError):
    """A `ValueError` about one argument, named by `argument`.

    Args:
        message: the error message (it names the argument too).
        argument: the name of the argument the error is about, without an
            index (`"stream_weights"` for `stream_weights[1]`), or None.

    Example:

    ```python
    try:
        keras_dfka.AmalgamationConfig(pool_size=0)
    except ArgumentError as error:
        error.argument  # "pool_size"
    ```
    """

    def __init__(self, message, argument=None):
        super().__init__(message)
        self.argument = argument

    def __reduce__(self):
        return type(self), (str(self), self.argument)


def _argument_name(name):
    """`"feature_widths[2]"` -> `"feature_widths"`."""
    return name.split("[", 1)[0]


@contextlib.contextmanager
def argument_errors(argument):
    """Makes a plain `ValueError` raised in the block an `ArgumentError`
    about `argument`, with the same message; an `ArgumentError` passes as
    it is.

    For checks defined elsewhere that raise plain `ValueError`s, e.g.
    `with argument_errors("loss_weights"): resolve_loss_weights(value)`.
    """
    try:
        yield
    except ArgumentError:
        raise
    except ValueError as error:
        raise ArgumentError(str(error), argument) from error


def check_one_of(value, name, choices, expected=None):
    """Returns `value` if it is among `choices`, or raises naming `name`.

    Args:
        value: the argument's value.
        name: the argument's name, for the error message.
        choices: the allowed values (compared with `in`).
        expected: optional text of what is allowed (default: `one of
            [choices]`).

    Raises:
        ArgumentError: `` `name` must be one of [...]. Received:
            name=value ``.
    """
    if value not in choices:
        expected = expected or f"one of {list(choices)}"
        raise ArgumentError(
            f"`{name}` must be {expected}. Received: {name}={value!r}",
            _argument_name(name),
        )
    return value


# The largest weight of a loss term. A larger one overflows float32 (to an
# infinite loss) as soon as its term exceeds about 3e32; any weight near it
# is a mistake.
MAX_LOSS_WEIGHT = 1e6


def check_int(value, name, minimum):
    """Returns `value` as an int, or raises naming `name`.

    Accepts Python and NumPy integers of at least `minimum`; rejects bools,
    floats (even whole ones) and anything else, so that a wrong type is never
    silently truncated.

    Args:
        value: the argument's value.
        name: the argument's name, for the error message.
        minimum: the smallest allowed value.

    Returns:
        `int(value)`.

    Raises:
        ValueError: `` `name` must be an integer >= minimum. Received:
            name=value ``.
    """
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ArgumentError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}",
            _argument_name(name),
        )
    return int(value)


def check_float(value, name, minimum=None, exclusive=False, maximum=None):
    """Returns `value` as a finite float, or raises naming `name`.

    Accepts Python and NumPy numbers (not bools); rejects NaN and the
    infinities, values below `minimum` (at or below it when `exclusive`) and
    values above `maximum`.

    Args:
        value: the argument's value.
        name: the argument's name, for the error message.
        minimum: optional smallest allowed value.
        exclusive: bool, whether `minimum` itself is refused.
        maximum: optional largest allowed value.

    Returns:
        `float(value)`.

    Raises:
        ValueError: `` `name` must be a finite number >= minimum. Received:
            name=value `` (with the bounds that apply).
    """
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if exclusive else '>='} {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    bound = (" " + " and ".join(bounds)) if bounds else ""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or (
            minimum is not None and (value <= minimum if exclusive else value < minimum)
        )
        or (maximum is not None and value > maximum)
    ):
        raise ArgumentError(
            f"`{name}` must be a finite number{bound}. Received: {name}={value!r}",
            _argument_name(name),
        )
    return float(value)


def check_bool(value, name, allow_none=False):
    """Returns `value` as a bool, or raises naming `name`.

    Accepts only `True`, `False` (and NumPy bools), and `None` when
    `allow_none`: a string such as `"no"` or a number is refused, never read
    as true.

    Args:
        value: the argument's value.
        name: the argument's name, for the error message.
        allow_none: bool, whether `None` is accepted (and returned as is).

    Returns:
        `bool(value)`, or `None`.

    Raises:
        ValueError: `` `name` must be True or False. Received: name=value ``.
    """
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        expected = "True, False or None" if allow_none else "True or False"
        raise ArgumentError(
            f"`{name}` must be {expected}. Received: {name}={value!r}",
            _argument_name(name),
        )
    return bool(value)


def check_weights(weights, name, length=None):
    """Returns a list of loss weights, or raises naming `name` (and the item).

    Args:
        weights: a list or tuple of numbers.
        name: the argument's name, for the error message.
        length: the number of weights required, or None for any number
            (at least one).

    Returns:
        A list of floats, each finite and in `[0, MAX_LOSS_WEIGHT]`.
    """
    expected = "a list of numbers" if length is None else f"a list of {length} numbers"
    is_list = hasattr(weights, "__len__") and not isinstance(weights, (str, dict))
    if is_list:
        weights = list(weights)
    if not is_list or (length is None and not weights):
        raise ArgumentError(
            f"`{name}` must be {expected}. Received: {name}={weights!r}",
            _argument_name(name),
        )
    if length is not None and len(weights) != length:
        raise ArgumentError(
            f"`{name}` must hold {length} non-negative numbers. Received "
            f"{len(weights)}: {name}={weights!r}",
            _argument_name(name),
        )
    return [
        check_float(w, f"{name}[{i}]", 0.0, maximum=MAX_LOSS_WEIGHT)
        for i, w in enumerate(weights)
    ]


def check_widths(widths, name="feature_widths", minimum=None):
    """Returns a list of channel widths as ints, or raises naming `name`.

    Each width must be a whole number (an int, or a float such as `8.0`, as
    the command line parses lists); NaN, the infinities and fractions are
    refused, and with `minimum` widths below it. The caller checks the count.

    Args:
        widths: a list or tuple of numbers.
        name: the argument's name, for the error message.
        minimum: optional smallest allowed width.

    Returns:
        A list of ints.

    Raises:
        ArgumentError: `` `name[i]` must be an integer. Received:
            name[i]=width ``, or below `minimum` the message of `check_int`.
    """
    if isinstance(widths, (str, dict)) or not hasattr(widths, "__len__"):
        raise ArgumentError(
            f"`{name}` must be a list of integers. Received: {name}={widths!r}",
            _argument_name(name),
        )
    result = []
    for i, width in enumerate(widths):
        if (
            isinstance(width, (bool, np.bool_))
            or not isinstance(width, (int, float, np.integer, np.floating))
            or not np.isfinite(width)
            or int(width) != width
        ):
            raise ArgumentError(
                f"`{name}[{i}]` must be an integer. Received: {name}[{i}]={width!r}",
                _argument_name(name),
            )
        if minimum is not None:
            width = check_int(int(width), f"{name}[{i}]", minimum)
        result.append(int(width))
    return result


def check_stream_weights(weights, name="stream_weights"):
    """Returns the two stream weights of a `DualGenerator` as a tuple, or
    raises naming `name`: two numbers in `[0, MAX_LOSS_WEIGHT]`, not both
    0."""
    weights = tuple(check_weights(weights, name, 2))
    if sum(weights) <= 0:
        raise ArgumentError(
            f"`{name}` must be two non-negative numbers, not both 0. "
            f"Received: {name}={weights}",
            _argument_name(name),
        )
    return weights
