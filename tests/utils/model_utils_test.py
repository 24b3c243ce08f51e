import keras
import numpy as np
import pytest

from keras_dfka.trainers.compile_utils import build_multi_optimizer
from keras_dfka.trainers.compile_utils import copy_optimizer
from keras_dfka.utils import as_list
from keras_dfka.utils import map_batches
from keras_dfka.utils import random_mixup


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


def test_random_mixup_mixes_each_image_with_its_neighbour():
    # Constant images 0, 1, 2, 3 (scaled): image i mixed with image i - 1
    # (the first with the last) by one weight per image in [0, 1).
    values = np.array([0.0, 0.25, 0.5, 1.0], dtype="float32")
    images = np.ones((4, 3, 3, 2), dtype="float32") * values[:, None, None, None]
    seed = keras.random.SeedGenerator(3)
    mixed = random_mixup(keras.ops.convert_to_tensor(images), seed)
    mixed = np.asarray(keras.ops.convert_to_numpy(mixed))
    assert mixed.shape == images.shape
    # Every pixel of an image has the same mix.
    per_image = mixed.reshape(4, -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] * np.ones_like(per_image))
    partners = np.roll(values, 1)
    weights = (per_image[:, 0] - partners) / (values - partners)
    assert np.all(weights >= 0.0) and np.all(weights < 1.0)
    # Not the identity, and different weights for different images.
    assert not np.allclose(mixed, images)
    assert len(set(np.round(weights, 6))) == 4
