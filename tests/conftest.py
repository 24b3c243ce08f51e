"""Shared fixtures: tiny teachers trained on data the tests make."""

import os
import sys

# As keras_dfka does when it is imported first (keras_dfka.utils.cpu_kernels): the
# tests, and the scripts they run, use TensorFlow's oneDNN CPU kernels.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402
import numpy as np
import pytest

import keras_dfka
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn

IMAGE_SHAPE = (16, 16, 3)
TESTS = os.path.dirname(os.path.abspath(__file__))
# The tests of the scripts (examples, guides, benchmarks): marked `scripts`.
SCRIPT_TESTS = ("examples", "benchmarks", "guides_test.py")
# Tests of code that computes nothing with a backend (argument parsing and
# checks, label plans, file readers, metrics on NumPy arrays, the command
# line's options): marked `portable`. CI runs them on TensorFlow only; the
# trainers, layers, losses, pipeline, resume and NaN-guard tests run on
# every backend.
PORTABLE_TESTS = (
    "cli_test.py",
    "evaluation",
    os.path.join("models", "label_plan_test.py"),
    os.path.join("utils", "validation_test.py"),
    os.path.join("datasets", "celeba_test.py"),
    os.path.join("datasets", "image_folder_test.py"),
    os.path.join("datasets", "mnist_test.py"),
    os.path.join("datasets", "procedural_faces_test.py"),
)


def _under(path, names):
    roots = [os.path.join(TESTS, name) for name in names]
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def pytest_collection_modifyitems(config, items):
    """Marks the scripts' tests `scripts` and the backend-free ones
    `portable` (CI runs both on TensorFlow only)."""
    for item in items:
        path = str(item.path)
        if _under(path, SCRIPT_TESTS):
            item.add_marker(pytest.mark.scripts)
        if _under(path, PORTABLE_TESTS):
            item.add_marker(pytest.mark.portable)


def make_color_data(n, seed):
    """Images whose labels depend on channel brightness: easy to learn."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.1, 0.9, size=(n, 1, 1, 3))
    x = np.clip(base + 0.15 * rng.standard_normal((n,) + IMAGE_SHAPE), 0, 1)
    means = x.mean(axis=(1, 2))
    multilabel = (means > 0.5).astype("float32")  # red, green, blue bright
    bright = (means.mean(axis=1, keepdims=True) > 0.5).astype("float32")
    dominant = np.eye(3, dtype="float32")[means.argmax(axis=1)]
    return x.astype("float32"), multilabel, bright, dominant


def train_tiny_teachers(seed=0, epochs=4):
    keras.utils.set_random_seed(seed)
    x, multilabel, bright, dominant = make_color_data(2048, seed)
    color_task = keras_dfka.LabelTask("color", ["red", "green", "blue"], "sigmoid")
    bright_task = keras_dfka.LabelTask("bright", ["is_bright"], "sigmoid")
    dominant_task = keras_dfka.LabelTask(
        "dominant", ["red_most", "green_most", "blue_most"], "softmax"
    )
    model_a = small_cnn(IMAGE_SHAPE, [color_task], widths=(8, 16, 16), name="tiny_a")
    model_a.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy")
    model_a.fit(x, multilabel, batch_size=64, epochs=epochs, verbose=0)
    model_b = small_cnn(
        IMAGE_SHAPE,
        [bright_task, dominant_task],
        widths=(8, 16, 16),
        name="tiny_b",
        from_logits=True,
    )
    model_b.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=[
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.losses.CategoricalCrossentropy(from_logits=True),
        ],
    )
    model_b.fit(x, [bright, dominant], batch_size=64, epochs=epochs, verbose=0)
    teacher_a = keras_dfka.Teacher(model_a, block_names(model_a), tasks=[color_task])
    teacher_b = keras_dfka.Teacher(
        model_b,
        block_names(model_b),
        tasks=[bright_task, dominant_task],
        from_logits=True,
    )
    return teacher_a, teacher_b


@pytest.fixture(scope="session")
def tiny_teachers():
    return train_tiny_teachers()


def weights_of(layer_or_model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in layer_or_model.weights]


def all_equal(before, after):
    return all(np.array_equal(a, b) for a, b in zip(before, after))


def any_changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # For `examples`.
BACKEND = keras.backend.backend()

if BACKEND == "torch" and os.environ.get("PYTEST_XDIST_WORKER"):
    # Two pytest-xdist workers on two cores, each with PyTorch's default of
    # one OpenMP thread a core, wait on each other's spinning threads: the
    # tiny teachers took 92 s to train in each worker instead of 4 s alone.
    # One thread a worker: 4 s each, side by side.
    import torch

    torch.set_num_threads(1)


def shared_data_dir():
    """`$KERAS_DFKA_DATA_DIR`, else `../shared/data` beside the repo root."""
    if os.environ.get("KERAS_DFKA_DATA_DIR"):
        return os.environ["KERAS_DFKA_DATA_DIR"]
    return os.path.join(os.path.dirname(ROOT), "shared", "data")


def tensorflow_or_jax_only(what):
    """A `pytestmark` skipping a module on backends `what` does not support."""
    return pytest.mark.skipif(
        BACKEND not in ("tensorflow", "jax"),
        reason=f"{what} supports tensorflow and jax, not {BACKEND}",
    )
