import keras
import numpy as np
import pytest

from keras_dfka.compile_utils import build_multi_optimizer
from keras_dfka.compile_utils import copy_optimizer
from keras_dfka.utils import as_list
from keras_dfka.utils import map_batches


def test_map_batches_concatenates_arrays_and_lists():
    x = np.arange(10, dtype="float32").reshape(5, 2)
    calls = []

    def double(batch):
        calls.append(len(batch))
        return keras.ops.convert_to_tensor(batch * 2)

    np.testing.assert_array_equal(map_batches(double, x, 2), x * 2)
    assert calls == [2, 2, 1]
    first, second = map_batches(lambda b: (b[:, :1], b.sum(-1)), x, 3)
    np.testing.assert_array_equal(first, x[:, :1])
    np.testing.assert_array_equal(second, x.sum(-1))
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1"):
        map_batches(double, x, 0)


def test_as_list():
    assert as_list((1, 2)) == [1, 2]
    assert as_list("x") == ["x"]


def test_multi_optimizer_uses_the_learning_rate_and_two_optimizers():
    optimizer = build_multi_optimizer("auto", "auto", 0.25)
    rates = [float(o.learning_rate) for o in optimizer.optimizers]
    assert rates == [0.25, 0.25]
    adam = keras.optimizers.Adam(0.5)
    copy = copy_optimizer(adam)
    assert copy is not adam and float(copy.learning_rate) == 0.5
    assert copy_optimizer("auto") == "auto"
