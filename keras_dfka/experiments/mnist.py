"""The classic data-free distillation case on MNIST (one softmax teacher).

A LeNet-5 style teacher is trained on the first part of the 10,000 MNIST test
digits in `../shared/data/mnist`; the rest is the held-out evaluation part.
The TargetNet (half-width shared trunk, the teacher's head) is amalgamated
data-free and compared with the same architecture trained on the real digits
(data student), on noise (noise student) or, by plain distillation, on a fixed
set of the trained generator's images (generated student), by top-1 accuracy.
"""

import dataclasses
import os
import time

import keras
import numpy as np

import keras_dfka
from keras_dfka import evaluation
from keras_dfka.experiments import faces
from keras_dfka.teacher_zoo import block_names
from keras_dfka.teacher_zoo import lenet5
from keras_dfka.validation import check_int

DIGITS = [str(i) for i in range(10)]


@dataclasses.dataclass
class MNISTConfig:
    """Every default of the MNIST experiment, in one place."""

    data_dir: str = "../shared/data/mnist"
    teacher_digits: int = 8000  # the first N digits train the teacher
    teacher_epochs: int = 8
    batch_size: int = 64
    latent_dim: int = 64
    width_multiplier: float = 0.5
    preset: str = "default"
    gan_steps: int = 1000
    dual_steps: int = 1000
    student_steps: int | None = None
    generated_samples: int = 32000  # the generated student's fixed image set
    learning_rate: float = 1e-3
    seed: int = 0
    workdir: str = "workdir/mnist"
    target_labels: list = dataclasses.field(default_factory=lambda: list(DIGITS))
    verbose: int = 1


def load_mnist_splits(config):
    """Returns `{"train": (x, y), "test": (x, y)}` with x in [0, 1], y int."""
    images, labels = keras_dfka.datasets.load_mnist_idx(config.data_dir)
    x = images.astype("float32")[..., None] / 255.0
    n = int(config.teacher_digits)
    if not 0 < n < len(x):
        raise ValueError(f"`teacher_digits` must be in 1..{len(x) - 1}. Received: {n}")
    return {"train": (x[:n], labels[:n]), "test": (x[n:], labels[n:])}


def train_mnist_teacher(splits, config):
    keras.utils.set_random_seed(config.seed)
    model = lenet5(name="lenet5_teacher")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = splits["train"]
    model.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=config.teacher_epochs,
        verbose=config.verbose,
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


def run(
    config,
    teacher_model=None,
    gan_options=None,
    dual_options=None,
    splits=None,
    references=True,
    alternate_steps=None,
    balanced_latents=None,
    hard_latents=None,
):
    """Runs the experiment; returns a dict of accuracies and timings.

    The dict holds `top1_accuracy` and `per_class_accuracy` (the accuracy on
    the digits of each true class, see `per_class_accuracy`) for the teacher,
    the TargetNet and, with `references`, the data, noise and generated
    students. The generated student is the TargetNet architecture trained
    like the data student, but on `config.generated_samples` images of the
    trained generator labelled by the teacher: plain distillation on the
    same synthetic images, without the dual generator.

    Args:
        config: an `MNISTConfig`.
        teacher_model: a trained teacher to reuse (default: train one).
        gan_options, dual_options: extra `AmalgamGAN` / `DualGenerator`
            arguments (ablations).
        splits: the output of `load_mnist_splits` to reuse.
        references: bool, whether to train the data and noise students.
        alternate_steps: optional int, passed to `faces.amalgamate` (the
            two stages alternate in chunks of this many steps).
        balanced_latents: optional int, passed to `faces.amalgamate` (the dual
            generator trains on this many class-balanced latent vectors). The
            generated student keeps plain `N(0, 1)` draws.
        hard_latents: optional int, passed to `faces.amalgamate` (with
            `balanced_latents`: the second half of the student's steps adds
            this many of its hardest vectors, `DualGenerator.hard_latents`).
    """
    t_start = time.time()
    if references:
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
    keras.utils.set_random_seed(config.seed)
    gan, _, target_net, timings = faces.amalgamate(
        [teacher],
        config,
        gan_options,
        dual_options,
        callbacks=False,
        alternate_steps=alternate_steps,
        balanced_latents=balanced_latents,
        hard_latents=hard_latents,
    )
    x_train, _ = splits["train"]
    x_test, y_test = splits["test"]
    scores = {
        "teacher": teacher_model.predict(x_test, verbose=0),
        "target_net": target_net.predict_labels(x_test),
    }
    if references:
        inputs = faces.reference_inputs(x_train, config.seed)
        inputs["generated_student"] = gan.generate(
            config.generated_samples, seed=config.seed + 11
        )
        students, _ = faces.train_reference_students(
            target_net,
            [teacher],
            config.target_labels,
            inputs,
            config,
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
    if references:
        result["gap_closed"] = float(
            evaluation.gap_closed(
                accuracy["target_net"],
                accuracy["noise_student"],
                accuracy["data_student"],
            )
        )
    return result
