"""The classic data-free distillation case on MNIST (one softmax teacher).

A LeNet-5 style teacher is trained on the first part of the 10,000 MNIST test
digits in `../shared/data/mnist`; the rest is the held-out evaluation part.
The TargetNet (half-width shared trunk, the teacher's head) is amalgamated
data-free and compared with the same architecture trained on the real digits
(data student), on noise (noise student) or, by plain distillation, on a fixed
set of the trained generator's images (generated student), by top-1 accuracy.
"""

import os
import time

import keras
import numpy as np

import keras_dfka
from examples import references
from examples.mnist.config import DIGITS
from keras_dfka import evaluation
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import lenet5
from keras_dfka.utils.validation import check_int


def load_mnist_splits(config):
    """Returns `{"train": (x, y), "test": (x, y)}` with x in [0, 1], y int."""
    images, labels = keras_dfka.datasets.load_mnist_idx(config.data_dir)
    x = images.astype("float32")[..., None] / 255.0
    n = int(config.teacher_digits)
    if not 0 < n < len(x):
        raise ValueError(f"`teacher_digits` must be in 1..{len(x) - 1}. Received: {n}")
    return {"train": (x[:n], labels[:n]), "test": (x[n:], labels[n:])}


def train_mnist_teacher(splits, config):
    """Trains the LeNet-5 teacher on the training digits."""
    settings = config.amalgamation
    keras.utils.set_random_seed(settings.seed)
    model = lenet5(name="lenet5_teacher")
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = splits["train"]
    model.fit(
        x,
        y,
        batch_size=settings.batch_size,
        epochs=config.teacher_epochs,
        verbose=settings.verbose,
    )
    return model


def per_class_accuracy(probabilities, labels, num_classes=10):
    """Top-1 accuracy on the digits of each true class (per-class recall).

    Args:
        probabilities: `(n, num_classes)` scores.
        labels: `(n,)` integer classes in `0..num_classes - 1`.
        num_classes: int.

    Returns:
        A list of `num_classes` floats; `nan` for a class with no digit.
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or probabilities.shape[-1] != num_classes:
        raise ValueError(
            f"`probabilities` must have shape (n, {num_classes}). "
            f"Received shape {probabilities.shape}"
        )
    if labels.shape != probabilities.shape[:1]:
        raise ValueError(
            f"`labels` must have shape ({probabilities.shape[0]},) to match "
            f"`probabilities`. Received shape {labels.shape}"
        )
    return [
        evaluation.top1_accuracy(labels[labels == c], probabilities[labels == c])
        for c in range(num_classes)
    ]


def run(config, teacher_model=None, splits=None, references_too=True):
    """Runs the example; returns a dict of accuracies and timings.

    The dict holds `top1_accuracy` and `per_class_accuracy` (the accuracy on
    the digits of each true class, see `per_class_accuracy`) for the teacher,
    the TargetNet and, with `references_too`, the data, noise and generated
    students. The generated student is the TargetNet architecture trained
    like the data student, but on `config.generated_samples` images of the
    trained generator labelled by the teacher: plain distillation on the
    same synthetic images, without the dual generator.

    Args:
        config: an `MNISTConfig`; its `amalgamation` is the data-free part
            (schedule, balanced and hard latent vectors, ablations).
        teacher_model: a trained teacher to reuse (default: train one).
        splits: the output of `load_mnist_splits` to reuse.
        references_too: bool, whether to train the reference students.
    """
    t_start = time.time()
    if references_too:
        check_int(config.generated_samples, "generated_samples", 1)
    os.makedirs(config.workdir, exist_ok=True)
    if splits is None:
        splits = load_mnist_splits(config)
    if teacher_model is None:
        teacher_model = train_mnist_teacher(splits, config)
    teacher = keras_dfka.Teacher(
        teacher_model,
        block_names(teacher_model),
        labels=DIGITS,
        activation="softmax",
        name="mnist",
    )
    settings = config.amalgamation
    result = keras_dfka.amalgamate([teacher], config.target_labels, settings)
    gan, target_net, timings = result.gan, result.target_net, result.timings
    x_train, _ = splits["train"]
    x_test, y_test = splits["test"]
    scores = {
        "teacher": teacher_model.predict(x_test, verbose=0),
        "target_net": target_net.predict_labels(x_test),
    }
    if references_too:
        inputs = references.reference_inputs(x_train, settings.seed)
        inputs["generated_student"] = gan.generate(
            config.generated_samples, seed=settings.seed + 11
        )
        students, _ = references.train_reference_students(
            target_net,
            [teacher],
            config.target_labels,
            inputs,
            config.student_steps or settings.dual_steps,
            settings,
            loss="categorical_crossentropy",
        )
        for name, student in students.items():
            scores[name] = student.predict(x_test, verbose=0)
    accuracy = {name: evaluation.top1_accuracy(y_test, p) for name, p in scores.items()}
    result = {
        "top1_accuracy": accuracy,
        "per_class_accuracy": {
            name: per_class_accuracy(p, y_test) for name, p in scores.items()
        },
        "target_over_teacher": accuracy["target_net"] / accuracy["teacher"],
        "parameters": {
            "teacher": evaluation.count_params(teacher_model),
            "target_net": evaluation.count_params(target_net),
        },
        "timings_s": {**timings, "total_s": time.time() - t_start},
    }
    if references_too:
        result["gap_closed"] = float(
            evaluation.gap_closed(
                accuracy["target_net"],
                accuracy["noise_student"],
                accuracy["data_student"],
            )
        )
    return result
