import keras
import numpy as np
import pytest

from keras_dfka.layers import SamplePool


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def test_push_stores_quantized_images_first_in_first_out():
    pool = SamplePool(5, (2, 2, 1))
    first = np.full((3, 2, 2, 1), 0.2, "float32")
    second = np.full((4, 2, 2, 1), 0.8, "float32")
    pool.push(first)
    assert int(numpy(pool.size)) == 3
    stored = numpy(pool.images)
    assert stored.dtype == np.uint8
    np.testing.assert_array_equal(stored[:3], 51)  # round(0.2 * 255)
    np.testing.assert_array_equal(stored[3:], 0)
    pool.push(second)  # 7 pushed into 5 places: the two oldest are replaced.
    assert int(numpy(pool.count)) == 7
    assert int(numpy(pool.size)) == 5
    stored = numpy(pool.images)[:, 0, 0, 0]
    np.testing.assert_array_equal(stored, [204, 204, 51, 204, 204])


def test_sample_draws_only_filled_places():
    pool = SamplePool(100, (1, 1, 1))
    pool.push(np.full((10, 1, 1, 1), 1.0, "float32"))
    seed = keras.random.SeedGenerator(0)
    batch = numpy(pool.sample(500, seed))
    assert batch.shape == (500, 1, 1, 1)
    assert batch.dtype == np.float32
    # The 90 empty places hold zeros: a draw from them would show here.
    np.testing.assert_array_equal(batch, 1.0)


def test_sample_covers_the_pool():
    pool = SamplePool(8, (1, 1, 1))
    pool.push(np.arange(8, dtype="float32").reshape(8, 1, 1, 1) / 255.0)
    values = numpy(pool.sample(400, keras.random.SeedGenerator(1)))[:, 0, 0, 0]
    assert set(np.round(values * 255).astype(int)) == set(range(8))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="capacity"):
        SamplePool(0, (2, 2, 3))
    with pytest.raises(ValueError, match="sample_shape"):
        SamplePool(4, (2, 0, 3))
    pool = SamplePool(4, (2, 2, 3))
    with pytest.raises(ValueError, match=r"holds images of shape \(2, 2, 3\)"):
        pool.push(np.zeros((1, 3, 3, 3), "float32"))
    assert int(numpy(pool.count)) == 0


def test_config_round_trip():
    pool = SamplePool(7, (4, 4, 3), name="my_pool")
    clone = SamplePool.from_config(pool.get_config())
    assert clone.capacity == 7
    assert clone.sample_shape == (4, 4, 3)
    assert clone.name == "my_pool"


def test_contents_are_the_held_images_oldest_first():
    pool = SamplePool(4, (1, 1, 1))
    assert pool.contents().shape == (0, 1, 1, 1)
    values = np.arange(1, 7, dtype="float32").reshape(6, 1, 1, 1) / 255.0
    pool.push(values[:3])
    np.testing.assert_allclose(pool.contents()[:, 0, 0, 0] * 255, [1, 2, 3])
    pool.push(values[3:])  # 6 pushed into 4 places: 1 and 2 replaced.
    contents = pool.contents()
    assert contents.dtype == np.float32
    np.testing.assert_allclose(contents[:, 0, 0, 0] * 255, [3, 4, 5, 6], atol=1e-4)
