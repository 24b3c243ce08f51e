"""Argument checks shared by the library's public entry points."""

import numpy as np

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
        raise ValueError(
            f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
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
        raise ValueError(
            f"`{name}` must be a finite number{bound}. Received: {name}={value!r}"
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
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
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
    if isinstance(weights, (str, dict)) or not hasattr(weights, "__len__"):
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={weights!r}")
    weights = list(weights)
    if length is None and not weights:
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={weights!r}")
    if length is not None and len(weights) != length:
        raise ValueError(
            f"`{name}` must hold {length} non-negative numbers. Received "
            f"{len(weights)}: {name}={weights!r}"
        )
    return [
        check_float(w, f"{name}[{i}]", 0.0, maximum=MAX_LOSS_WEIGHT)
        for i, w in enumerate(weights)
    ]


def check_widths(widths, name="feature_widths"):
    """Returns a list of channel widths as ints, or raises naming `name`.

    Each width must be a whole number (an int, or a float such as `8.0`, as
    the command line parses lists); NaN, the infinities and fractions are
    refused. The caller checks the count and the range.
    """
    if isinstance(widths, (str, dict)) or not hasattr(widths, "__len__"):
        raise ValueError(
            f"`{name}` must be a list of integers. Received: {name}={widths!r}"
        )
    result = []
    for i, width in enumerate(widths):
        if (
            isinstance(width, (bool, np.bool_))
            or not isinstance(width, (int, float, np.integer, np.floating))
            or not np.isfinite(width)
            or int(width) != width
        ):
            raise ValueError(
                f"`{name}[{i}]` must be an integer. Received: {name}[{i}]={width!r}"
            )
        result.append(int(width))
    return result
