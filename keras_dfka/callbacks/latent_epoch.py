"""`LatentEpoch`: tells a dataset of latent batches which epoch is running."""

import keras


class LatentEpoch(keras.callbacks.Callback):
    """Tells a latent dataset which epoch `fit()` is in.

    `LatentNoise` and `LatentSet` number their epochs themselves, from 0 in
    each new object; after `keras.callbacks.BackupAndRestore` restarts a
    killed `fit()` at epoch k, this callback makes the dataset serve epoch
    k's batches, as the uninterrupted run did. Use it with `shuffle=False`:

    ```python
    noise = keras_dfka.datasets.LatentNoise(100, 64, steps=100)
    gan.fit(noise, epochs=10, shuffle=False, callbacks=[
        keras.callbacks.BackupAndRestore("backup"),
        keras_dfka.callbacks.LatentEpoch(noise),
    ])
    ```

    Args:
        dataset: a dataset with `set_epoch(epoch)` (`LatentNoise`,
            `LatentSet`, `OffsetDataset`).
    """

    def __init__(self, dataset):
        super().__init__()
        if not callable(getattr(dataset, "set_epoch", None)):
            raise ValueError(
                "`dataset` must have a `set_epoch(epoch)` method (LatentNoise, "
                f"LatentSet). Received: {type(dataset).__name__}"
            )
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)
