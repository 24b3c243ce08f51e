"""Checks of the teachers one amalgamation takes (`AmalgamGAN`)."""

import warnings

from keras_dfka.models.teacher import Teacher


def validate_teachers(teachers):
    """Checks a list of teachers for one amalgamation; returns it as a list."""
    if isinstance(teachers, Teacher):
        teachers = [teachers]
    teachers = list(teachers) if teachers is not None else []
    if not teachers:
        raise ValueError(
            "`teachers` must be a non-empty list of `keras_dfka.Teacher`. "
            "Received an empty list."
        )
    for index, teacher in enumerate(teachers):
        if not isinstance(teacher, Teacher):
            raise ValueError(
                f"`teachers[{index}]` must be a `keras_dfka.Teacher`. "
                f"Received: {type(teacher).__name__}"
            )
    counts = [t.num_blocks for t in teachers]
    if len(set(counts)) != 1:
        raise ValueError(
            "All teachers must have the same number of blocks B. Received "
            + ", ".join(f"'{t.name}': {t.num_blocks}" for t in teachers)
        )
    shapes = [t.level_shapes[0] for t in teachers]
    if len(set(shapes)) != 1:
        raise ValueError(
            "All teachers must take the same input shape. Received "
            + ", ".join(f"'{t.name}': {s}" for t, s in zip(teachers, shapes))
        )
    names = [t.name for t in teachers]
    if len(set(names)) != len(names):
        raise ValueError(f"Teacher names must be unique. Received: {names}")
    task_names = [task.name for t in teachers for task in t.tasks]
    if len(set(task_names)) != len(task_names):
        raise ValueError(
            "Task names must be unique across teachers (they key the TargetNet's "
            f"outputs). Received: {task_names}"
        )
    return teachers


def warn_teachers_without_batch_norm(teachers, weight):
    """Warns, naming them, about teachers the BatchNorm prior cannot reach.

    The BatchNorm-statistics prior matches the generated features to each
    teacher's BatchNorm statistics; a teacher without a BatchNorm layer
    adds nothing to it (and with no BatchNorm layer at all the term is 0).
    """
    missing = [t.name for t in teachers if not t.batch_norm_layers]
    if not missing:
        return
    if len(missing) == len(teachers):
        effect = (
            "no teacher has one, so the term is 0 and the prior is off for this run"
        )
    else:
        effect = (
            "the prior constrains the generator through the other teachers only "
            "(the term is their mean with 0 for these)"
        )
    warnings.warn(
        f"The BatchNorm-statistics prior (loss_weights['batch_norm']={weight}) "
        f"has no BatchNormalization layer to match in teacher(s) {missing}: "
        f"{effect}. Pass loss_weights={{'batch_norm': 0.0}} (or 'paper') to "
        "turn it off explicitly.",
        stacklevel=3,
    )
