"""
Title: Data-free knowledge amalgamation with fit()
Author: keras-dfka contributors
Date created: 2026/11/25
Last modified: 2026/11/25
Description: Merge two face-attribute teachers into one compact student without their data, with fit(), callbacks and TensorBoard.
"""

"""
## Introduction

You hold two pre-trained classifiers ("teachers"): one tags hair and
accessories, the other tags facial expression, sex, age and make-up. Each was
trained on private images you cannot see. You want **one small student** that
answers a chosen subset of both teachers' labels, and you have **no data**.

`keras_dfka` implements the Group-Stack Dual-GAN of Ye et al. (CVPR 2020):

1. `AmalgamGAN`: a generator learns, with the frozen teachers as its
   discriminators, to synthesize images (and intermediate features) on which
   the teachers answer confidently and consistently;
2. `DualGenerator`: the student trunk is trained block by block on those
   samples, to reproduce the teachers' predictions of the chosen labels;
3. `TargetNet.from_dual()`: the trunk and one small branch per teacher are
   regrouped into a plain functional `keras.Model`.

Those are the paper's stages, one after the other. The library's default
(`keras_dfka.amalgamate`) trains the first two together, with a pool of
generated images (`AdversarialAmalgamation`); the guide shows it after step
4 and compares the two.

Both trainers are ordinary Keras models: you call `compile()` and `fit()`,
and pass callbacks. This guide uses `keras_dfka.callbacks.AmalgamationMonitor`
to watch a run that has no validation data, in TensorBoard.

Everything runs on CPU in a few minutes. Set `KERAS_DFKA_GUIDE_SCALE=tiny`
for a seconds-long smoke run, and `KERAS_DFKA_GUIDE_DIR` to choose where the
outputs go (default: a new temporary directory).
"""

"""
## Setup
"""

# ruff: noqa: E402
import os
import tempfile

import keras
import numpy as np

import keras_dfka
from keras_dfka import evaluation
from keras_dfka.callbacks import AmalgamationMonitor
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn
from keras_dfka.utils.visualization import save_image_grid

SCALE = os.environ.get("KERAS_DFKA_GUIDE_SCALE", "full")
SIZES = {
    "full": dict(
        num_faces=6000,
        image_size=32,
        teacher_widths=(16, 32, 64),
        teacher_epochs=8,
        latent_dim=100,
        batch_size=64,
        epochs=4,
        steps_per_epoch=150,
        num_samples=64,
        pool_size=20000,
    ),
    "tiny": dict(
        num_faces=96,
        image_size=16,
        teacher_widths=(4, 8),
        teacher_epochs=1,
        latent_dim=16,
        batch_size=16,
        epochs=2,
        steps_per_epoch=1,
        num_samples=8,
        pool_size=64,
    ),
}
if SCALE not in SIZES:
    raise ValueError(
        f"KERAS_DFKA_GUIDE_SCALE must be one of {sorted(SIZES)}. Received: {SCALE!r}"
    )
size = SIZES[SCALE]

# Every output of this guide goes to a fresh directory under this one.
base_dir = os.environ.get("KERAS_DFKA_GUIDE_DIR") or tempfile.gettempdir()
os.makedirs(base_dir, exist_ok=True)
workdir = tempfile.mkdtemp(prefix="amalgamation_with_fit_", dir=base_dir)
print("Backend:", keras.backend.backend(), "| scale:", SCALE, "| outputs:", workdir)
keras.utils.set_random_seed(0)

"""
## Step 1: two teachers (the only step that sees data)

In real life the teachers come pre-trained. Here we train two small CNNs on
`keras_dfka.datasets.ProceduralFaces`, faces drawn procedurally with 12
CelebA-like attributes (no download). Each teacher sees its own attribute
group only. This is the **only** step of the guide that uses images; the
test split is used again at the very end, to evaluate.
"""

faces = keras_dfka.datasets.ProceduralFaces(
    num_images=size["num_faces"], image_size=size["image_size"], seed=0
)
splits = faces.split()
x_train, y_train = splits["train"]
x_test, y_test = splits["test"]
print("Train images:", x_train.shape, "test images:", x_test.shape)

TEACHER_LABELS = {
    "hair": ["Black_Hair", "Blond_Hair", "Bangs", "Wearing_Hat", "Eyeglasses"],
    "face": ["Smiling", "Mouth_Slightly_Open", "Male", "Young", "Heavy_Makeup"],
}


def columns(labels):
    return [faces.attributes.index(label) for label in labels]


teacher_models = {}
for name, labels in TEACHER_LABELS.items():
    model = small_cnn(
        x_train.shape[1:],
        [keras_dfka.LabelTask(name, labels, "sigmoid")],
        widths=size["teacher_widths"],
        name=f"teacher_{name}",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(multi_label=True, name="auc")],
    )
    x_validation, y_validation = splits["validation"]
    model.fit(
        x_train,
        y_train[:, columns(labels)],
        validation_data=(x_validation, y_validation[:, columns(labels)]),
        batch_size=size["batch_size"],
        epochs=size["teacher_epochs"],
        verbose=2,
    )
    teacher_models[name] = model

"""
Teachers are often published with a little metadata: here, the positive rate
of each label in their training data (a model-card statistic, not data). We
compute it now, while the images are still here, as each teacher's owner
would.
"""

train_rates = dict(zip(faces.attributes, np.clip(y_train.mean(axis=0), 0.01, 0.99)))
declared_rates = {
    label: float(train_rates[label])
    for labels in TEACHER_LABELS.values()
    for label in labels
}

"""
From here on the images are gone. A `keras_dfka.Teacher` wraps each model: it
names the layers that end the model's blocks (`small_cnn` names them
`<name>_block1`, `<name>_block2`, ...) and declares its labels. The declared
rates go in as `label_priors`: the information-entropy loss then asks the
generator for batches with these label frequencies rather than a uniform
split. The wrapper clones and freezes the model; your model is never
modified.
"""

teachers = [
    keras_dfka.Teacher(
        model,
        block_names(model),
        labels=TEACHER_LABELS[name],
        name=name,
        label_priors={label: declared_rates[label] for label in TEACHER_LABELS[name]},
    )
    for name, model in teacher_models.items()
]
for teacher in teachers:
    print(teacher.name, "blocks:", teacher.blocks, "levels:", teacher.level_shapes)

"""
## Step 2: the AmalgamGAN, trained with fit()

The "dataset" of a data-free fit is a stream of latent noise batches,
`keras_dfka.datasets.LatentNoise`. The monitor writes TensorBoard summaries
at the end of each epoch: a grid of generated samples (from a fixed latent
batch), every loss term, each teacher's per-label positive rate on generated
images next to the declared rate (taken from the teachers' `label_priors`, or
from `declared_positive_rates=`), and a histogram of the teachers'
confidences. A label that the generator never (or always) produces shows up
at once. The monitor needs no TensorFlow op, so it works under the JAX
backend too.
"""

log_dir = os.path.join(workdir, "logs")
gan = keras_dfka.AmalgamGAN(teachers, latent_dim=size["latent_dim"])
gan.compile()
gan_history = gan.fit(
    keras_dfka.datasets.LatentNoise(
        size["latent_dim"],
        size["batch_size"],
        steps=size["steps_per_epoch"],
        seed=0,
    ),
    epochs=size["epochs"],
    callbacks=[
        AmalgamationMonitor(
            os.path.join(log_dir, "amalgam_gan"), num_samples=size["num_samples"]
        )
    ],
    verbose=2,
)
print("Loss terms:", sorted(gan_history.history))

"""
Let's save a grid of generated samples. They are not photographs: they are
whatever makes both teachers answer confidently, with the batch statistics
of real images (the BatchNorm prior of the default loss weights).
"""

grid_path = save_image_grid(
    gan.generate(size["num_samples"], seed=1), os.path.join(workdir, "generated.png")
)
print("Generated samples:", grid_path)

"""
## Step 3: the DualGenerator, for a customized label set

We pick 8 of the 10 labels, from both teachers. The dual generator trains the
student trunk on generated samples; the generator is frozen.

Attached to `DualGenerator.fit()`, the monitor also measures how well the
student agrees with the teachers on held-out generated images and puts the
mean absolute error into the logs as `agreement_mae`: a data-free signal for
`EarlyStopping` (or `ModelCheckpoint`). Keras calls callbacks in list order,
so the monitor comes **before** `EarlyStopping`.
"""

TARGET_LABELS = [
    "Black_Hair",
    "Blond_Hair",
    "Eyeglasses",
    "Wearing_Hat",
    "Smiling",
    "Male",
    "Young",
    "Heavy_Makeup",
]
dual = keras_dfka.DualGenerator(gan, TARGET_LABELS)
dual.compile()
dual_history = dual.fit(
    keras_dfka.datasets.LatentNoise(
        size["latent_dim"],
        size["batch_size"],
        steps=size["steps_per_epoch"],
        seed=1,
    ),
    epochs=size["epochs"],
    callbacks=[
        AmalgamationMonitor(
            os.path.join(log_dir, "dual_generator"), num_samples=size["num_samples"]
        ),
        keras.callbacks.EarlyStopping(
            monitor="agreement_mae", mode="min", patience=2, restore_best_weights=True
        ),
    ],
    verbose=2,
)
print("agreement_mae per epoch:", np.round(dual_history.history["agreement_mae"], 4))

"""
## Step 4: the TargetNet

`TargetNet.from_dual()` regroups the trained trunk and one branch per teacher
(its filter, the teacher's head weights, the label selection) into a plain
functional model with one output per task, made of Keras's own layers only.
It saves as `.keras`, and the file loads with plain `keras.saving.load_model`
where keras-dfka is not installed (a serving machine needs only Keras and a
backend); `keras_dfka.TargetNet.load` brings back its label helpers.
"""

target = keras_dfka.TargetNet.from_dual(dual)
target_path = os.path.join(workdir, "target_net.keras")
target.save(target_path)
plain = keras.saving.load_model(target_path)  # Needs no keras_dfka.
print("Outputs:", {name: tuple(t.shape) for name, t in plain.output.items()})
reloaded = keras_dfka.TargetNet.load(target_path)
print("Target labels:", reloaded.target_labels)
np.testing.assert_allclose(
    target.predict_labels(x_test[:8]), reloaded.predict_labels(x_test[:8]), atol=1e-5
)

"""
## The library's default: generator and student together, with a pool

Steps 2 and 3 are the paper's recipe: the generator is trained first, then
frozen while the student learns. `keras_dfka.amalgamate` does something
else by default, which keeps much more of the teachers' skill
(`benchmarks/README.md`): `AdversarialAmalgamation` trains both in one
`fit()`. Each step

1. updates the generator against the teachers, as in step 2, and also
   towards images on which the student still disagrees with the teachers
   (only on labels where the teachers are confident; `adversarial_weight`);
2. pushes the new images into a pool of the last `pool_size` images, stored
   as uint8;
3. updates the student `student_updates` times on random pool batches
   (flipped and shifted), end to end (`block_wise=False`).

With `latent_targets=True` the generator's label targets are read from the
noise itself, so each label is asked for on about half of the images and
many images sit near each label's decision boundary. After the joint steps
the student can go on alone on the final pool:
`set_generator_training(False)`.
"""

adversarial_gan = keras_dfka.AmalgamGAN(
    teachers,
    latent_dim=size["latent_dim"],
    loss_weights="adversarial",
    latent_targets=True,
)
adversarial_dual = keras_dfka.DualGenerator(
    adversarial_gan, TARGET_LABELS, block_wise=False, hidden_width_multiplier=0.5
)
trainer = keras_dfka.AdversarialAmalgamation(
    adversarial_gan, adversarial_dual, pool_size=size["pool_size"], seed=0
)
trainer.compile()
trainer.fit(
    keras_dfka.datasets.LatentNoise(
        size["latent_dim"],
        size["batch_size"],
        steps=size["steps_per_epoch"],
        seed=2,
    ),
    epochs=size["epochs"],
    callbacks=[keras.callbacks.TensorBoard(os.path.join(log_dir, "adversarial"))],
    verbose=2,
)
# The student alone on the final pool, for one more epoch.
trainer.set_generator_training(False)
trainer.fit(
    keras_dfka.datasets.LatentNoise(
        size["latent_dim"],
        size["batch_size"],
        steps=size["steps_per_epoch"],
        seed=3,
    ),
    initial_epoch=size["epochs"],
    epochs=size["epochs"] + 1,
    verbose=2,
)
adversarial_target = keras_dfka.TargetNet.from_dual(adversarial_dual)

"""
## Evaluation on the test split

Finally we look at real test faces again, to compare the student with the
teachers on the 8 target labels (`keras_dfka.evaluation`): the TargetNet of
steps 2 to 4 and the one of the default, adversarial training. The students
are a fraction of the teachers' size. How much of the teachers' ROC-AUC it
recovers depends on the training budget and the loss settings (a student that
learned nothing scores about 0.5): this guide's budget of a few CPU minutes is
a demonstration, not a benchmark (see `benchmarks/` and
`guides/customizing_amalgamation.py`). The tiny smoke run only checks that
everything fits together.
"""

y_target = y_test[:, columns(TARGET_LABELS)]
teacher_probabilities = np.zeros_like(y_target)
for teacher, model in zip(teachers, teacher_models.values()):
    predictions = model.predict(x_test, verbose=0)
    for j, label in enumerate(TARGET_LABELS):
        if label in teacher.label_names:
            teacher_probabilities[:, j] = predictions[
                :, teacher.label_names.index(label)
            ]
reports = {
    "teachers": evaluation.binary_report(
        y_target, teacher_probabilities, TARGET_LABELS
    ),
    "target_net": evaluation.binary_report(
        y_target, target.predict_labels(x_test), TARGET_LABELS
    ),
    "adversarial_target_net": evaluation.binary_report(
        y_target, adversarial_target.predict_labels(x_test), TARGET_LABELS
    ),
}
parameters = {
    "teachers": evaluation.count_params(list(teacher_models.values())),
    "target_net": evaluation.count_params(target),
    "adversarial_target_net": evaluation.count_params(adversarial_target),
}
rows = [
    {"model": name, **report["mean"], "parameters": parameters[name]}
    for name, report in reports.items()
]
print(
    evaluation.format_table(
        rows,
        ["model", "roc_auc", "balanced_accuracy", "accuracy", "parameters"],
        title="Test split, mean over the 8 target labels",
    )
)
per_label = [
    {
        "label": label,
        "teachers_auc": reports["teachers"]["per_label"][label]["roc_auc"],
        "target_net_auc": reports["target_net"]["per_label"][label]["roc_auc"],
        "adversarial_auc": reports["adversarial_target_net"]["per_label"][label][
            "roc_auc"
        ],
    }
    for label in TARGET_LABELS
]
print(
    evaluation.format_table(
        per_label, ["label", "teachers_auc", "target_net_auc", "adversarial_auc"]
    )
)

"""
## From teachers to a LiteRT file

The TargetNet is a functional model of Keras's own layers, so Keras's
`model.export` turns it into a file for a phone or a microcontroller.
`keras_dfka.deployment.export_model` exports it, loads the artifact with its
own runtime (here the LiteRT interpreter), runs it on images and compares its
answers with the `.keras` model's, output by output: an artifact that differs
by more than `tolerance` (1e-4 by default) is refused and nothing is written.
It returns the file's size and the median latency on one image.

LiteRT (`format="litert"`) and ONNX (`format="onnx"`, after
`pip install "keras-dfka[onnx]"`) export on the TensorFlow backend; a
TensorFlow SavedModel (`format="saved_model"`) on TensorFlow and JAX. The
command line does the same:

```
keras-dfka export --model target_net.keras --format litert \\
    --output target_net.tflite --images some_faces/
```
"""

if keras.backend.backend() == "tensorflow":
    export_format, export_path = "litert", os.path.join(workdir, "target_net.tflite")
else:
    export_format, export_path = "saved_model", os.path.join(workdir, "target_net")
exported = keras_dfka.deployment.export_model(
    keras_dfka.TargetNet.load(target_path),
    export_path,
    format=export_format,
    images=x_test[:16],  # real test images; default: random ones
    overwrite=True,
)
print("\n".join(exported.summary()))

"""
The `.tflite` file runs with the LiteRT interpreter (`ai_edge_litert`, or
`tf.lite.Interpreter` in TensorFlow), outputs keyed by task name as in Keras:

```python
from ai_edge_litert.interpreter import Interpreter

runner = Interpreter(model_path="target_net.tflite").get_signature_runner()
outputs = runner(image=images)  # {task name: probabilities}
```
"""

"""
## Look at the run in TensorBoard

```
tensorboard --logdir=<workdir>/logs
```

- *Images*: `samples`, the fixed latent batch after each epoch (also saved as
  `samples_epoch_XXXX.png` next to the event files);
- *Scalars*: `loss/*`, `positive_rate/<teacher>/<label>` against
  `declared_rate/<label>`, and for the dual generator
  `agreement/mean_absolute_error` and `agreement/label_agreement`;
- *Histograms*: `confidence/<teacher>`, the teachers' confidence on
  generated images.

## Next steps

- `guides/bring_your_own_teachers.py`: wrap your own models (layer names,
  multi-task heads, softmax and sigmoid tasks, logits, input ranges, teachers
  of different widths).
- `keras_dfka.amalgamate(teachers, target_labels, config)` runs steps 2 to 4
  in one call, with every default in `keras_dfka.AmalgamationConfig` (the
  command line `keras-dfka amalgamate` runs the same function).
- `guides/customizing_amalgamation.py`: configurations, loss weights, the
  BatchNorm prior, augmentation, custom student blocks, callbacks, learning
  rate schedules, the sequential schedule and the JAX backend.
"""

print("Done. Outputs in", workdir)
