"""JAX gradient plumbing: a stateless step with `jax.value_and_grad`."""

import jax
import keras
from keras import ops

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent


def assign_rows(variable, indices, values):
    """`variable[indices] = values` (in place when the state is donated, as
    in `fit()`)."""
    variable.assign(variable.value.at[indices].set(ops.cast(values, variable.dtype)))


class JAXTrainer(BaseTrainer):
    def _stateless_loss(
        self,
        trainable_variables,
        non_trainable_variables,
        z,
        training,
        compute_loss=None,
    ):
        compute_loss = compute_loss or self.compute_step_loss
        mapping = list(zip(self.trainable_variables, trainable_variables)) + list(
            zip(self.non_trainable_variables, non_trainable_variables)
        )
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, logs = compute_loss(z, training=training)
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
        positions = {id(v): i for i, v in enumerate(self.trainable_variables)}
        gradients = [None] * len(trainable_variables)
        logs = {}
        for variables, compute_loss in self.training_phases():
            # Only this phase's variables are differentiated; the others
            # enter its loss as constants, at their values of the step start.
            phase = [positions[id(v)] for v in variables]

            def loss_fn(phase_values, non_trainable, phase=phase, compute=compute_loss):
                values = list(trainable_variables)
                for i, value in zip(phase, phase_values):
                    values[i] = value
                loss, aux = self._stateless_loss(
                    values, non_trainable, z, True, compute
                )
                mapping = list(zip(self.optimizer.variables, optimizer_variables))
                with keras.StatelessScope(state_mapping=mapping):
                    scaled = self.optimizer.scale_loss(loss)
                return scaled, aux

            grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
            (_, (phase_logs, non_trainable_variables)), phase_gradients = grad_fn(
                [trainable_variables[i] for i in phase], non_trainable_variables
            )
            for i, gradient in zip(phase, phase_gradients):
                gradients[i] = gradient
            self._merge_logs(logs, phase_logs)
        gradients = [
            jax.numpy.zeros_like(v) if g is None else g
            for g, v in zip(gradients, trainable_variables)
        ]
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
