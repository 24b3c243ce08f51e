"""Latent vectors chosen by what the teachers or the student make of
their images: `AmalgamGAN.balanced_latents` (even classes) and
`DualGenerator.hard_latents` (the student's largest disagreements), with
the measures they use. No data is needed: every label is a teacher's own
prediction on a generated image."""

import warnings

import numpy as np
from keras import ops

from keras_dfka.datasets.latent_noise import draw_latents
from keras_dfka.datasets.latent_noise import latent_pool
from keras_dfka.utils.model_utils import map_batches
from keras_dfka.utils.validation import check_int


def find_softmax_task(teachers, task=None):
    """Finds a softmax task of the teachers by name.

    Args:
        teachers: list of `keras_dfka.Teacher`.
        task: a task name, or `None` for the only softmax task.

    Returns:
        `(teacher_index, task_index, LabelTask)`.

    Raises:
        ValueError: if no softmax task has that name, or with `None`, if
            the teachers have none or several.
    """
    softmax = [
        (t, index, k)
        for t, teacher in enumerate(teachers)
        for index, k in enumerate(teacher.tasks)
        if k.activation == "softmax"
    ]
    names = [k.name for _, _, k in softmax]
    if task is None:
        if len(softmax) != 1:
            raise ValueError(
                "`task` must name the softmax task to balance; the teachers "
                f"have {len(softmax)} softmax tasks: {names}. Received: task=None"
            )
        return softmax[0]
    if task not in names:
        raise ValueError(
            f"`task` must be one of the teachers' softmax tasks {names}. "
            f"Received: task={task!r}"
        )
    return softmax[names.index(task)]


def balanced_latents(
    gan, num_samples, task=None, pool_factor=4, seed=0, batch_size=256
):
    """`gan.balanced_latents(...)` (see `AmalgamGAN.balanced_latents`)."""
    num_samples, rng, pool = latent_pool(gan.latent_dim, num_samples, pool_factor, seed)
    batch_size = check_int(batch_size, "batch_size", 1)
    t, index, chosen_task = gan.find_softmax_task(task)

    def predicted_class(z):
        images = gan.generator_outputs(z)[0]
        probabilities = gan.teachers[t].image_pass(images)[0][index]
        return ops.argmax(probabilities, axis=-1)

    classes = map_batches(predicted_class, pool, batch_size)
    members = [np.flatnonzero(classes == c) for c in range(len(chosen_task.labels))]
    present = [c for c, m in enumerate(members) if len(m)]
    missing = [chosen_task.labels[c] for c, m in enumerate(members) if not len(m)]
    if missing:
        warnings.warn(
            f"balanced_latents: no image of the {len(pool)} in the pool was "
            f"classified as {missing} (task {chosen_task.name!r}); those "
            "classes are left out. A larger `pool_factor` or a longer "
            "stage 1 may find them.",
            stacklevel=3,
        )
    chosen_indices = []
    for rank, c in enumerate(present):
        share = num_samples // len(present) + (rank < num_samples % len(present))
        replace = len(members[c]) < share
        chosen_indices.append(rng.choice(members[c], share, replace=replace))
    return pool[rng.permutation(np.concatenate(chosen_indices))]


def agreement(dual, num_samples=512, seed=12345, batch_size=128):
    """`dual.agreement(...)` (see `DualGenerator.agreement`)."""
    z = draw_latents(num_samples, dual.latent_dim, seed)
    images = dual.amalgam_gan.generate(z=z, batch_size=batch_size)
    student, teacher = dual._label_probabilities(images, batch_size)
    agree = []
    for columns in dual.label_plan.decisions():
        if len(columns) == 1:
            j = columns[0]
            agree.append((student[:, j] >= 0.5) == (teacher[:, j] >= 0.5))
        else:
            agree.append(
                np.argmax(student[:, columns], axis=-1)
                == np.argmax(teacher[:, columns], axis=-1)
            )
    return {
        "mean_absolute_error": float(np.mean(np.abs(student - teacher))),
        "label_agreement": float(np.mean(agree)),
    }


def disagreement(dual, z, batch_size=256):
    """`dual.disagreement(z)` (see `DualGenerator.disagreement`)."""
    batch_size = check_int(batch_size, "batch_size", 1)
    images = dual.amalgam_gan.generate(z=z, batch_size=batch_size)
    student, teacher = dual._label_probabilities(images, batch_size)
    eps = 1e-7
    student = np.clip(student.astype("float64"), eps, 1.0 - eps)
    teacher = np.clip(teacher.astype("float64"), eps, 1.0 - eps)
    total = np.zeros(len(student))
    for columns in dual.label_plan.decisions():
        s, t = student[:, columns], teacher[:, columns]
        if len(columns) == 1:
            s, t = np.concatenate([s, 1 - s], -1), np.concatenate([t, 1 - t], -1)
        s = s / s.sum(-1, keepdims=True)
        t = t / t.sum(-1, keepdims=True)
        total += np.sum(t * np.log(t / s), axis=-1)
    return np.maximum(total, 0.0)


def hard_latents(dual, num_samples, pool_factor=4, seed=0, batch_size=256):
    """`dual.hard_latents(...)` (see `DualGenerator.hard_latents`)."""
    num_samples, rng, pool = latent_pool(
        dual.latent_dim, num_samples, pool_factor, seed
    )
    batch_size = check_int(batch_size, "batch_size", 1)
    chunk = 64 * batch_size  # bounds the images held at once
    scores = map_batches(lambda z: dual.disagreement(z, batch_size), pool, chunk)
    hardest = np.argsort(-scores, kind="stable")[:num_samples]
    return pool[rng.permutation(hardest)]
