"""Latent noise for data-free training: a `PyDataset` of fresh batches, and
fixed sets of vectors repeated for a number of steps."""

import keras
import numpy as np

from keras_dfka.validation import check_int


@keras.saving.register_keras_serializable(package="keras_dfka")
class LatentNoise(keras.utils.PyDataset):
    """Batches of standard normal latent vectors, the "data" of data-free fit.

    `AmalgamGAN.fit()` and `DualGenerator.fit()` need no real data: each batch
    of this dataset is a float32 array `z` of shape `(batch_size, latent_dim)`
    drawn from `N(0, 1)`. Batch `i` of epoch `e` is a pure function of
    `(seed, e, i)`, so runs are reproducible and workers may run in parallel.

    Args:
        latent_dim: int > 0, the width of each latent vector.
        batch_size: int > 0, the number of vectors per batch.
        steps: int > 0, the number of batches per epoch (`len(dataset)`).
        seed: int, the base seed.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`,
            `use_multiprocessing`, `max_queue_size`).

    Example:

    ```python
    noise = keras_dfka.datasets.LatentNoise(latent_dim=64, batch_size=32,
                                            steps=100)
    z = noise[0]  # (32, 64) float32
    ```
    """

    def __init__(self, latent_dim, batch_size=64, steps=100, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_int(latent_dim, "latent_dim", 1)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.steps = check_int(steps, "steps", 1)
        self.seed = int(seed)
        self._epoch = 0

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if index < 0 or index >= self.steps:
            raise IndexError(f"Batch index {index} out of range [0, {self.steps}).")
        rng = np.random.default_rng((self.seed, self._epoch, int(index)))
        return rng.standard_normal((self.batch_size, self.latent_dim)).astype("float32")

    def on_epoch_end(self):
        self._epoch += 1

    def get_config(self):
        return {
            "latent_dim": self.latent_dim,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def repeat_shuffled(vectors, total, seed=0):
    """`total` rows of `vectors`: whole passes over them, each in a new random
    order, the last one cut short.

    Use it to train for an exact number of steps on a fixed set of latent
    vectors, e.g. `AmalgamGAN.balanced_latents()`:
    `dual.fit(repeat_shuffled(z, steps * batch_size), batch_size=batch_size,
    shuffle=False)`.

    Args:
        vectors: an array `(n, ...)`, n >= 1.
        total: int >= 1, the number of rows to return.
        seed: int, the seed of the orders.
    """
    total = check_int(total, "total", 1)
    vectors = np.asarray(vectors)
    if vectors.ndim < 1 or len(vectors) == 0:
        raise ValueError(
            f"`vectors` must have at least one row. Received shape {vectors.shape}"
        )
    rng = np.random.default_rng(seed)
    passes = -(-total // len(vectors))
    orders = [rng.permutation(len(vectors)) for _ in range(passes)]
    return vectors[np.concatenate(orders)[:total]]
