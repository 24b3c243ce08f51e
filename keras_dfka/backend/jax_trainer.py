"""JAX gradient plumbing: a stateless step with `jax.value_and_grad`."""

import jax
import keras
from keras import ops

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent
from keras_dfka.utils import distribution
from keras_dfka.utils.keras_internals import has_unsynced_jax_state
from keras_dfka.utils.keras_internals import reattach_value
from keras_dfka.utils.keras_internals import variable_value_or_none


def assign_rows(variable, indices, values):
    """`variable[indices] = values` (in place when the state is donated, as
    in `fit()`)."""
    variable.assign(variable.value.at[indices].set(ops.cast(values, variable.dtype)))


class JAXTrainer(BaseTrainer):
    """Under `keras.distribution.DataParallel` a step is one program over
    the global batch (XLA adds the collectives), so it equals the one-device
    step as it is. `fit()` first checks that every variable (the teachers'
    too) lives on the distribution's devices and that the devices can split
    every batch it can see; if `fit()` fails anyway, the variables keep
    their last values (Keras detaches them while it trains)."""

    def _check_distributed_fit(self, x, batch_size):
        super()._check_distributed_fit(x, batch_size)
        current = keras.distribution.distribution()
        if current is None:
            return
        mesh = current.device_mesh
        devices = set(mesh.backend_mesh.devices.flat)
        misplaced = [
            v.path
            for v in self.variables
            if variable_value_or_none(v) is not None
            and set(v.value.sharding.device_set) != devices
        ]
        if misplaced:
            raise ValueError(
                f"{type(self).__name__}.fit() under {type(current).__name__} "
                f"over {len(devices)} devices: {len(misplaced)} variable(s) live "
                f"on other devices, e.g. {misplaced[:3]}. They were created "
                "before `keras.distribution.set_distribution(...)` (typically "
                "the teachers' models, or the trainer itself). Set the "
                "distribution first, then load or build the teacher models, "
                "wrap them in `keras_dfka.Teacher` and build and compile the "
                "trainer (or do all of it inside `with distribution.scope():`)."
            )
        axis = mesh.axis_names.index(current.batch_dim_name)
        split = max(1, mesh.shape[axis] // jax.process_count())
        for size, where in distribution.known_batch_sizes(x, batch_size).items():
            if size % split:
                raise ValueError(
                    f"{type(self).__name__}.fit() under "
                    f"{type(current).__name__}: the batch of {size} latent "
                    f"vectors ({where}) cannot be split over the {split} "
                    f"devices of this process. Use a batch size that is a "
                    f"multiple of {split} (with arrays, also a number of "
                    "samples that leaves no partial batch, or a multiple of "
                    f"{split} in it)."
                )

    def fit(self, *args, **kwargs):
        # Keras detaches the variables' values during fit() and reattaches
        # them at the end of each epoch; an error in between (the devices
        # cannot split a batch of a dataset whose batch size fit() could not
        # see, say) would leave the model without values.
        values = [(v, variable_value_or_none(v)) for v in self._state_variables()]
        try:
            return super().fit(*args, **kwargs)
        except BaseException:
            self._reattach_state(values)
            raise

    def _state_variables(self):
        variables = list(self.variables)
        if self.optimizer is not None:
            variables += list(self.optimizer.variables)
        return variables + list(self.metrics_variables)

    def _reattach_state(self, values):
        """After a failed `fit()`: the last step's state if a step ran, and
        else (for the variables still detached) the values before `fit()`."""
        if has_unsynced_jax_state(self):
            try:
                self.jax_state_sync()
            except Exception:
                pass
        for variable, value in values:
            if variable_value_or_none(variable) is None and value is not None:
                if not (hasattr(value, "is_deleted") and value.is_deleted()):
                    reattach_value(variable, value)

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
