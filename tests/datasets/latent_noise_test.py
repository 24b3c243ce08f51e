import numpy as np
import pytest

import keras_dfka
from keras_dfka.datasets import LatentNoise


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


def test_repeat_shuffled_makes_whole_passes_in_new_orders():
    vectors = np.arange(10, dtype="float32")[:, None]
    out = keras_dfka.datasets.repeat_shuffled(vectors, 25, seed=3)
    assert out.shape == (25, 1)
    first, second = out[:10, 0], out[10:20, 0]
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)
    assert len(set(out[20:, 0])) == 5
    np.testing.assert_array_equal(
        out, keras_dfka.datasets.repeat_shuffled(vectors, 25, seed=3)
    )


@pytest.mark.parametrize(
    "vectors, total, message",
    [
        (np.zeros((3, 2)), 0, "`total` must be an integer >= 1"),
        (
            np.zeros((0, 2)),
            4,
            r"`vectors` must have at least one row. Received shape \(0, 2\)",
        ),
    ],
)
def test_repeat_shuffled_rejects_bad_arguments(vectors, total, message):
    with pytest.raises(ValueError, match=message):
        keras_dfka.datasets.repeat_shuffled(vectors, total)
