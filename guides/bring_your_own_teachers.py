"""
Title: Bring your own teachers
Author: keras-dfka contributors
Date created: 2026/11/25
Last modified: 2026/12/02
Description: Wrap your own Keras classifiers as teachers: block names, multi-task heads, softmax and sigmoid tasks, logits, input ranges, mixed widths, keras.applications models and balanced classes.
"""

"""
## Introduction

`keras_dfka` amalgamates *your* pre-trained classifiers. All it needs from
each one is a functional `keras.Model` and a few declarations, made with
`keras_dfka.Teacher`:

- **blocks**: the names of the layers that end the model's `B` blocks. The
  generator produces features at every block boundary, and the student trunk
  is built block by block, so all teachers of one amalgamation have the same
  `B` (their widths and spatial sizes may differ);
- **tasks**: one `keras_dfka.LabelTask` per model output: a name, its label names
  and an activation, `"sigmoid"` (multi-label) or `"softmax"` (one of K);
- **from_logits**: whether the outputs are logits or probabilities;
- **input_range**: the pixel range the model expects; the library's images are
  in `[0, 1]`.

This guide builds two quite different teachers, wraps them, and amalgamates
them. Set `KERAS_DFKA_GUIDE_SCALE=tiny` for a seconds-long smoke run and
`KERAS_DFKA_GUIDE_DIR` to choose where outputs go.
"""

"""
## Setup
"""

# ruff: noqa: E402
import os
import tempfile

import keras
import numpy as np
from keras import layers

import keras_dfka
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn

SCALE = os.environ.get("KERAS_DFKA_GUIDE_SCALE", "full")
SIZES = {
    "full": dict(
        num_faces=2000,
        image_size=32,
        width=16,
        teacher_epochs=3,
        latent_dim=64,
        batch_size=64,
        steps=150,
    ),
    "tiny": dict(
        num_faces=64,
        image_size=16,
        width=4,
        teacher_epochs=1,
        latent_dim=16,
        batch_size=16,
        steps=1,
    ),
}
if SCALE not in SIZES:
    raise ValueError(
        f"KERAS_DFKA_GUIDE_SCALE must be one of {sorted(SIZES)}. Received: {SCALE!r}"
    )
size = SIZES[SCALE]
base_dir = os.environ.get("KERAS_DFKA_GUIDE_DIR") or tempfile.gettempdir()
os.makedirs(base_dir, exist_ok=True)
workdir = tempfile.mkdtemp(prefix="bring_your_own_teachers_", dir=base_dir)
print("Backend:", keras.backend.backend(), "| scale:", SCALE, "| outputs:", workdir)
keras.utils.set_random_seed(0)

"""
Your teachers would arrive trained. To have something to wrap, we train two
quickly on the embedded procedural faces.
"""

faces = keras_dfka.datasets.ProceduralFaces(
    num_images=size["num_faces"], image_size=size["image_size"], seed=0
)
x_train, y_train = faces.split()["train"]
x_test, y_test = faces.split()["test"]


def attribute(name, y):
    return y[:, faces.attributes.index(name)]


def hair_color(y):
    """A softmax target: black, blond or other hair (exclusive classes)."""
    black, blond = attribute("Black_Hair", y), attribute("Blond_Hair", y)
    return np.stack([black, blond, 1.0 - black - blond], axis=-1)


"""
## A multi-task teacher with logits outputs

The first teacher, `styler`, is a hand-written functional model with two
outputs: a **softmax** task (hair color, 3 classes) and a **sigmoid** task
(two expression attributes). Both heads output **logits**.
"""


def build_styler(input_shape, width):
    inputs = keras.Input(input_shape, name="pixels")
    x = layers.Conv2D(width, 3, padding="same", name="stem_conv")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    x = layers.MaxPooling2D(name="stage1_pool")(x)
    x = layers.Conv2D(2 * width, 3, padding="same", name="stage2_conv")(x)
    x = layers.BatchNormalization(name="stage2_bn")(x)
    x = layers.ReLU(name="stage2_relu")(x)
    x = layers.MaxPooling2D(name="stage2_pool")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    hair = layers.Dense(3, name="hair_color_logits")(x)
    expression = layers.Dense(2, name="expression_logits")(x)
    return keras.Model(inputs, [hair, expression], name="styler")


EXPRESSION = ["Smiling", "Mouth_Slightly_Open"]
styler = build_styler(x_train.shape[1:], size["width"])
styler.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss=[
        keras.losses.CategoricalCrossentropy(from_logits=True),
        keras.losses.BinaryCrossentropy(from_logits=True),
    ],
)
styler.fit(
    x_train,
    [hair_color(y_train), np.stack([attribute(n, y_train) for n in EXPRESSION], -1)],
    batch_size=size["batch_size"],
    epochs=size["teacher_epochs"],
    verbose=2,
)

"""
## Choosing the block names

A block ends where you would cut the network into stages: usually the layer
that halves the spatial size (a pooling or a strided convolution), or the
last activation of a stage. `model.summary()` lists the layers; printing each
layer's output shape makes the stages obvious:
"""

styler.summary()
for layer in styler.layers:
    print(f"{layer.name:20s} {str(layer.output.shape):20s}")

"""
Here the stages end at `stage1_pool` and `stage2_pool`: two blocks. The head
is everything after the last block (`gap` and the two dense layers). The
tasks are listed in the order of the model's outputs.
"""

styler_teacher = keras_dfka.Teacher(
    styler,
    blocks=["stage1_pool", "stage2_pool"],
    tasks=[
        keras_dfka.LabelTask("hair_color", ["black", "blond", "other"], "softmax"),
        keras_dfka.LabelTask("expression", EXPRESSION, "sigmoid"),
    ],
    from_logits=True,
)
print("Levels (image, block 1, block 2):", styler_teacher.level_shapes)

"""
With `from_logits=True` the teacher applies the softmax or the sigmoid
itself: calling the wrapper returns probabilities, one array per task. (A
`LabelTask` can override its teacher's `from_logits`, for a model with some
logits and some probability outputs.)
"""

hair_probabilities, expression_probabilities = styler_teacher(x_test[:4])
logits = styler.predict(x_test[:4], verbose=0)
np.testing.assert_allclose(
    keras.ops.convert_to_numpy(hair_probabilities),
    keras.ops.convert_to_numpy(keras.ops.softmax(logits[0])),
    atol=1e-5,
)
print(
    "Hair color probabilities:\n",
    np.round(keras.ops.convert_to_numpy(hair_probabilities), 3),
)

"""
The cut must be clean: each block layer is called once and no tensor may
skip across a block boundary. A residual connection that jumps over the
chosen layer is refused with a `ValueError` that says so; cutting after the
`Add` that closes the residual instead works.
"""

inputs = keras.Input((8, 8, 3))
a = layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
b = layers.Conv2D(4, 3, padding="same", name="conv_b")(a)
merged = layers.Add(name="residual_add")([a, b])
outputs = layers.Dense(1, activation="sigmoid", name="out")(
    layers.GlobalAveragePooling2D(name="pool")(merged)
)
residual = keras.Model(inputs, outputs, name="residual")
try:
    keras_dfka.Teacher(residual, blocks=["conv_b"], labels=["x"])
except ValueError as error:
    print("ValueError:", error)
print(
    "Cutting after the Add works:",
    keras_dfka.Teacher(residual, blocks=["residual_add"], labels=["x"]).level_shapes,
)

"""
## A wider teacher that expects inputs in [-1, 1]

The second teacher, `portrait`, is twice as wide, outputs probabilities, and
was trained on images scaled to `[-1, 1]`. `input_range=(-1, 1)` tells the
wrapper to map the library's `[0, 1]` images linearly to that range. (A model
that starts with its own `Rescaling` layer keeps the default `(0, 1)`, or
whatever its first layer expects.)
"""

PORTRAIT = ["Male", "Young", "Heavy_Makeup"]
portrait = small_cnn(
    x_train.shape[1:],
    [keras_dfka.LabelTask("portrait", PORTRAIT, "sigmoid")],
    widths=(2 * size["width"], 4 * size["width"]),
    name="portrait",
)
portrait.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
portrait.fit(
    2.0 * x_train - 1.0,
    np.stack([attribute(n, y_train) for n in PORTRAIT], -1),
    batch_size=size["batch_size"],
    epochs=size["teacher_epochs"],
    verbose=2,
)
portrait_teacher = keras_dfka.Teacher(
    portrait,
    blocks=block_names(portrait),
    labels=PORTRAIT,
    activation="sigmoid",
    input_range=(-1.0, 1.0),
)
np.testing.assert_allclose(
    keras.ops.convert_to_numpy(portrait_teacher(x_test[:4])[0]),
    portrait.predict(2.0 * x_test[:4] - 1.0, verbose=0),
    atol=1e-5,
)
print("Levels:", portrait_teacher.level_shapes)

"""
## Amalgamating teachers of different widths

The generator and the student share one feature space per level. Its width
is, by default, half the widest teacher's width at that level
(`feature_width_multiplier=0.5`, at least 8); its spatial size is the largest. Each
teacher sees the shared features through a small **filter** (a channel gate
plus, where the shapes differ, a resize and a 1x1 projection), so teachers of
different widths work together.
"""

gan = keras_dfka.AmalgamGAN(
    [styler_teacher, portrait_teacher], latent_dim=size["latent_dim"]
)
print("Shared levels:", gan.level_shapes)
for m, teacher in enumerate(gan.teachers):
    for level, layer in enumerate(gan.filters[m], start=2):
        kind = "gate + 1x1 projection" if layer.projection is not None else "gate"
        print(
            f"  {teacher.name:8s} level {level}: shared {gan.level_shapes[level - 1]}"
            f" -> teacher {layer.target_shape} ({kind})"
        )
gan.compile()
gan.fit(
    keras_dfka.datasets.LatentNoise(
        size["latent_dim"], size["batch_size"], steps=size["steps"]
    ),
    verbose=2,
)

"""
## Choosing labels across tasks and teachers

Target labels are named plainly (`"blond"`) when only one task has that name,
or as `"task/label"` otherwise. A softmax class keeps the teacher's class
probability (the softmax runs over all its classes before the selection).
"""

dual = keras_dfka.DualGenerator(
    gan, ["blond", "hair_color/black", "Smiling", "Male", "Young"]
)
dual.compile()
dual.fit(
    keras_dfka.datasets.LatentNoise(
        size["latent_dim"], size["batch_size"], steps=size["steps"], seed=1
    ),
    verbose=2,
)
target = keras_dfka.TargetNet.from_dual(dual)
print("TargetNet outputs:", {k: tuple(v.shape) for k, v in target.output.items()})
print("Target labels:", target.target_labels)
print(np.round(target.predict_labels(x_test[:4]), 3))
target.save(os.path.join(workdir, "target_net.keras"))

"""
## Balancing the classes of a softmax task

Stage 1 seldom makes every class of a softmax task equally often: on MNIST
the teacher sees an 8 or a 9 in few generated images, and a student trained
on fresh noise then sees few of them. `AmalgamGAN.balanced_latents()` draws a
pool of latent vectors (`pool_factor` times as many as asked, 4 by default),
labels each generated image with the arg-max of one softmax task of the
teachers, and keeps the same number of every class (repeating a rare class's
vectors if it has too few; warning about a class no image reaches). It needs
no data. Pass the array to `DualGenerator.fit()` with a `batch_size`; it is
shuffled every epoch. For an exact number of steps instead of whole epochs,
wrap it in `keras_dfka.datasets.LatentSet(z, batch_size, steps)`, which
reshuffles it on every pass. With several softmax tasks, name one with `task=`.
On MNIST this was worth more than any other change we measured
(`benchmarks/README.md`). Here, after a short stage 1, the styler
may call no generated face black-haired: the warning says so, and the
vectors are shared between the classes it does see.
"""


def hair_color_counts(z):
    """How often the styler calls each hair color on the images of `z`."""
    probabilities = styler_teacher(gan.generate(z=z))[0]
    classes = np.argmax(keras.ops.convert_to_numpy(probabilities), axis=-1)
    return np.bincount(classes, minlength=3).tolist()


num_latents = 8 * size["batch_size"]
plain = keras_dfka.datasets.draw_latents(num_latents, gan.latent_dim, seed=2)
balanced = gan.balanced_latents(num_latents, task="hair_color", seed=2)
print("hair color (black, blond, other), plain noise:", hair_color_counts(plain))
print("hair color (black, blond, other), balanced:   ", hair_color_counts(balanced))
balanced_dual = keras_dfka.DualGenerator(gan, ["blond", "hair_color/black", "Smiling"])
balanced_dual.compile()
balanced_dual.fit(balanced, batch_size=size["batch_size"], epochs=1, verbose=2)

"""
## Training on the student's mistakes

Once the student has trained for a while, `DualGenerator.hard_latents(n)`
draws a pool of latent vectors (again `pool_factor` times `n`) and keeps the
`n` whose images it gets most wrong: the largest KL divergence from the
teachers' probabilities of the target labels to its own
(`DualGenerator.disagreement(z)`, summed over sigmoid labels and softmax
tasks). Like balancing, this needs no data and is not part of the paper.
The MNIST benchmark's `balanced_hard` row trains half its steps on 32,000
balanced vectors, then adds 16,000 hard ones for the other half. It gained
on validation digits but not on held-out ones: 96.7% of the teacher over
three teachers, against 97.0% without (from -0.016 to +0.010 top-1 by
teacher; `git show 8721c52:benchmarks/NOTEBOOK.md`, section 4h). So try it on your own
validation data, if you have any. Training on hard vectors alone was not
measured.
"""

hard = balanced_dual.hard_latents(num_latents // 2, seed=3)
print(
    "mean disagreement, balanced vs hard vectors:",
    round(float(balanced_dual.disagreement(balanced).mean()), 4),
    round(float(balanced_dual.disagreement(hard).mean()), 4),
)
balanced_dual.fit(
    keras_dfka.datasets.LatentSet(
        np.concatenate([balanced, hard]), size["batch_size"], steps=8, seed=3
    ),
    verbose=2,
)

"""
## Teachers from keras.applications

A teacher is often a `keras.applications` model with your head on top, built
the usual way: the application is called as a layer, so it sits *nested*
inside your model. `Teacher` inlines nested models (functional or
`Sequential`, recursively) into one flat graph of fresh copies of their
layers, weights copied, so `blocks` can name layers inside the application:
by their own name (`"block_6_expand_relu"`), or by their path
(`"mobilenetv2_0.35_32/block_6_expand_relu"`) when a layer of yours has the
same name (the inner copy is then renamed `"<application>_<layer>"`).
`teacher.blocks` holds the names in the flat graph.

`keras_dfka.propose_blocks(model)` proposes the blocks: the ends of the
model's stages, one per spatial size smaller than the image (the last layer
at that size where no skip connection crosses the cut). With `num_blocks=N`
it keeps the last (deepest) `N`, so teachers of different depths can have
the same number of blocks. `keras-dfka inspect --model m.keras` marks the
same layers, and `keras-dfka amalgamate` uses them for a teacher given no
`--blocks`.

Mind the pixel range each application expects (with its ImageNet weights):
MobileNetV2 (like ResNetV2, InceptionV3, Xception) takes `[-1, 1]`:
`input_range=(-1, 1)`. EfficientNet, EfficientNetV2, MobileNetV3 and
ConvNeXt have their preprocessing (`Rescaling`, `Normalization`) inside and
take `[0, 255]`: `input_range=(0, 255)`. ResNet50 and VGG expect BGR
channels minus the ImageNet means, which no `(low, high)` range expresses:
build that preprocessing into your model as layers and give the range its
first layer takes. Here the weights are random (`weights=None`; no
download), at 32x32 with the smallest MobileNetV2, only to show the wiring.
"""


def application_classifier(base, labels, name):
    inputs = keras.Input((32, 32, 3), name=f"{name}_image")
    x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(base(inputs))
    outputs = layers.Dense(len(labels), activation="sigmoid", name=f"{name}_out")(x)
    return keras.Model(inputs, outputs, name=name)


mobilenet = application_classifier(
    keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.35
    ),
    ["Smiling"],
    "mobilenet",
)
efficientnet = application_classifier(
    keras.applications.EfficientNetB0(
        weights=None, include_top=False, input_shape=(32, 32, 3)
    ),
    ["Male"],
    "efficientnet",
)
print("MobileNetV2 stage ends:", keras_dfka.propose_blocks(mobilenet))
print("EfficientNetB0 stage ends:", keras_dfka.propose_blocks(efficientnet))
mobilenet_teacher = keras_dfka.Teacher(
    mobilenet,
    blocks=keras_dfka.propose_blocks(mobilenet, num_blocks=3),
    labels=["Smiling"],
    input_range=(-1.0, 1.0),
)
efficientnet_teacher = keras_dfka.Teacher(
    efficientnet,
    blocks=keras_dfka.propose_blocks(efficientnet, num_blocks=3),
    labels=["Male"],
    input_range=(0.0, 255.0),
)
images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
np.testing.assert_allclose(
    keras.ops.convert_to_numpy(mobilenet_teacher(images)[0]),
    keras.ops.convert_to_numpy(mobilenet(2.0 * images - 1.0)),
    atol=1e-5,
)
print("MobileNetV2 teacher levels:", mobilenet_teacher.level_shapes)
print("EfficientNetB0 teacher levels:", efficientnet_teacher.level_shapes)

"""
The two architectures amalgamate like any teachers with the same number of
blocks: the filters resize and project the shared features to each one. The
shared widths are half the widest teacher's, capped at `max_feature_width`
(256 by default), so that a 2048-channel ResNet50 stage does not make the
generator and the student that wide.
"""

applications_gan = keras_dfka.AmalgamGAN(
    [mobilenet_teacher, efficientnet_teacher], latent_dim=size["latent_dim"]
)
print("Shared levels:", applications_gan.level_shapes)
print("Generated images:", tuple(applications_gan.generate(2).shape))

"""
## A KerasCV backbone as a teacher (optional)

A teacher built on a [KerasCV](https://keras.io/keras_cv/) backbone is a
functional model like any other: rebuild it from the backbone's input to your
head, and take the block names from the backbone's `pyramid_level_inputs`
(the layers that end each stage). KerasCV is an optional extra
(`pip install "keras-dfka[cv]"`), not a dependency of `keras_dfka`: it has
not been maintained since 2024, it needs TensorFlow installed under every
backend, and its layers that call TensorFlow ops fail inside the jitted JAX
training steps. For image augmentation you do not need it: Keras core
preprocessing layers (`keras.layers.RandomFlip`, `RandomTranslation`,
`RandomRotation`, `RandomZoom`, `RandomContrast`, ...) cover it on every
backend. This section runs only where `keras_cv` can be imported.
"""

try:
    import keras_cv
except ImportError:
    keras_cv = None

if keras_cv is None:
    print("KerasCV section skipped: keras-cv not installed.")
elif keras.backend.backend() != "tensorflow":
    print("KerasCV section skipped: it needs KERAS_BACKEND=tensorflow.")
else:
    backbone = keras_cv.models.ResNetBackbone(
        stackwise_filters=[size["width"], 2 * size["width"]],
        stackwise_blocks=[1, 1],
        stackwise_strides=[1, 2],
        include_rescaling=False,
        input_shape=x_train.shape[1:],
    )
    levels = backbone.pyramid_level_inputs
    print("Pyramid levels:", levels)
    features = layers.GlobalAveragePooling2D(name="cv_pool")(backbone.output)
    cv_outputs = layers.Dense(
        len(EXPRESSION), activation="sigmoid", name="cv_expression"
    )(features)
    cv_model = keras.Model(backbone.input, cv_outputs, name="cv_teacher")
    cv_teacher = keras_dfka.Teacher(
        cv_model,
        blocks=[levels[key] for key in sorted(levels)],
        labels=[f"cv_{label}" for label in EXPRESSION],
    )
    print("KerasCV teacher levels:", cv_teacher.level_shapes)

"""
## Summary

- `Teacher(model, blocks=[...], tasks=[...])`: block names from
  `model.summary()` / `model.layers`, one `LabelTask` per output, in order.
- `from_logits=True` for logits outputs (per task with `LabelTask(from_logits=)`).
- `input_range=(low, high)` for models that expect another pixel range.
- Teachers may differ in width and spatial size, not in the number of blocks.
- A `keras.applications` model inside yours is inlined: name its layers in
  `blocks`, or take `keras_dfka.propose_blocks(model, num_blocks=N)`.
- `gan.balanced_latents(n, task=...)` evens out a softmax task's classes in
  what the student sees; `dual.hard_latents(n)` finds the vectors it still
  gets most wrong.
"""
print("Done. Outputs in", workdir)
