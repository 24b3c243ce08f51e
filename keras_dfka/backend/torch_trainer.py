"""PyTorch gradient plumbing: `torch.autograd.grad`."""

import torch

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent


def assign_rows(variable, indices, values):
    """`variable[indices] = values`, in place."""
    with torch.no_grad():
        rows = torch.as_tensor(indices, device=variable.value.device).long()
        variable.value[rows] = torch.as_tensor(values).to(variable.value.dtype)


class TorchTrainer(BaseTrainer):
    def train_step(self, data):
        z = unpack_latent(data)
        self.zero_grad()
        logs = {}
        phases = self.training_phases()
        for variables, optimizer, compute_loss in phases:
            variables = list(variables)
            loss, phase_logs = compute_loss(z, training=True)
            gradients = torch.autograd.grad(
                optimizer.scale_loss(loss),
                [v.value for v in variables],
                allow_unused=True,
            )
            # A variable the loss does not reach gets a zero gradient, as
            # under JAX.
            gradients = [
                torch.zeros_like(v.value) if g is None else g
                for g, v in zip(gradients, variables)
            ]
            with torch.no_grad():
                optimizer.apply(gradients, variables)
            self._merge_logs(logs, phase_logs)
        if all(optimizer is not self.optimizer for _, optimizer, _ in phases):
            self.optimizer.iterations.assign_add(1)
        return self._update_trackers(logs)

    def test_step(self, data):
        with torch.no_grad():
            _, logs = self.compute_step_loss(unpack_latent(data), training=False)
        return self._update_trackers(logs)
