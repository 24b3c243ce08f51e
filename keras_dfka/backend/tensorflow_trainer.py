"""TensorFlow gradient plumbing: `tf.GradientTape`."""

import tensorflow as tf

from keras_dfka.backend.base_trainer import BaseTrainer
from keras_dfka.backend.base_trainer import unpack_latent
from keras_dfka.utils import cpu_kernels
from keras_dfka.utils import distribution


def assign_rows(variable, indices, values):
    """`variable[indices] = values`, in place (a sparse update)."""
    variable.value.scatter_update(
        tf.IndexedSlices(tf.cast(values, variable.dtype), tf.cast(indices, "int32"))
    )


class TensorFlowTrainer(BaseTrainer):
    """Under a `tf.distribute` strategy with several replicas (the trainer
    built and compiled inside `strategy.scope()`), every replica runs the
    step on its share of the batch: its loss is weighted by its share of the
    global batch before the optimizer sums the replicas' gradients, the
    statistics the losses take over the batch are all-reduced
    (`keras_dfka.utils.distribution.batch_mean`) and the BatchNorm layers
    normalize with the global batch's statistics, so a step equals the
    one-device step on the same global batch and the replicas' variables
    stay equal. A replica without a sample is refused.

    On a CPU without TensorFlow's oneDNN kernels, the first `fit()` warns
    (`keras_dfka.utils.cpu_kernels`)."""

    def _check_distributed_fit(self, x, batch_size):
        super()._check_distributed_fit(x, batch_size)
        replicas = self.distribute_strategy.num_replicas_in_sync
        if replicas <= 1:
            return
        if not getattr(self, "_supports_replicas", True):
            raise ValueError(
                f"{type(self).__name__}.fit() does not support a tf.distribute "
                f"strategy with several replicas (received {replicas} replicas "
                f"of {type(self.distribute_strategy).__name__}): its sample pool "
                "would differ between the replicas. Train it on one device, or "
                "on several with the JAX backend and "
                "`keras.distribution.DataParallel`."
            )
        for size, where in distribution.known_batch_sizes(x, batch_size).items():
            if size < replicas:
                raise ValueError(
                    f"{type(self).__name__}.fit(): a global batch of {size} "
                    f"latent vectors ({where}) leaves a replica of the "
                    f"{replicas} of {type(self.distribute_strategy).__name__} "
                    "without a sample. Use batches of at least (ideally a "
                    f"multiple of) {replicas} vectors."
                )

    def _replica_weight(self, z):
        """`(z, weight)`: this replica's share of the global batch (`None`
        outside a multi-replica step), after checking that it has a sample;
        `z` then waits for that check."""
        context = distribution.replica_context()
        if context is None:
            return z, None
        local = tf.shape(z)[0]
        check = tf.debugging.assert_positive(
            local,
            message=(
                f"{type(self).__name__}: a replica of the "
                f"{context.num_replicas_in_sync} received no latent vector: the "
                "global batch is smaller than the number of replicas. Use "
                "batches of at least (ideally a multiple of) "
                f"{context.num_replicas_in_sync} vectors"
            ),
        )
        with tf.control_dependencies([check]):
            z = tf.identity(z)
        local = tf.cast(local, "float32")
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
        return z, local / total

    def fit(self, *args, **kwargs):
        cpu_kernels.warn_if_onednn_off()
        replicas = self.distribute_strategy.num_replicas_in_sync
        with distribution.synchronized_batch_norm(self, replicas):
            return super().fit(*args, **kwargs)

    def train_step(self, data):
        z, weight = self._replica_weight(unpack_latent(data))
        logs = {}
        phases = self.training_phases()
        for variables, optimizer, compute_loss in phases:
            with tf.GradientTape() as tape:
                loss, phase_logs = compute_loss(z, training=True)
                if weight is not None:
                    loss = loss * tf.cast(weight, loss.dtype)
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
        z, _ = self._replica_weight(unpack_latent(data))
        _, logs = self.compute_step_loss(z, training=False)
        return self._update_trackers(logs)
