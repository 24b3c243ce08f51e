"""Small model helpers shared by the trainers, the pipeline and the examples."""

import keras
import numpy as np
from keras import ops


def as_list(outputs):
    """A model's outputs as a list (a one-output model returns a tensor)."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def set_all_trainable(layer, trainable):
    """Sets `trainable` on `layer` and on every layer nested in it."""
    layer.trainable = trainable
    for sublayer in getattr(layer, "layers", []):
        set_all_trainable(sublayer, trainable)


def copy_model(model, trainable=True):
    """A copy of `model` with its weights, every layer set to `trainable`.

    (`clone_model` keeps each copied layer's own flag, so the copy of a frozen
    teacher's layer would stay frozen under a trainable model.)
    """
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    set_all_trainable(clone, trainable)
    return clone


def map_batches(function, inputs, batch_size):
    """Applies `function` to consecutive slices of `inputs`, as numpy.

    Args:
        function: called on `inputs[i : i + batch_size]`; returns a tensor or
            array, or a list or tuple of them.
        inputs: an array (or anything sliceable with `len`).
        batch_size: int >= 1, the rows of each slice.

    Returns:
        The results concatenated along the first axis: one numpy array, or a
        list of arrays when `function` returns a list or tuple.
    """
    if batch_size < 1:
        raise ValueError(
            f"`batch_size` must be an integer >= 1. Received: batch_size={batch_size}"
        )
    chunks = []
    for start in range(0, len(inputs), batch_size):
        result = function(inputs[start : start + batch_size])
        if isinstance(result, (list, tuple)):
            chunks.append([np.asarray(ops.convert_to_numpy(r)) for r in result])
        else:
            chunks.append(np.asarray(ops.convert_to_numpy(result)))
    if chunks and isinstance(chunks[0], list):
        return [np.concatenate(parts, axis=0) for parts in zip(*chunks)]
    return np.concatenate(chunks, axis=0)


def random_flip_and_shift(images, seed):
    """A random horizontal flip and a random circular shift of a batch.

    One draw per batch: the flip with probability 1/2, the shift uniform in
    `[-side // 8, side // 8]` pixels along each spatial axis (at least one).

    Args:
        images: `(batch, height, width, channels)` tensor.
        seed: a `keras.random.SeedGenerator`.

    Returns:
        A tensor of the same shape.
    """
    height, width = images.shape[1], images.shape[2]
    flip = keras.random.uniform((), seed=seed) < 0.5
    images = ops.where(flip, ops.flip(images, axis=2), images)
    limit_h, limit_w = max(1, height // 8), max(1, width // 8)
    shift_h = keras.random.randint((), -limit_h, limit_h + 1, seed=seed)
    shift_w = keras.random.randint((), -limit_w, limit_w + 1, seed=seed)
    images = ops.roll(images, shift_h, axis=1)
    return ops.roll(images, shift_w, axis=2)


def random_mixup(images, seed):
    """Mixes each image of a batch with its neighbour in the batch.

    `mixed[i] = w[i] * images[i] + (1 - w[i]) * images[i - 1]` (the first
    with the last), one weight `w[i]` uniform in `[0, 1)` per image: mixup
    (Zhang et al., ICLR 2018) with `alpha=1`. For a batch drawn at random
    the neighbours are random partners.

    Args:
        images: `(batch, height, width, channels)` tensor.
        seed: a `keras.random.SeedGenerator`.

    Returns:
        A tensor of the same shape, between the two images pixel by pixel.
    """
    batch = images.shape[0]
    if batch is None:  # Traced without a static batch size (TensorFlow).
        batch = ops.shape(images)[0]
    weights = keras.random.uniform((batch, 1, 1, 1), dtype=images.dtype, seed=seed)
    partners = ops.roll(images, 1, axis=0)
    return weights * images + (1.0 - weights) * partners
