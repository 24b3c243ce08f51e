"""PyTorch gradient plumbing: `loss.backward()`."""

import torch

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent


class TorchTrainer(BaseTrainer):
    def train_step(self, data):
        z = unpack_latent(data)
        self.zero_grad()
        loss, logs = self.compute_step_loss(z, training=True)
        self.optimizer.scale_loss(loss).backward()
        variables = self.trainable_variables
        # A variable the loss does not reach gets a zero gradient, as under JAX.
        gradients = [
            torch.zeros_like(v.value) if v.value.grad is None else v.value.grad
            for v in variables
        ]
        with torch.no_grad():
            self.optimizer.apply(gradients, variables)
        return self._update_trackers(logs)

    def test_step(self, data):
        with torch.no_grad():
            _, logs = self.compute_step_loss(unpack_latent(data), training=False)
        return self._update_trackers(logs)
