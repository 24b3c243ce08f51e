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
        trainable_variables = list(trainable_variables)
        optimizer_variables = list(optimizer_variables)
        positions = {id(v): i for i, v in enumerate(self.trainable_variables)}
        slots = {id(v): i for i, v in enumerate(self.optimizer.variables)}
        logs = {}
        phases = self.training_phases()
        for variables, optimizer, compute_loss in phases:
            # Only this phase's variables are differentiated; the others
            # enter its loss as constants, at their current values.
            phase = [positions[id(v)] for v in variables]
            values = list(trainable_variables)

            def loss_fn(
                phase_values,
                non_trainable,
                phase=phase,
                values=values,
                optimizer=optimizer,
                compute=compute_loss,
            ):
                current = list(values)
                for i, value in zip(phase, phase_values):
                    current[i] = value
                loss, aux = self._stateless_loss(
                    current, non_trainable, z, True, compute
                )
                mapping = list(zip(self.optimizer.variables, optimizer_variables))
                with keras.StatelessScope(state_mapping=mapping):
                    scaled = optimizer.scale_loss(loss)
                return scaled, aux

            grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
            (_, (phase_logs, non_trainable_variables)), gradients = grad_fn(
                [trainable_variables[i] for i in phase], non_trainable_variables
            )
            # The phase's optimizer state: all of `self.optimizer`'s, or the
            # slice that is one of its MultiOptimizer's optimizers (built on
            # exactly this phase's variables, in this order).
            owned = [slots[id(v)] for v in optimizer.variables]
            new_values, new_slots = optimizer.stateless_apply(
                [optimizer_variables[i] for i in owned],
                gradients,
                [trainable_variables[i] for i in phase],
            )
            for i, value in zip(phase, new_values):
                trainable_variables[i] = value
            for i, value in zip(owned, new_slots):
                optimizer_variables[i] = value
            self._merge_logs(logs, phase_logs)
        if all(optimizer is not self.optimizer for _, optimizer, _ in phases):
            i = slots[id(self.optimizer.iterations)]
            optimizer_variables[i] = optimizer_variables[i] + 1
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
