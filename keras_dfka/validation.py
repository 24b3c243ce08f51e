"""Argument checks shared by the library's public entry points."""

import numpy as np


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


def check_float(value, name, minimum=None, exclusive=False):
    """Returns `value` as a finite float, or raises naming `name`.

    Accepts Python and NumPy numbers (not bools); rejects NaN and the
    infinities, and values below `minimum` (at or below it when
    `exclusive`).

    Args:
        value: the argument's value.
        name: the argument's name, for the error message.
        minimum: optional smallest allowed value.
        exclusive: bool, whether `minimum` itself is refused.

    Returns:
        `float(value)`.
    """
    bound = ""
    if minimum is not None:
        bound = f" {'>' if exclusive else '>='} {minimum}"
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or (
            minimum is not None and (value <= minimum if exclusive else value < minimum)
        )
    ):
        raise ValueError(
            f"`{name}` must be a finite number{bound}. Received: {name}={value!r}"
        )
    return float(value)
