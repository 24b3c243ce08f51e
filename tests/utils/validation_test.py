import numpy as np
import pytest

from keras_dfka.utils.validation import check_int


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
