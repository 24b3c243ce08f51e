"""A `PyDataset` of latent noise batches for data-free training."""

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
