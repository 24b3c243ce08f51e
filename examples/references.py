"""The reference students of the examples and benchmarks.

The TargetNet's architecture trained from scratch, the ordinary way, on
images labelled by the teachers: on the real training images (the
data-driven student, the upper reference) or on noise images (the noise
student, the lower reference). `gap_closed` places the TargetNet between
them.
"""

import time

import keras
import numpy as np

from keras_dfka.models.label_plan import LabelPlan
from keras_dfka.utils import map_batches
from keras_dfka.utils import set_all_trainable


def teacher_soft_labels(teachers, target_labels, images, batch_size=256):
    """The teachers' probabilities of the target labels on `images`."""
    plan = LabelPlan.resolve(teachers, target_labels)
    return plan.teacher_probabilities(teachers, images, batch_size)


def label_model(target_net, teachers):
    """A copy of the TargetNet architecture for the reference students, with
    one `(batch, len(target_labels))` output.

    The trunk and the filters are re-initialized; every branch head starts
    from its teacher's own head weights (the information the data-free
    TargetNet also starts from; not the TargetNet's, which
    `DualGenerator(fine_tune_heads=True)` has trained on generated images).
    Every layer is trainable: the copy of the TargetNet's frozen heads would
    otherwise keep their fresh random weights.
    """
    copy = keras.models.clone_model(target_net)
    heads = {f"branch_{t.name}_head": t.head for t in teachers}
    for layer in copy.layers:
        set_all_trainable(layer, True)
        if layer.name.startswith("branch_") and layer.name.endswith("_head"):
            layer.set_weights(heads[layer.name].get_weights())
    by_name = dict(zip(copy.output_names, copy.outputs))
    columns = [
        by_name[task][:, index : index + 1] for task, index in target_net.columns
    ]
    merged = keras.layers.Concatenate(name="labels")(columns)
    return keras.Model(copy.inputs[0], merged, name="reference_student")


def train_reference_student(
    target_net, teachers, images, soft_labels, steps, config, loss="binary_crossentropy"
):
    """Trains the TargetNet architecture from scratch on `(images, soft labels)`.

    Args:
        target_net: the `TargetNet` whose architecture to copy.
        teachers: its teachers (their heads start the branches).
        images, soft_labels: the training pairs.
        steps: int, the budget in steps of `config.batch_size`, rounded to
            whole epochs.
        config: the `keras_dfka.AmalgamationConfig` of the run (its seed,
            batch size, the student's learning rate and its decay, and
            verbosity).
        loss: the Keras loss.

    Returns:
        The trained `keras.Model`.
    """
    keras.utils.set_random_seed(config.seed + 7)
    student = label_model(target_net, teachers)
    epochs = max(1, int(round(steps * config.batch_size / len(images))))
    updates = epochs * -(-len(images) // config.batch_size)
    student.compile(
        optimizer=keras.optimizers.Adam(config.student_learning_rate(updates)),
        loss=loss,
        jit_compile=config.jit_compile,
    )
    student.fit(
        images,
        soft_labels,
        batch_size=config.batch_size,
        epochs=epochs,
        verbose=config.verbose,
    )
    return student


def reference_inputs(x_train, seed):
    """The reference students' images: the real training images
    (`"data_student"`) and as many uniform-noise images (`"noise_student"`,
    drawn with `seed`)."""
    rng = np.random.default_rng(seed)
    return {
        "data_student": x_train,
        "noise_student": rng.uniform(size=x_train.shape).astype("float32"),
    }


def train_reference_students(
    target_net,
    teachers,
    target_labels,
    inputs,
    steps,
    config,
    loss="binary_crossentropy",
):
    """Trains one reference student per image set of `inputs`.

    Each is `train_reference_student` on those images with the teachers' soft
    labels for `target_labels`. Returns `(students, seconds)`: dicts keyed like
    `inputs`, the trained models and each one's wall time (labelling included).
    """
    students, seconds = {}, {}
    for name, images in inputs.items():
        t0 = time.time()
        students[name] = train_reference_student(
            target_net,
            teachers,
            images,
            teacher_soft_labels(teachers, target_labels, images),
            steps,
            config,
            loss=loss,
        )
        seconds[name] = time.time() - t0
    return students, seconds


def predict(model, images, batch_size=256):
    """A model's (or callable's) outputs on `images`, in batches, as numpy."""
    return map_batches(model, images, batch_size)
