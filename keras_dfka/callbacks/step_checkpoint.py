"""`StepCheckpoint`: the callback that saves a `RunCheckpoint` every N steps."""

import keras


class StepCheckpoint(keras.callbacks.Callback):
    """Calls `checkpoint.save_step` every `checkpoint.every` steps of a
    segment (not after its last step: `RunCheckpoint.finish` saves that)."""

    def __init__(self, checkpoint, segment, offset, total):
        super().__init__()
        self.checkpoint = checkpoint
        self.segment = segment
        self.offset = offset
        self.total = total

    def on_train_batch_end(self, batch, logs=None):
        done = self.offset + batch + 1
        if done % self.checkpoint.every == 0 and done < self.total:
            self.checkpoint.save_step(self.segment, done, self.model)
