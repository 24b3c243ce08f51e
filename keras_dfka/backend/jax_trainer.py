"""JAX gradient plumbing: a stateless step with `jax.value_and_grad`."""

import jax
import keras

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent


class JAXTrainer(BaseTrainer):
    def _stateless_loss(
        self, trainable_variables, non_trainable_variables, z, training
    ):
        mapping = list(zip(self.trainable_variables, trainable_variables)) + list(
            zip(self.non_trainable_variables, non_trainable_variables)
        )
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, logs = self.compute_step_loss(z, training=training)
        new_non_trainable = []
        for variable, value in zip(
            self.non_trainable_variables, non_trainable_variables
        ):
            current = scope.get_current_value(variable)
            new_non_trainable.append(value if current is None else current)
        return loss, (logs, new_non_trainable)

    def _stateless_update_trackers(self, metrics_variables, logs):
        mapping = list(zip(self.metrics_variables, metrics_variables))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            results = self._update_trackers(logs)
        new_metrics = []
        for variable, value in zip(self.metrics_variables, metrics_variables):
            current = scope.get_current_value(variable)
            new_metrics.append(value if current is None else current)
        return results, new_metrics

    def train_step(self, state, data):
        (
            trainable_variables,
            non_trainable_variables,
            optimizer_variables,
            metrics_variables,
        ) = state
        z = unpack_latent(data)

        def loss_fn(trainable, non_trainable):
            loss, aux = self._stateless_loss(trainable, non_trainable, z, True)
            mapping = list(zip(self.optimizer.variables, optimizer_variables))
            with keras.StatelessScope(state_mapping=mapping):
                scaled = self.optimizer.scale_loss(loss)
            return scaled, aux

        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (_, (logs, non_trainable_variables)), gradients = grad_fn(
            trainable_variables, non_trainable_variables
        )
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, gradients, trainable_variables
        )
        results, metrics_variables = self._stateless_update_trackers(
            metrics_variables, logs
        )
        return results, (
            trainable_variables,
            non_trainable_variables,
            optimizer_variables,
            metrics_variables,
        )

    def test_step(self, state, data):
        trainable_variables, non_trainable_variables, metrics_variables = state
        _, (logs, non_trainable_variables) = self._stateless_loss(
            trainable_variables, non_trainable_variables, unpack_latent(data), False
        )
        results, metrics_variables = self._stateless_update_trackers(
            metrics_variables, logs
        )
        return results, (
            trainable_variables,
            non_trainable_variables,
            metrics_variables,
        )
