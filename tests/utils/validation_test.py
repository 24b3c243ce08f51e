import pickle

import numpy as np
import pytest

from keras_dfka.utils.validation import ArgumentError
from keras_dfka.utils.validation import argument_errors
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_int
from keras_dfka.utils.validation import check_one_of
from keras_dfka.utils.validation import check_stream_weights
from keras_dfka.utils.validation import check_weights
from keras_dfka.utils.validation import check_widths


@pytest.mark.parametrize("value", [3, np.int32(3), np.int64(7), 10**12])
def test_check_int_returns_a_python_int(value):
    result = check_int(value, "steps", 1)
    assert result == int(value) and type(result) is int


def test_check_int_accepts_the_minimum_itself():
    assert check_int(0, "warmup", 0) == 0
    assert check_int(8, "image_size", 8) == 8


@pytest.mark.parametrize(
    "value", [0, -1, 2.0, 2.5, True, np.bool_(True), "3", None, [3]]
)
def test_check_int_rejects_and_names_the_argument(value):
    with pytest.raises(ValueError) as info:
        check_int(value, "steps", 1)
    assert str(info.value) == (
        f"`steps` must be an integer >= 1. Received: steps={value!r}"
    )


@pytest.mark.parametrize(
    "check, argument",
    [
        (lambda: check_int(0, "pool_size", 1), "pool_size"),
        (lambda: check_float(-1.0, "temperature", 0, exclusive=True), "temperature"),
        (lambda: check_bool("no", "augment"), "augment"),
        (lambda: check_weights([1.0, -2.0], "teacher_weights"), "teacher_weights"),
        (lambda: check_weights("1,2", "teacher_weights"), "teacher_weights"),
        (lambda: check_widths([8, 2.5]), "feature_widths"),
        (lambda: check_widths([8, 0], minimum=1), "feature_widths"),
        (lambda: check_stream_weights((0, 0)), "stream_weights"),
        (lambda: check_one_of("x", "schedule", ("a", "b")), "schedule"),
    ],
)
def test_checks_raise_argument_errors_naming_the_argument(check, argument):
    with pytest.raises(ArgumentError) as info:
        check()
    assert info.value.argument == argument
    assert isinstance(info.value, ValueError)
    assert f"`{argument}" in str(info.value)


def test_argument_error_messages_and_pickling():
    with pytest.raises(ValueError, match=r"^`w\[1\]` must be an integer >= 1\. "):
        check_widths([3, 0], "w", minimum=1)
    with pytest.raises(ValueError, match=r"not both 0\. Received: s=\(0\.0, 0\.0\)"):
        check_stream_weights([0, 0], "s")
    with pytest.raises(ValueError, match=r"^`v` must be 0 or 1\. Received: v=2$"):
        check_one_of(2, "v", (0, 1), "0 or 1")
    error = pickle.loads(pickle.dumps(ArgumentError("`a` is bad", "a")))
    assert str(error) == "`a` is bad" and error.argument == "a"


def test_argument_errors_names_plain_value_errors():
    with pytest.raises(ArgumentError, match="^bad$") as info:
        with argument_errors("loss_weights"):
            raise ValueError("bad")
    assert info.value.argument == "loss_weights"
    with pytest.raises(ArgumentError) as info:
        with argument_errors("loss_weights"):
            check_int(0, "other", 1)
    assert info.value.argument == "other"
