"""Latent vectors for data-free training: `PyDataset`s of fresh batches
(`LatentNoise`) and of a fixed set, reshuffled on every pass (`LatentSet`)."""

import ctypes
import sys
import threading

import keras
import numpy as np

from keras_dfka.utils import distribution
from keras_dfka.utils.validation import check_int


def draw_latents(num_samples, latent_dim, seed=0):
    """Draws `num_samples` latent vectors from `N(0, 1)`, as float32.

    The one place the library draws latent noise with NumPy: the same `seed`
    (anything `np.random.default_rng` takes) gives the same vectors.

    Args:
        num_samples: int >= 0.
        latent_dim: int >= 1.
        seed: an int, a tuple of ints, None, or a `np.random.Generator` to
            draw from (and advance).

    Returns:
        A float32 array `(num_samples, latent_dim)`.
    """
    rng = np.random.default_rng(seed)
    return rng.standard_normal((int(num_samples), int(latent_dim))).astype("float32")


def latent_pool(latent_dim, num_samples, pool_factor, seed):
    """Draws `pool_factor * num_samples` latent vectors from `N(0, 1)`.

    Checks `num_samples` and `pool_factor` (ints >= 1) by name. Returns
    `(num_samples, rng, pool)`: the checked count, the seeded generator, to
    go on drawing from (the choice from the pool), and the float32 pool.
    """
    num_samples = check_int(num_samples, "num_samples", 1)
    pool_factor = check_int(pool_factor, "pool_factor", 1)
    rng = np.random.default_rng(seed)
    return num_samples, rng, draw_latents(pool_factor * num_samples, latent_dim, rng)


# glibc's mallopt parameter numbers, and the values set: the largest mmap
# threshold of 64-bit machines (32 MiB) and a trim threshold above it.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 256 * 1024 * 1024
_LIBC = []


def keep_large_allocations_on_the_heap():
    """Sets glibc's mmap threshold to 32 MiB and its trim threshold to
    256 MiB; returns whether it could.

    TensorFlow's generator dataset (what `fit()` makes of a
    `keras.utils.PyDataset` under TensorFlow) sets glibc's `M_TRIM_THRESHOLD`
    to 128 KiB, which also freezes glibc's mmap threshold at 128 KiB: from
    then on every tensor above 128 KiB is a fresh `mmap`, or heap memory
    returned to the system and faulted in again, at every step, and
    everything the process trains without XLA slows down (a 64x64 CNN's
    training step measured 1.7x slower on a 2-core CPU, mostly kernel
    time). The latent datasets call this with every batch, after
    TensorFlow's change. Linux with glibc only; elsewhere it does nothing.
    """
    if not _LIBC:
        libc = None
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL("libc.so.6")
            except OSError:
                libc = None
        _LIBC.append(libc)
    if _LIBC[0] is None:
        return False
    mallopt = _LIBC[0].mallopt
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )


@keras.saving.register_keras_serializable(package="keras_dfka")
class LatentNoise(keras.utils.PyDataset):
    """Batches of standard normal latent vectors, the "data" of data-free fit.

    `AmalgamGAN.fit()` and `DualGenerator.fit()` need no real data: each batch
    of this dataset is a float32 array `z` of shape `(batch_size, latent_dim)`
    drawn from `N(0, 1)`. Batch `i` of epoch `e` is a pure function of
    `(seed, e, i)`, so runs are reproducible and workers may run in parallel.

    On several hosts (JAX `keras.distribution` over several processes,
    TensorFlow's `MultiWorkerMirroredStrategy`), each process serves its own
    share of the global batch (`batch_size` is then the per-process batch)
    and draws its own stream: batch `i` of epoch `e` on process `p > 0` is a
    function of `(seed, e, i, p)` (`keras_dfka.utils.distribution.process_index()`,
    read at the first batch), so the hosts do not train on identical
    vectors. Process 0, and a single host, draw what they always drew.

    Args:
        latent_dim: int > 0, the width of each latent vector.
        batch_size: int > 0, the number of vectors per batch.
        steps: int > 0, the number of batches per epoch (`len(dataset)`).
        seed: int >= 0, the base seed.
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
        self.seed = check_int(seed, "seed", 0)
        self._epoch = 0
        self._process_index = None

    def __len__(self):
        return self.steps

    @property
    def process_index(self):
        """The index of this process among the training hosts (0 on one
        host), read once, at the first batch."""
        if self._process_index is None:
            self._process_index = distribution.process_index()
        return self._process_index

    def __getitem__(self, index):
        if index < 0 or index >= self.steps:
            raise IndexError(f"Batch index {index} out of range [0, {self.steps}).")
        keep_large_allocations_on_the_heap()
        seed = (self.seed, self._epoch, int(index))
        if self.process_index:
            seed += (self.process_index,)
        return draw_latents(self.batch_size, self.latent_dim, seed)

    def on_epoch_end(self):
        self._epoch += 1

    def set_epoch(self, epoch):
        """Serves epoch `epoch`'s batches from now on (for a run restarted
        at that epoch: `keras_dfka.callbacks.LatentEpoch`)."""
        self._epoch = check_int(epoch, "epoch", 0)

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


class LatentSet(keras.utils.PyDataset):
    """Batches of a fixed set of latent vectors, reshuffled on every pass.

    Where `LatentNoise` draws fresh vectors for every batch, this dataset
    serves the rows of `vectors` (for example `AmalgamGAN.balanced_latents()`)
    as one stream: a whole pass over them in a random order, then another
    pass in a new order, and so on, cut into batches of `batch_size` rows
    (a batch may straddle two passes, so every batch is full). Each epoch
    serves `steps` batches and the next epoch goes on where it stopped. The
    orders are a pure function of `seed`.

    Args:
        vectors: an array `(n, latent_dim)` with n >= 1.
        batch_size: int > 0, the number of vectors per batch.
        steps: int > 0, the number of batches per epoch (`len(dataset)`);
            default `max(1, n // batch_size)`, about one pass.
        seed: int >= 0, the seed of the orders.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`,
            `use_multiprocessing`, `max_queue_size`).

    Example:

    ```python
    z = gan.balanced_latents(32000)
    dual.fit(keras_dfka.datasets.LatentSet(z, batch_size=64, steps=2400))
    ```
    """

    def __init__(self, vectors, batch_size=64, steps=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(
                "`vectors` must be a 2-D array (n, latent_dim) with n >= 1. "
                f"Received shape {vectors.shape}"
            )
        self.vectors = vectors.astype("float32", copy=False)
        self.latent_dim = vectors.shape[1]
        self.batch_size = check_int(batch_size, "batch_size", 1)
        if steps is None:
            steps = max(1, len(vectors) // self.batch_size)
        self.steps = check_int(steps, "steps", 1)
        self.seed = check_int(seed, "seed", 0)
        self._epoch = 0
        self._rng = np.random.default_rng(self.seed)
        self._orders = {}  # pass -> order, for the passes not yet behind us
        self._made = 0  # the orders drawn from self._rng so far
        self._lock = threading.Lock()

    def __getstate__(self):
        # For worker processes: a lock cannot be pickled.
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __len__(self):
        return self.steps

    def _order(self, p):
        # Pass p's order. The orders are drawn from one generator, in pass
        # order, so they do not depend on the order the batches are asked in.
        with self._lock:
            while self._made <= p:
                self._orders[self._made] = self._rng.permutation(len(self.vectors))
                self._made += 1
            return self._orders[p]

    def __getitem__(self, index):
        if index < 0 or index >= self.steps:
            raise IndexError(f"Batch index {index} out of range [0, {self.steps}).")
        keep_large_allocations_on_the_heap()
        n = len(self.vectors)
        start = (self._epoch * self.steps + int(index)) * self.batch_size
        passes, offsets = np.divmod(np.arange(start, start + self.batch_size), n)
        rows = np.empty(self.batch_size, dtype="int64")
        for p in np.unique(passes):
            here = passes == p
            rows[here] = self._order(int(p))[offsets[here]]
        return self.vectors[rows]

    def set_epoch(self, epoch):
        """Serves epoch `epoch`'s batches from now on (for a run restarted
        at that epoch: `keras_dfka.callbacks.LatentEpoch`)."""
        epoch = check_int(epoch, "epoch", 0)
        with self._lock:
            if epoch < self._epoch:  # Its passes' orders may be forgotten.
                self._rng = np.random.default_rng(self.seed)
                self._orders, self._made = {}, 0
            self._epoch = epoch

    def on_epoch_end(self):
        self._epoch += 1
        # Forget the orders of the passes the next epoch no longer reaches.
        first = self._epoch * self.steps * self.batch_size // len(self.vectors)
        with self._lock:
            for p in [p for p in self._orders if p < first]:
                del self._orders[p]
