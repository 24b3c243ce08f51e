"""`SamplePool`: the synthesized images a student revisits."""

import keras
import numpy as np
from keras import ops

from keras_dfka.backend import assign_rows
from keras_dfka.utils.validation import check_int


@keras.saving.register_keras_serializable(package="keras_dfka")
class SamplePool(keras.layers.Layer):
    """A first-in, first-out pool of images in `[0, 1]`, stored as `uint8`.

    Data-free distillers that keep what they synthesize (CMI, Fast-DFKD)
    train the student on the whole history of generated batches instead of
    on the last one. This layer is that memory, inside the model's state, so
    it works within a compiled `fit()` step on every backend, is saved with
    the weights and is restored by `keras.callbacks.BackupAndRestore`.

    ```
    push(images):  pool[(count + i) % capacity] = round(255 * images[i]); count += n
    sample(n):     pool[uniform integers in [0, min(count, capacity))] / 255
    ```

    One image costs `height * width * channels` bytes (12 KB at 64x64x3), so
    a pool of 20,000 such images holds 246 MB.

    Args:
        capacity: int >= 1, the number of images kept; once full, a push
            replaces the oldest ones.
        sample_shape: `(height, width, channels)` of one image.
        **kwargs: standard layer arguments.

    Example:

    ```python
    pool = keras_dfka.layers.SamplePool(1000, (32, 32, 3))
    pool.push(images)              # (n, 32, 32, 3) in [0, 1]
    batch = pool.sample(64, seed=keras.random.SeedGenerator(0))
    int(pool.size)                 # min(images pushed, 1000)
    ```
    """

    def __init__(self, capacity, sample_shape, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self.capacity = check_int(capacity, "capacity", 1)
        sample_shape = tuple(sample_shape)
        if not sample_shape or any(
            isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in sample_shape
        ):
            raise ValueError(
                "`sample_shape` must be a tuple of positive integers, e.g. "
                f"(64, 64, 3). Received: sample_shape={sample_shape!r}"
            )
        self.sample_shape = sample_shape
        self.images = self.add_weight(
            shape=(self.capacity,) + sample_shape,
            dtype="uint8",
            initializer="zeros",
            trainable=False,
            name="images",
        )
        self.count = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False, name="count"
        )
        self.built = True

    @property
    def size(self):
        """How many images the pool holds: `min(count, capacity)`."""
        return ops.minimum(self.count, self.capacity)

    def push(self, images):
        """Adds a batch of images in `[0, 1]` (the oldest make room)."""
        images = ops.convert_to_tensor(images)
        if tuple(images.shape[1:]) != self.sample_shape:
            raise ValueError(
                f"SamplePool '{self.name}' holds images of shape "
                f"{self.sample_shape}. Received a batch of shape "
                f"{tuple(images.shape)}"
            )
        n = images.shape[0]
        if n is None:
            n = ops.shape(images)[0]
        quantized = ops.cast(
            ops.clip(ops.round(ops.cast(images, "float32") * 255.0), 0.0, 255.0),
            "uint8",
        )
        positions = ops.mod(self.count + ops.arange(n, dtype="int32"), self.capacity)
        assign_rows(self.images, positions, ops.stop_gradient(quantized))
        self.count.assign(self.count + ops.cast(n, "int32"))

    def sample(self, batch_size, seed):
        """Draws `batch_size` images uniformly, with replacement, as float32.

        Args:
            batch_size: int >= 1.
            seed: a `keras.random.SeedGenerator` (or an int).

        Returns:
            A `(batch_size, height, width, channels)` float32 tensor in
            `[0, 1]`. An empty pool gives zeros.
        """
        size = ops.cast(ops.maximum(self.size, 1), "float32")
        uniform = keras.random.uniform((batch_size,), seed=seed)
        positions = ops.cast(ops.floor(uniform * size), "int32")
        positions = ops.minimum(positions, ops.cast(size, "int32") - 1)
        images = ops.take(self.images, positions, axis=0)
        return ops.cast(images, "float32") / 255.0

    def contents(self):
        """The images the pool holds, oldest first, as a float32 numpy
        array `(size, height, width, channels)` in `[0, 1]`."""
        size = int(ops.convert_to_numpy(self.size))
        count = int(ops.convert_to_numpy(self.count))
        images = ops.convert_to_numpy(self.images)[:size]
        if count > self.capacity:  # Full: the oldest row is the next to write.
            images = np.roll(images, -(count % self.capacity), axis=0)
        return images.astype("float32") / 255.0

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update({"capacity": self.capacity, "sample_shape": self.sample_shape})
        return config
