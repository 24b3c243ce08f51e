"""
Title: Customizing data-free amalgamation
Author: keras-dfka contributors
Date created: 2026/11/25
Last modified: 2026/12/01
Description: Configurations, loss weights, the BatchNorm prior, augmentation, custom student blocks, fine-tuned heads, callbacks, schedules and backends.
"""

"""
## Introduction

`AmalgamGAN` and `DualGenerator` are `keras.Model`s with their own
`train_step`; everything you know from Keras applies. This guide walks
through what you can change:

- the whole run in one object: `keras_dfka.AmalgamationConfig` and its named
  configurations (`from_preset("paper")`), for `keras_dfka.amalgamate`;
- the loss terms of the generator (`loss_weights`), including the
  BatchNorm-statistics prior and the augmentation of generated images;
- the student trunk (`DualGenerator(blocks=[...])`) and its heads
  (`fine_tune_heads`);
- callbacks: checkpoints, early stopping on a data-free signal, learning-rate
  schedules;
- the sequential block schedule (`fit_sequential`);
- the backend (TensorFlow or JAX).

Set `KERAS_DFKA_GUIDE_SCALE=tiny` for a seconds-long smoke run and
`KERAS_DFKA_GUIDE_DIR` to choose where outputs go.
"""

"""
## Setup

Two small attribute teachers, trained on the embedded procedural faces (see
`guides/amalgamation_with_fit.py` for the full story).
"""

# ruff: noqa: E402
import os
import tempfile

import keras
import numpy as np
from keras import layers

import keras_dfka
from keras_dfka import evaluation
from keras_dfka.callbacks import AmalgamationMonitor
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn
from keras_dfka.trainers.amalgam_gan import LOSS_TERMS
from keras_dfka.trainers.amalgam_gan import LOSS_WEIGHTS

SCALE = os.environ.get("KERAS_DFKA_GUIDE_SCALE", "full")
SIZES = {
    "full": dict(
        num_faces=2000,
        image_size=32,
        teacher_widths=(16, 32),
        teacher_epochs=3,
        latent_dim=64,
        batch_size=64,
        epochs=2,
        steps_per_epoch=60,
        num_samples=32,
    ),
    "tiny": dict(
        num_faces=64,
        image_size=16,
        teacher_widths=(4, 8),
        teacher_epochs=1,
        latent_dim=16,
        batch_size=16,
        epochs=1,
        steps_per_epoch=1,
        num_samples=8,
    ),
}
if SCALE not in SIZES:
    raise ValueError(
        f"KERAS_DFKA_GUIDE_SCALE must be one of {sorted(SIZES)}. Received: {SCALE!r}"
    )
size = SIZES[SCALE]
base_dir = os.environ.get("KERAS_DFKA_GUIDE_DIR") or tempfile.gettempdir()
os.makedirs(base_dir, exist_ok=True)
workdir = tempfile.mkdtemp(prefix="customizing_amalgamation_", dir=base_dir)
print("Backend:", keras.backend.backend(), "| scale:", SCALE, "| outputs:", workdir)
keras.utils.set_random_seed(0)

faces = keras_dfka.datasets.ProceduralFaces(
    num_images=size["num_faces"], image_size=size["image_size"], seed=0
)
x_train, y_train = faces.split()["train"]
GROUPS = {
    "hair": ["Black_Hair", "Blond_Hair", "Eyeglasses"],
    "face": ["Smiling", "Male", "Young"],
}
TARGETS = ["Blond_Hair", "Eyeglasses", "Smiling", "Male"]
teachers = []
for name, labels in GROUPS.items():
    model = small_cnn(
        x_train.shape[1:],
        [keras_dfka.LabelTask(name, labels)],
        widths=size["teacher_widths"],
        name=name,
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(
        x_train,
        y_train[:, [faces.attributes.index(label) for label in labels]],
        batch_size=size["batch_size"],
        epochs=size["teacher_epochs"],
        verbose=0,
    )
    teachers.append(keras_dfka.Teacher(model, block_names(model), labels=labels))


def latent_noise(seed=0):
    return keras_dfka.datasets.LatentNoise(
        size["latent_dim"], size["batch_size"], steps=size["steps_per_epoch"], seed=seed
    )


"""
## One configuration for the whole run

`keras_dfka.amalgamate(teachers, target_labels, config)` runs both stages and
regroups the student; `keras_dfka.AmalgamationConfig` holds every default of
it: the stages' steps, the widths, the loss weights, the student's options,
the latent vectors it trains on and the schedule. `from_preset` gives a named
complete configuration: `"default"` (generator and student trained together
with a pool of generated images, `AdversarialAmalgamation`), `"paper"` for
exactly the paper's recipe (stage 1, then stage 2 block by block), or
`"sequential"` (the paper's order with the library's loss weights). The
command line (`keras-dfka amalgamate`) has one option per field.
"""

paper = keras_dfka.AmalgamationConfig.from_preset(
    "paper",
    latent_dim=size["latent_dim"],
    batch_size=size["batch_size"],
    gan_steps=size["steps_per_epoch"],
    dual_steps=size["steps_per_epoch"],
    verbose=0,
)
print(paper)
result = keras_dfka.amalgamate(teachers, TARGETS, paper)
print("TargetNet labels:", result.target_net.target_labels)
print("seconds:", {k: round(v, 1) for k, v in result.timings.items()})

"""
The rest of this guide opens the two stages up and changes them one by one.

## Loss weights

The generator's loss is a weighted sum of named terms (docs/method.md):

```
L = one_hot * L_oh + activation * L_a + information_entropy * L_ie
    + discrete * L_dis + intermediate * L_intermediate
    + batch_norm * L_bn + total_variation * L_tv
```

Two named sets of weights exist. `loss_weights="paper"` is exactly the losses
of the paper (Ye et al., CVPR 2020). `loss_weights="default"` adds the
BatchNorm prior and drops the activation term, which grows without bound and
saturates the images. The table shows both:
"""

print(
    evaluation.format_table(
        [
            {
                "term": term,
                "paper": LOSS_WEIGHTS["paper"][term],
                "default": LOSS_WEIGHTS["default"][term],
            }
            for term in LOSS_TERMS
        ],
        ["term", "paper", "default"],
    )
)

"""
A dict of `loss_weights` overrides weights of the default ones. Every term
with a weight above zero is logged by `fit()` under its own name.
"""

paper_gan = keras_dfka.AmalgamGAN(
    teachers, latent_dim=size["latent_dim"], loss_weights="paper"
)
print("paper:", paper_gan.loss_weights, "augment:", paper_gan.augment)
gan = keras_dfka.AmalgamGAN(
    teachers,
    latent_dim=size["latent_dim"],
    loss_weights={"batch_norm": 0.5, "total_variation": 0.01},
)
print("custom:", gan.loss_weights)
print("logged terms:", gan.loss_names)
try:
    keras_dfka.AmalgamGAN(teachers, loss_weights={"entropy": 1.0})
except ValueError as error:
    print("ValueError:", error)

"""
## The BatchNorm prior

Beyond the paper, the `batch_norm` term (from DeepInversion) makes the
generated batches look like real ones *to the teachers*: at each of a
teacher's BatchNorm layers it matches the batch mean and variance of the
generated features to the layer's moving statistics, which were accumulated
on the real training data. It is the single most useful term on faces (see
`docs/method.md`). It needs teachers with BatchNorm layers:
"""

for teacher in teachers:
    print(teacher.name, "BatchNorm layers:", len(teacher.batch_norm_layers))

"""
With teachers that have no BatchNorm layer the term is 0; set
`loss_weights={"batch_norm": 0.0}` to drop it from the logs.

## Augmentation

With `augment=True` (the default) the teachers judge each
generated batch after a random horizontal flip and a random shift of up to
1/8 of the image side, so the generator cannot rely on pixel-exact patterns.
It is written with `keras.ops` and runs inside the compiled training step on
every backend. `augment=False` turns it off; the `"paper"` configuration
does, and so does `AmalgamGAN(loss_weights="paper")` unless `augment` is
given.

Augmenting the *teachers'* training data is a separate matter, done before
amalgamation with Keras core preprocessing layers such as
`keras.layers.RandomFlip`, `RandomTranslation` or `RandomContrast`.

## Callbacks and a learning-rate schedule

Both trainers take any Keras optimizer, so a learning-rate schedule is a
`keras.optimizers.schedules` object given to the optimizer. The filters have
their own optimizer (`filter_optimizer`).

Keras's `ModelCheckpoint` saves the whole trainer (teachers included). To
keep only the generator, a small callback does it; `BackupAndRestore`
resumes an interrupted `fit()` from its last epoch.
"""


class GeneratorCheckpoint(keras.callbacks.Callback):
    """Saves the generator's weights at the end of every epoch."""

    def __init__(self, filepath):
        super().__init__()
        self.filepath = filepath

    def on_epoch_end(self, epoch, logs=None):
        self.model.generator.save_weights(self.filepath.format(epoch=epoch + 1))


total_steps = size["epochs"] * size["steps_per_epoch"]
schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate=1e-3, decay_steps=max(1, total_steps), decay_rate=0.5
)
gan.compile(generator_optimizer=keras.optimizers.Adam(schedule, beta_1=0.5))
checkpoints = os.path.join(workdir, "checkpoints")
os.makedirs(checkpoints)
gan.fit(
    latent_noise(),
    epochs=size["epochs"],
    callbacks=[
        AmalgamationMonitor(
            os.path.join(workdir, "logs", "amalgam_gan"),
            num_samples=size["num_samples"],
        ),
        GeneratorCheckpoint(
            os.path.join(checkpoints, "generator_{epoch:02d}.weights.h5")
        ),
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup")),
    ],
    verbose=2,
)
print("Checkpoints:", sorted(os.listdir(checkpoints)))

"""
A saved generator loads back into the generator of an `AmalgamGAN` built the
same way:
"""

restored = keras_dfka.AmalgamGAN(
    teachers,
    latent_dim=size["latent_dim"],
    loss_weights={"batch_norm": 0.5, "total_variation": 0.01},
)
last = sorted(os.listdir(checkpoints))[-1]
restored.generator.load_weights(os.path.join(checkpoints, last))
np.testing.assert_allclose(
    restored.generate(4, seed=0), gan.generate(4, seed=0), atol=1e-5
)

"""
## A custom student block

The student trunk has one block per teacher block; block `b` maps the shared
level `b` to the shared level `b + 1`, whose shapes are `gan.level_shapes`.
Any Keras layer or model with these input and output shapes will do. Here:
depthwise-separable convolutions, lighter than the default
`Conv2D + BatchNorm + ReLU` blocks.
"""

print("Shared level shapes:", gan.level_shapes)


def separable_block(input_shape, output_shape, name):
    inputs = keras.Input(input_shape)
    stride = input_shape[0] // output_shape[0]
    x = layers.SeparableConv2D(
        output_shape[-1], 3, strides=stride, padding="same", use_bias=False
    )(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    return keras.Model(inputs, x, name=name)


blocks = [
    separable_block(gan.level_shapes[b - 1], gan.level_shapes[b], f"separable_{b}")
    for b in range(1, gan.num_blocks + 1)
]
dual = keras_dfka.DualGenerator(gan, TARGETS, blocks=blocks)
dual.compile(student_optimizer=keras.optimizers.Adam(1e-3))

"""
## Early stopping and model selection without data

`AmalgamationMonitor` measures, after each epoch, how well the student agrees
with the teachers on held-out generated images, and adds the mean absolute
error to the logs as `agreement_mae`. `EarlyStopping` and `ModelCheckpoint`
can then monitor it (with `mode="min"`). Keras calls callbacks in list
order: the monitor must come first.
"""

best_path = os.path.join(workdir, "dual_best.weights.h5")
history = dual.fit(
    latent_noise(seed=1),
    epochs=size["epochs"] + 1,
    callbacks=[
        AmalgamationMonitor(
            os.path.join(workdir, "logs", "dual_generator"),
            num_samples=size["num_samples"],
        ),
        keras.callbacks.EarlyStopping(monitor="agreement_mae", mode="min", patience=1),
        keras.callbacks.ModelCheckpoint(
            best_path,
            monitor="agreement_mae",
            mode="min",
            save_best_only=True,
            save_weights_only=True,
        ),
    ],
    verbose=2,
)
dual.load_weights(best_path)
print("agreement_mae:", np.round(history.history["agreement_mae"], 4))
print("best:", dual.agreement(size["num_samples"], seed=1))
target = keras_dfka.TargetNet.from_dual(dual)
print("TargetNet parameters:", evaluation.count_params(target))

"""
## Fine-tuning the teachers' heads

The TargetNet's branches end in the teachers' heads (everything after their
last block), and by default, as in the paper, those keep the teachers'
weights: only the trunk and the filters learn. `fine_tune_heads=True` gives
each branch a trainable copy of its teacher's head, trained with the last
block's loss and copied into the TargetNet; the teachers themselves stay
frozen. On MNIST validation digits this lifted the student in 7 of 8 runs
(4 teachers x 2 seeds, +0.04 top-1 on average); on held-out digits it
lifted the hardest of three teachers by 0.09 and not the other two, and on
CelebA faces it made no difference (`git show
8721c52:benchmarks/NOTEBOOK.md`, section 4e).
Try it when the student trails the teachers badly.
"""

tuned = keras_dfka.DualGenerator(gan, TARGETS, fine_tune_heads=True)
tuned.compile()
tuned.fit(latent_noise(seed=3), epochs=size["epochs"], verbose=2)
tuned_target = keras_dfka.TargetNet.from_dual(tuned)
for m in tuned.active_teachers:
    teacher_head = tuned.teachers[m].head
    branch = tuned_target.get_layer(f"branch_{tuned.teachers[m].name}_head")
    moved = max(
        float(np.abs(a - b).max())
        for a, b in zip(branch.get_weights(), teacher_head.get_weights())
    )
    print(f"{tuned.teachers[m].name}: largest change of a head weight {moved:.4f}")

"""
## The sequential schedule

By default `DualGenerator.fit()` trains all blocks at once, each with its own
block-wise loss (their inputs are `stop_gradient`, so the losses do not mix).
`fit_sequential()` trains block 1, then block 2, and so on, each frozen after
its turn: one `fit()` per block, recompiled in between (under JAX the
training state is fixed for the length of a `fit()`). A monitor passed to it
continues its epoch count across the fits.
"""

sequential = keras_dfka.DualGenerator(gan, TARGETS)
sequential.compile()
histories = sequential.fit_sequential(
    latent_noise(seed=2),
    epochs_per_block=1,
    callbacks=[
        AmalgamationMonitor(
            os.path.join(workdir, "logs", "sequential"),
            num_samples=size["num_samples"],
        )
    ],
    verbose=2,
)
for b, block_history in enumerate(histories, start=1):
    print(
        f"block {b}:",
        {k: np.round(v, 4).tolist() for k, v in block_history.history.items()},
    )

"""
## Switching the backend

keras-dfka describes each training step in `keras.ops` and adds only the
gradient plumbing per backend, so the same script runs on TensorFlow and on
JAX. Choose the backend before Keras is imported:

```
KERAS_BACKEND=jax python guides/customizing_amalgamation.py
KERAS_BACKEND=tensorflow python guides/customizing_amalgamation.py
```

or set `"backend"` in `~/.keras/keras.json`. Everything in this guide,
including `AmalgamationMonitor`'s TensorBoard logs, works on both.
"""

print("This run used the", keras.backend.backend(), "backend.")
print("Done. Outputs in", workdir)
