"""Data-parallel training: batch statistics over the global batch, the
checks `fit()` makes before it shards anything, and per-host seeds.

Under JAX with `keras.distribution.DataParallel` a step is one program over
the global batch (XLA inserts the collectives), so batch means are global
by construction. Under TensorFlow with a `tf.distribute` strategy
(`MirroredStrategy`, `MultiWorkerMirroredStrategy`) every replica runs the
step on its share of the batch: `batch_mean` all-reduces the statistics
that the losses take over the batch, and the backend trainer weights each
replica's loss by its share of the global batch (the optimizer sums the
replicas' gradients), so a step equals the one-device step.
"""

import contextlib
import json
import os

import keras
from keras import ops

_BACKEND = keras.backend.backend()


def replica_context():
    """The TensorFlow replica context of a step run by a `tf.distribute`
    strategy with more than one replica in sync, else `None` (one device,
    another backend, or outside a step)."""
    if _BACKEND != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return None
    return context


def batch_mean(x, axis=0):
    """`ops.mean(x, axis)` over the global batch.

    Inside a TensorFlow step run by a strategy with several replicas, the
    sums and counts of every replica are all-reduced (the gradient flows
    back to each replica's share); anywhere else this is `ops.mean`.

    Args:
        x: a tensor.
        axis: an int or a tuple of ints; must include the batch axis 0.

    Returns:
        The mean over `axis`.
    """
    context = replica_context()
    if context is None:
        return ops.mean(x, axis=axis)
    import tensorflow as tf

    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    total = tf.reduce_sum(x, axis=axes)
    count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)), x.dtype)
    total, count = context.all_reduce(tf.distribute.ReduceOp.SUM, [total, count])
    return total / count


@contextlib.contextmanager
def synchronized_batch_norm(model, replicas):
    """With `replicas > 1`, makes the `BatchNormalization` layers of `model`
    normalize with the statistics of the global batch (`synchronized=True`,
    TensorFlow only), so that every replica normalizes as one device would
    and their moving statistics stay equal; restores the layers' setting on
    exit. With one replica it changes nothing.

    Enter it around `fit()`, in the caller's thread: the replicas of a
    `MirroredStrategy` trace the step concurrently, in threads of their own.
    """
    if replicas <= 1:
        yield
        return
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization) and not layer.synchronized
    ]
    for layer in layers:
        layer.synchronized = True
    try:
        yield
    finally:
        for layer in layers:
            layer.synchronized = False


def process_index():
    """The index of this process among the hosts training together; 0 on one
    host.

    JAX: `jax.process_index()`. TensorFlow: the task of `TF_CONFIG` (what
    `MultiWorkerMirroredStrategy` reads), numbered with the chief first
    when the cluster has one. torch: the rank of an initialized
    `torch.distributed` group.
    """
    if _BACKEND == "jax":
        import jax

        return int(jax.process_index())
    if _BACKEND == "tensorflow":
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        task = config.get("task") or {}
        index = int(task.get("index", 0))
        if task.get("type") == "worker" and "chief" in (config.get("cluster") or {}):
            index += 1
        return index
    if _BACKEND == "torch":
        import torch.distributed

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return int(torch.distributed.get_rank())
    return 0


def known_batch_sizes(x, batch_size):
    """The batch sizes `fit(x, batch_size=batch_size)` will feed, where they
    can be known without reading the data: `{size: description}`.

    A `PyDataset` with a `batch_size` attribute (`LatentNoise`, `LatentSet`)
    gives its `batch_size`; an array gives `batch_size` (Keras's default 32)
    and the size of its last, partial batch. Other inputs give `{}`.
    """
    if isinstance(x, keras.utils.PyDataset):
        size = getattr(x, "batch_size", None)
        if isinstance(size, int):
            return {size: f"{type(x).__name__}(batch_size={size})"}
        return {}
    shape = getattr(x, "shape", None)
    if shape is None or not len(shape) or shape[0] is None:
        return {}
    n = int(shape[0])
    size = 32 if batch_size is None else int(batch_size)
    sizes = {min(size, n): f"batch_size={size} with {n} samples"}
    if n > size and n % size:
        sizes[n % size] = (
            f"the last batch of {n} samples with batch_size={size}, {n % size} samples"
        )
    return sizes
