"""TensorFlow gradient plumbing: `tf.GradientTape`."""

import tensorflow as tf

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent


class TensorFlowTrainer(BaseTrainer):
    def train_step(self, data):
        z = unpack_latent(data)
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            loss, logs = self.compute_step_loss(z, training=True)
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
        # A variable the loss does not reach gets a zero gradient, as under
        # JAX (e.g. the filters when the intermediate term's weight is 0).
        gradients = [
            tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables)
        ]
        self.optimizer.apply(gradients, variables)
        return self._update_trackers(logs)

    def test_step(self, data):
        _, logs = self.compute_step_loss(unpack_latent(data), training=False)
        return self._update_trackers(logs)
