"""TensorFlow gradient plumbing: `tf.GradientTape`."""

import tensorflow as tf

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent


def assign_rows(variable, indices, values):
    """`variable[indices] = values`, in place (a sparse update)."""
    variable.value.scatter_update(
        tf.IndexedSlices(tf.cast(values, variable.dtype), tf.cast(indices, "int32"))
    )


class TensorFlowTrainer(BaseTrainer):
    def train_step(self, data):
        z = unpack_latent(data)
        logs = {}
        phases = self.training_phases()
        for variables, optimizer, compute_loss in phases:
            with tf.GradientTape() as tape:
                loss, phase_logs = compute_loss(z, training=True)
                scaled_loss = optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled_loss, variables)
            # A variable the loss does not reach gets a zero gradient, as
            # under JAX (e.g. the filters when the intermediate term is off).
            gradients = [
                tf.zeros_like(v) if g is None else g
                for g, v in zip(gradients, variables)
            ]
            optimizer.apply(gradients, variables)
            self._merge_logs(logs, phase_logs)
        if all(optimizer is not self.optimizer for _, optimizer, _ in phases):
            self.optimizer.iterations.assign_add(1)
        return self._update_trackers(logs)

    def test_step(self, data):
        _, logs = self.compute_step_loss(unpack_latent(data), training=False)
        return self._update_trackers(logs)
