import pickle
import sys

import keras
import numpy as np
import pytest

from keras_dfka.datasets import LatentNoise
from keras_dfka.datasets import LatentSet
from keras_dfka.datasets import draw_latents
from keras_dfka.datasets import latent_noise


def test_shape_dtype_and_length():
    noise = LatentNoise(latent_dim=8, batch_size=4, steps=3)
    assert len(noise) == 3
    z = noise[0]
    assert z.shape == (4, 8) and z.dtype == np.float32
    with pytest.raises(IndexError):
        noise[3]


def test_deterministic_per_seed_and_index():
    a = LatentNoise(latent_dim=8, batch_size=4, steps=3, seed=1)
    b = LatentNoise(latent_dim=8, batch_size=4, steps=3, seed=1)
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(a[1], a[1])
    assert not np.array_equal(a[0], a[1])
    c = LatentNoise(latent_dim=8, batch_size=4, steps=3, seed=2)
    assert not np.array_equal(a[0], c[0])


def test_new_noise_each_epoch():
    noise = LatentNoise(latent_dim=8, batch_size=4, steps=2, seed=0)
    first = noise[0]
    noise.on_epoch_end()
    second = noise[0]
    assert not np.array_equal(first, second)
    replay = LatentNoise(latent_dim=8, batch_size=4, steps=2, seed=0)
    replay.on_epoch_end()
    np.testing.assert_array_equal(replay[0], second)


def test_roughly_standard_normal():
    z = LatentNoise(latent_dim=64, batch_size=256, steps=1)[0]
    assert abs(float(z.mean())) < 0.05
    assert abs(float(z.std()) - 1.0) < 0.05


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(latent_dim=0), "latent_dim"),
        (dict(latent_dim=8, batch_size=-1), "batch_size"),
        (dict(latent_dim=8, steps=1.5), "steps"),
        (dict(latent_dim="8"), "latent_dim"),
        (dict(latent_dim=True), "latent_dim"),
    ],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 1"):
        LatentNoise(**kwargs)


def test_latent_set_makes_whole_passes_in_new_orders():
    vectors = np.arange(10, dtype="float32")[:, None]
    data = LatentSet(vectors, batch_size=5, steps=3, seed=3)
    assert len(data) == 3
    assert data[0].shape == (5, 1) and data[0].dtype == np.float32
    first = np.concatenate([data[0], data[1]])[:, 0]
    assert sorted(first) == list(range(10))
    assert not np.array_equal(first, vectors[:, 0])
    with pytest.raises(IndexError):
        data[3]
    # The next epoch goes on where the last one stopped, in the same stream.
    data.on_epoch_end()
    stream = np.concatenate([LatentSet(vectors, 5, 6, seed=3)[i] for i in range(6)])
    np.testing.assert_array_equal(stream[:10, 0], first)
    np.testing.assert_array_equal(
        np.concatenate([data[0], data[1], data[2]]), stream[15:]
    )
    assert sorted(stream[10:20, 0]) == list(range(10))
    assert not np.array_equal(stream[:10], stream[10:20])


def test_latent_set_batches_straddle_passes_and_are_seeded():
    vectors = np.arange(6, dtype="float64")[:, None]
    data = LatentSet(vectors, batch_size=4, steps=3, seed=0)
    stream = np.concatenate([data[i] for i in range(3)])[:, 0]
    assert stream.dtype == np.float32
    assert sorted(stream[:6]) == sorted(stream[6:12]) == list(range(6))
    np.testing.assert_array_equal(
        stream,
        np.concatenate([LatentSet(vectors, 4, 3, seed=0)[i] for i in range(3)])[:, 0],
    )
    other = np.concatenate([LatentSet(vectors, 4, 3, seed=1)[i] for i in range(3)])
    assert not np.array_equal(stream, other[:, 0])
    # One pass by default, in whole batches.
    assert len(LatentSet(np.zeros((130, 2)), batch_size=64)) == 2
    assert len(LatentSet(np.zeros((3, 2)), batch_size=64)) == 1


def test_latent_set_pickles_and_forgets_passes_behind_it():
    vectors = np.arange(10, dtype="float32")[:, None]
    data = LatentSet(vectors, batch_size=5, steps=4, seed=1)
    first = data[3]
    copy = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(copy[3], first)
    assert sorted(data._orders) == [0, 1]
    data.on_epoch_end()  # the next epoch starts at pass 2
    assert sorted(data._orders) == []
    stream = np.concatenate([LatentSet(vectors, 5, 8, seed=1)[i] for i in range(8)])
    np.testing.assert_array_equal(data[3], stream[35:])
    np.testing.assert_array_equal(data[0], stream[20:25])


def test_latent_set_feeds_keras():
    vectors = np.random.default_rng(0).standard_normal((50, 3)).astype("float32")
    data = LatentSet(vectors, batch_size=8, steps=5, seed=2)
    expected = np.concatenate([LatentSet(vectors, 8, 5, seed=2)[i] for i in range(5)])
    model = keras.Sequential([keras.Input((3,)), keras.layers.Identity()])
    np.testing.assert_allclose(model.predict(data, verbose=0), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(vectors=np.zeros((0, 2))), r"`vectors` must be a 2-D array .* \(0, 2\)"),
        (dict(vectors=np.zeros(4)), r"`vectors` must be a 2-D array .* \(4,\)"),
        (
            dict(vectors=np.zeros((3, 2)), batch_size=0),
            "`batch_size` must be an integer >= 1",
        ),
        (dict(vectors=np.zeros((3, 2)), steps=2.5), "`steps` must be an integer >= 1"),
    ],
)
def test_latent_set_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LatentSet(**kwargs)


def test_draw_latents_is_the_noise_of_latent_noise():
    noise = LatentNoise(5, batch_size=4, steps=2, seed=3)
    np.testing.assert_array_equal(noise[1], draw_latents(4, 5, (3, 0, 1)))
    z = draw_latents(3, 2, seed=7)
    assert z.shape == (3, 2) and z.dtype == np.float32
    np.testing.assert_array_equal(z, draw_latents(3, 2, seed=7))


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="a glibc setting (Linux only)"
)
def test_batches_keep_glibc_mmap_threshold_high(monkeypatch):
    # TensorFlow's generator dataset lowers glibc's thresholds; every batch
    # sets them back (see keep_large_allocations_on_the_heap).
    calls = []

    class FakeLibc:
        def mallopt(self, parameter, value):
            calls.append((parameter, value))
            return 1

    monkeypatch.setattr(latent_noise, "_LIBC", [FakeLibc()])
    LatentNoise(4, 2, steps=2, seed=0)[1]
    LatentSet(np.zeros((3, 4), "float32"), 2, steps=1, seed=0)[0]
    expected = [(-3, 32 * 1024 * 1024), (-1, 256 * 1024 * 1024)]
    assert calls == expected * 2
    monkeypatch.setattr(latent_noise, "_LIBC", [])
    assert latent_noise.keep_large_allocations_on_the_heap() is True
