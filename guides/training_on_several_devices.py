"""
Title: Training on several devices
Author: keras-dfka contributors
Date created: 2026/12/02
Last modified: 2026/12/02
Description: Data-parallel AmalgamGAN and DualGenerator with JAX DataParallel or TensorFlow MirroredStrategy, equal to one device.
"""

"""
## Introduction

`AmalgamGAN.fit()` and `DualGenerator.fit()` train on several devices with
the backend's own data parallelism:

- **JAX**: `keras.distribution.DataParallel`. The step is one program over
  the global batch, which XLA splits over the devices;
- **TensorFlow**: `tf.distribute.MirroredStrategy` (and, over several hosts,
  `MultiWorkerMirroredStrategy`). Every replica runs the step on its share
  of the batch.

Each step equals the one-device step on the same global batch, within
float32 rounding (`tests/distribution_test.py` checks 1e-5 after three Adam
steps of each trainer, and the length of one SGD step). Some losses are not
sums over samples: the information-entropy term uses the *batch-mean*
prediction, the BatchNorm prior compares the *batch's* feature statistics to
the teachers' moving statistics, and the generator and the student have
BatchNorm layers. Under TensorFlow, keras-dfka all-reduces those statistics
over the replicas (`keras_dfka.utils.distribution.batch_mean`, BatchNorm with
`synchronized=True` during `fit()`), weights each replica's loss by its
share of the global batch (the optimizer sums the replicas' gradients), and
so keeps the copies of every variable equal. Under JAX, XLA computes the
global statistics by itself.

This guide simulates two devices on a CPU (the only difference from real
accelerators is speed), trains a small amalgamation on one device and then
on two, and compares them. `KERAS_DFKA_GUIDE_SCALE=tiny` makes it a
seconds-long smoke run; `KERAS_DFKA_GUIDE_DIR` chooses where the outputs go.
"""

"""
## Setup

The devices must be declared before the backend starts: JAX reads
`XLA_FLAGS` when it is imported, TensorFlow's logical devices are set before
it runs anything. On a machine with several GPUs, skip this cell.
"""

# ruff: noqa: E402
import os
import tempfile

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )
if BACKEND == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )

import contextlib

import keras
import numpy as np

import keras_dfka
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn

SCALE = os.environ.get("KERAS_DFKA_GUIDE_SCALE", "full")
SIZES = {
    "full": dict(
        num_faces=2000, teacher_epochs=4, latent_dim=64, batch_size=64, steps=50
    ),
    "tiny": dict(num_faces=96, teacher_epochs=1, latent_dim=16, batch_size=8, steps=2),
}
if SCALE not in SIZES:
    raise ValueError(
        f"KERAS_DFKA_GUIDE_SCALE must be one of {sorted(SIZES)}. Received: {SCALE!r}"
    )
size = SIZES[SCALE]
base_dir = os.environ.get("KERAS_DFKA_GUIDE_DIR") or tempfile.gettempdir()
os.makedirs(base_dir, exist_ok=True)
workdir = tempfile.mkdtemp(prefix="training_on_several_devices_", dir=base_dir)
print("Backend:", keras.backend.backend(), "| scale:", SCALE, "| outputs:", workdir)
keras.utils.set_random_seed(0)

"""
## Two devices, the backend's way

`several_devices()` enters the data parallelism of the backend: under JAX it
sets `keras.distribution.DataParallel()` (over every device), under
TensorFlow it enters a `MirroredStrategy`'s scope. Everything that has
variables, **the teachers included**, must be created inside: under JAX a
teacher loaded before `set_distribution()` lives on one device, and `fit()`
refuses it (naming its variables); under TensorFlow the trainer must be
built and compiled in the strategy's scope, as any Keras model.

Create one strategy per process and keep it: TensorFlow caches its
collectives by keys that a second `MirroredStrategy` in the same process
reuses, and a step of the second can then fail with "Shape mismatch in the
collective instance".

(`keras.distribution` is a JAX feature in Keras: under TensorFlow Keras
ignores it, and keras-dfka's `fit()` refuses it rather than train on one
device without a word. The torch backend is not covered here.)
"""


@contextlib.contextmanager
def several_devices():
    if BACKEND == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        try:
            yield 2
        finally:
            keras.distribution.set_distribution(None)
    elif BACKEND == "tensorflow":
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        print(f"No data parallelism for {BACKEND} here: one device.")
        yield 1


"""
## The teachers, saved to files

Teachers usually come as files; loading them where the devices are set is
what the trainers need. Here we train two small CNNs on procedural faces
and save them.
"""

faces = keras_dfka.datasets.ProceduralFaces(
    num_images=size["num_faces"], image_size=16, seed=0
)
x_train, y_train = faces.split()["train"]
TEACHER_LABELS = {
    "hair": ["Black_Hair", "Blond_Hair", "Eyeglasses"],
    "face": ["Smiling", "Male", "Young"],
}
teacher_files = {}
for name, labels in TEACHER_LABELS.items():
    model = small_cnn(
        x_train.shape[1:],
        [keras_dfka.LabelTask(name, labels, "sigmoid")],
        widths=(8, 16),
        name=f"teacher_{name}",
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    columns = [faces.attributes.index(label) for label in labels]
    model.fit(x_train, y_train[:, columns], epochs=size["teacher_epochs"], verbose=0)
    teacher_files[name] = os.path.join(workdir, f"teacher_{name}.keras")
    model.save(teacher_files[name])


def load_teachers():
    teachers = []
    for name, labels in TEACHER_LABELS.items():
        model = keras.saving.load_model(teacher_files[name])
        task = keras_dfka.LabelTask(name, labels, "sigmoid")
        teachers.append(keras_dfka.Teacher(model, block_names(model), tasks=[task]))
    return teachers


"""
## Stage 1 and stage 2 on one device, then on two

`LatentNoise(batch_size=...)` is the **global** batch: on two devices each
gets half of it. It must be a multiple of the number of devices under JAX
(at least the number of replicas under TensorFlow, where an uneven split
still trains exactly); `fit()` checks it before it shards anything.

The same seeds give both runs the same initial weights and the same latent
batches.
"""


def amalgamate():
    keras.utils.set_random_seed(1)
    gan = keras_dfka.AmalgamGAN(load_teachers(), latent_dim=size["latent_dim"], seed=0)
    gan.compile()
    noise = keras_dfka.datasets.LatentNoise(
        size["latent_dim"], batch_size=size["batch_size"], steps=size["steps"]
    )
    gan.fit(noise, verbose=0)
    keras.utils.set_random_seed(2)
    dual = keras_dfka.DualGenerator(gan, ["Blond_Hair", "Smiling", "Male"])
    dual.compile()
    dual.fit(noise, verbose=0)
    return gan, dual


def weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


one_gan, one_dual = amalgamate()
with several_devices() as devices:
    two_gan, two_dual = amalgamate()
    print("Devices:", devices)
    for name, one, two in [
        ("AmalgamGAN", one_gan, two_gan),
        ("DualGenerator", one_dual, two_dual),
    ]:
        difference = max(
            float(np.max(np.abs(a - b))) for a, b in zip(weights(one), weights(two))
        )
        print(f"{name}: largest weight difference, 2 devices vs 1: {difference:.2e}")

"""
Over many steps the two runs drift apart slowly, as any two float32 runs
that sum in a different order, but no step trains differently.

The trained models are ordinary ones: `TargetNet.from_dual(dual)` and
`save()` work as on one device (under TensorFlow, call them inside the
strategy's scope or after it; the replicas hold equal copies).
"""

target = keras_dfka.TargetNet.from_dual(two_dual)
target.save(os.path.join(workdir, "target_net.keras"))

"""
## What is refused, before anything changes

- A batch the devices cannot split (JAX: not a multiple of the devices;
  TensorFlow: fewer vectors than replicas, which leaves a replica without a
  sample), seen by `fit()` from `LatentNoise`/`LatentSet` or from an array
  and its `batch_size` (its last, partial batch included). A dataset that
  does not tell its batch size fails at the step (TensorFlow: "a replica of
  the 2 received no latent vector"); under JAX the model keeps its values
  and stays usable.
- Under JAX, variables created before the distribution (teachers loaded
  before `set_distribution()`).
- Under TensorFlow, a `keras.distribution` (ignored by Keras there).
- `AdversarialAmalgamation` on several TensorFlow replicas: its pool of
  images would differ between the replicas. Under JAX it trains as one
  program.

## Several hosts

Each process feeds its share of the global batch. `LatentNoise` draws a
different stream on each process (process 0, and a single host, draw what
they always drew), so the hosts do not train on identical vectors. Under
JAX, call `jax.distributed.initialize()` first, then set the distribution
(`DataParallel()` spans every process's devices); under TensorFlow, use a
`MultiWorkerMirroredStrategy` with `TF_CONFIG` set on each worker.
"""
print("Done. Outputs in", workdir)
