"""Runs the trainers on two simulated devices and on one, in one process.

Run by `tests/distribution_test.py` in a subprocess, because the devices
must be made before the backend starts: JAX with
`XLA_FLAGS=--xla_force_host_platform_device_count=2` and
`keras.distribution.DataParallel`, TensorFlow with two logical CPU devices
and `tf.distribute.MirroredStrategy`. Prints one JSON line, the measurements
and the errors of every case, after the line `RESULTS`:

    KERAS_BACKEND=jax python tests/distribution_worker.py
"""

import contextlib
import json
import os
import sys
import traceback

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if BACKEND == "tensorflow":
    import tensorflow as tf

    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_dfka  # noqa: E402
from keras_dfka.models.teacher_zoo import block_names  # noqa: E402
from keras_dfka.models.teacher_zoo import small_cnn  # noqa: E402

IMAGE_SHAPE = (16, 16, 3)
LATENT_DIM = 8
BATCH = 8
STEPS = 3


def make_teachers():
    """Two untrained tiny teachers (a sigmoid one, a softmax one with
    logits), each with BatchNorm layers; the same weights on every call."""
    keras.utils.set_random_seed(0)
    color = keras_dfka.LabelTask("color", ["red", "green", "blue"], "sigmoid")
    dominant = keras_dfka.LabelTask("dominant", ["r", "g", "b"], "softmax")
    a = small_cnn(IMAGE_SHAPE, [color], widths=(4, 8, 8), name="dist_a")
    b = small_cnn(
        IMAGE_SHAPE, [dominant], widths=(4, 8, 8), name="dist_b", from_logits=True
    )
    return [
        keras_dfka.Teacher(a, block_names(a), tasks=[color]),
        keras_dfka.Teacher(b, block_names(b), tasks=[dominant], from_logits=True),
    ]


def numpy_weights(model):
    return [np.array(keras.ops.convert_to_numpy(v)) for v in model.weights]


def noise(batch=BATCH, steps=STEPS):
    return keras_dfka.datasets.LatentNoise(LATENT_DIM, batch_size=batch, steps=steps)


def build_gan(optimizer=None):
    keras.utils.set_random_seed(1)
    gan = keras_dfka.AmalgamGAN(make_teachers(), latent_dim=LATENT_DIM, seed=0)
    if optimizer is None:
        gan.compile()
    else:
        gan.compile(
            generator_optimizer=keras.optimizers.SGD(optimizer),
            filter_optimizer=keras.optimizers.SGD(optimizer),
        )
    return gan


def build_dual():
    gan = build_gan()
    keras.utils.set_random_seed(2)
    dual = keras_dfka.DualGenerator(gan, ["red", "blue", "g"])
    dual.compile()
    return dual


def replica_spread(model):
    """The largest difference between the copies of a variable on the
    devices (0 when every device holds the same values)."""
    spread = 0.0
    for variable in model.weights:
        if BACKEND == "tensorflow":
            copies = getattr(variable.value, "values", None)
            if copies is None:
                continue
            copies = [c.numpy() for c in copies]
        else:
            copies = [np.asarray(s.data) for s in variable.value.addressable_shards]
            if len({s.shape for s in copies}) != 1:
                continue  # sharded, not replicated
        for copy in copies[1:]:
            spread = max(spread, float(np.max(np.abs(copy - copies[0]), initial=0)))
    return spread


def replica_count(model):
    """How many devices hold each trainable variable (the smallest count)."""
    counts = []
    for variable in model.trainable_weights:
        if BACKEND == "tensorflow":
            counts.append(len(getattr(variable.value, "values", [None])))
        else:
            counts.append(len(variable.value.sharding.device_set))
    return min(counts)


STRATEGY = []


@contextlib.contextmanager
def several_devices():
    """The two simulated devices: the strategy's scope under TensorFlow, the
    DataParallel distribution under JAX."""
    if BACKEND == "tensorflow":
        # One strategy for the process: TensorFlow caches the collectives'
        # instances by keys that a second strategy would reuse.
        if not STRATEGY:
            STRATEGY.append(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        with STRATEGY[0].scope():
            yield
    else:
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        try:
            yield
        finally:
            keras.distribution.set_distribution(None)


def train(build, data, initial=None):
    """Builds a model, optionally sets its initial weights, trains it with
    `fit(data)`; returns `(model, initial weights, final weights)`."""
    model = build()
    if initial is not None:
        model.set_weights(initial)
    start = numpy_weights(model)
    model.fit(data, shuffle=False, verbose=0)
    return model, start, numpy_weights(model)


def max_difference(a, b):
    """The largest difference between two lists of floating-point weights
    (integer variables, the pool's uint8 images, are left to
    `quantized_difference`)."""
    return max(
        (
            float(np.max(np.abs(x - y), initial=0))
            for x, y in zip(a, b)
            if x.dtype.kind == "f"
        ),
        default=0.0,
    )


def quantized_difference(a, b):
    """Integer variables: `(largest difference in levels, fraction of entries
    that differ)`. A pool stores `round(255 * image)`: an image that differs
    by one float rounding between one device and two can land on the other
    side of a level's midpoint."""
    pairs = [
        (x.astype("int64"), y.astype("int64"))
        for x, y in zip(a, b)
        if x.dtype.kind in "iu"
    ]
    if not pairs:
        return 0, 0.0
    largest = max(int(np.max(np.abs(x - y), initial=0)) for x, y in pairs)
    differ = sum(int(np.sum(x != y)) for x, y in pairs)
    return largest, differ / sum(x.size for x, _ in pairs)


def compare(build, data=noise):
    """One device, then two from the same initial weights."""
    _, start, one = train(build, data())
    with several_devices():
        model, _, two = train(build, data(), initial=start)
        spread = replica_spread(model)
        replicas = replica_count(model)
    levels, fraction = quantized_difference(one, two)
    return {
        "max_difference": max_difference(one, two),
        "quantized_levels": levels,
        "quantized_fraction": fraction,
        "replica_spread": spread,
        "replicas": replicas,
        "update_one": max_difference(one, start),
        "update_ratio": float(
            sum(np.sum(np.abs(t - s)) for t, s in zip(two, start))
            / sum(np.sum(np.abs(o - s)) for o, s in zip(one, start))
        ),
        "finite": bool(all(np.all(np.isfinite(w)) for w in two)),
    }


def error_of(function):
    try:
        function()
    except Exception as error:  # The message is the measurement.
        return f"{type(error).__name__}: {error}"
    return None


class UnsizedNoise(keras.utils.PyDataset):
    """Latent batches of the given sizes, which `fit()` cannot see
    beforehand."""

    def __init__(self, sizes):
        super().__init__()
        self.sizes = sizes

    def __len__(self):
        return len(self.sizes)

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        return rng.standard_normal((self.sizes[index], LATENT_DIM)).astype("float32")


def errors():
    out = {}
    with several_devices():
        gan = build_gan()
        before = numpy_weights(gan)
        small = 3 if BACKEND == "jax" else 1
        out["batch_known"] = error_of(lambda: gan.fit(noise(small, 1), verbose=0))
        out["array_last_batch"] = error_of(
            lambda: gan.fit(
                np.zeros((BATCH + small, LATENT_DIM), "float32"),
                batch_size=BATCH,
                verbose=0,
            )
        )
        out["batch_unknown"] = error_of(
            lambda: gan.fit(UnsizedNoise([small]), verbose=0)
        )
        out["unchanged_after"] = max_difference(before, numpy_weights(gan)) == 0
        # A batch the devices cannot split after a first step.
        out["batch_later"] = error_of(
            lambda: gan.fit(UnsizedNoise([BATCH, small]), verbose=0)
        )
        out["generate_after"] = error_of(lambda: gan.generate(5))
        out["finite_after"] = bool(
            all(np.all(np.isfinite(w)) for w in numpy_weights(gan))
        )
    if BACKEND == "jax":
        teachers = make_teachers()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        try:
            gan = keras_dfka.AmalgamGAN(teachers, latent_dim=LATENT_DIM, seed=0)
            gan.compile()
            out["teachers_outside"] = error_of(lambda: gan.fit(noise(), verbose=0))
            out["generate_after_outside"] = error_of(lambda: gan.generate(5))
        finally:
            keras.distribution.set_distribution(None)
    else:
        gan = build_gan()
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        try:
            out["keras_distribution"] = error_of(lambda: gan.fit(noise(), verbose=0))
        finally:
            keras.distribution.set_distribution(None)
        with several_devices():
            dual = build_dual()
            adversarial = keras_dfka.AdversarialAmalgamation(
                dual.amalgam_gan,
                keras_dfka.DualGenerator(
                    dual.amalgam_gan, ["red"], block_wise=False, name="dual_e2e"
                ),
                pool_size=16,
            )
            adversarial.compile()
            out["adversarial_replicas"] = error_of(
                lambda: adversarial.fit(noise(), verbose=0)
            )
    return out


def build_adversarial():
    dual = build_dual()
    keras.utils.set_random_seed(3)
    student = keras_dfka.DualGenerator(
        dual.amalgam_gan, ["red", "g"], block_wise=False, name="dual_e2e"
    )
    trainer = keras_dfka.AdversarialAmalgamation(
        dual.amalgam_gan, student, pool_size=16, adversarial_start=0, seed=0
    )
    trainer.compile()
    return trainer


CASES = {
    "sgd_step": lambda: compare(lambda: build_gan(0.1), lambda: noise(BATCH, 1)),
    "amalgam_gan": lambda: compare(build_gan),
    "dual_generator": lambda: compare(build_dual),
    "errors": errors,
}
if BACKEND == "jax":  # TensorFlow refuses it on several replicas.
    CASES["adversarial_amalgamation"] = lambda: compare(build_adversarial)


def main(names):
    results = {}
    for name in names or list(CASES):
        try:
            results[name] = CASES[name]()
        except Exception:
            results[name] = {"crash": traceback.format_exc()}
    print("RESULTS")
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
