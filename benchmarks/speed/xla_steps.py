"""Seconds per training step with and without XLA, on 64x64 CelebA teachers.

    KERAS_BACKEND=tensorflow python -m benchmarks.speed.xla_steps \
        --teachers=benchmarks/quality/results/work_quality_celeba_tensorflow/teachers \
        --kind=adversarial --jit=true

`--kind`: `adversarial` (an `AdversarialAmalgamation` step of the default
configuration), `student` (its student-only step), `gan` (an `AmalgamGAN`
step of the sequential preset), `reference` (a reference student's Keras
`fit()` step) or `teacher` (a teacher's). `--after_latent_fit` first runs a
3-step `fit()` on `LatentNoise`, as the main job does before it trains the
reference students (TensorFlow's generator dataset changes glibc's malloc
thresholds; `keras_dfka.datasets.latent_noise`). Prints the mean seconds of
steps 5-24 of one `fit()` (compilation excluded), with the backend, the
Keras version and the machine.
"""

import json
import os
import platform
import time

from absl import app
from absl import flags

flags.DEFINE_string("teachers", None, "Folder of hair.keras and face.keras (64x64).")
flags.DEFINE_enum(
    "kind",
    "adversarial",
    ["adversarial", "student", "gan", "reference", "teacher"],
    "Which step.",
)
flags.DEFINE_enum("jit", "true", ["true", "false"], "jit_compile of the model.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_bool("after_latent_fit", False, "Run a LatentNoise fit() first.")
flags.DEFINE_enum("backend", None, ["tensorflow", "jax", "torch"], "Keras backend.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if not FLAGS.teachers or not os.path.isdir(FLAGS.teachers):
        raise app.UsageError(f"--teachers must be a folder; got {FLAGS.teachers!r}")
    if FLAGS.backend:
        os.environ["KERAS_BACKEND"] = FLAGS.backend
    import keras
    import numpy as np

    import keras_dfka
    from examples import references
    from examples.faces import config as face_config
    from keras_dfka.models.teacher_zoo import block_names
    from keras_dfka.models.teacher_zoo import small_cnn

    jit = FLAGS.jit == "true"
    batch = FLAGS.batch_size
    teachers = []
    for name, labels in face_config.CELEBA_TEACHERS.items():
        model = keras.saving.load_model(os.path.join(FLAGS.teachers, f"{name}.keras"))
        teachers.append(
            keras_dfka.Teacher(model, block_names(model), labels=labels, name=name)
        )
    config = keras_dfka.AmalgamationConfig()
    gan = keras_dfka.AmalgamGAN(teachers, **config.gan_options())
    dual = keras_dfka.DualGenerator(
        gan, face_config.DEFAULT_TARGETS, **config.dual_options()
    )
    trainer = keras_dfka.AdversarialAmalgamation(gan, dual, student_updates=2)
    trainer.compile(jit_compile=jit)

    def noise(steps):
        return keras_dfka.datasets.LatentNoise(config.latent_dim, batch, steps=steps)

    if FLAGS.after_latent_fit or FLAGS.kind == "student":
        trainer.fit(noise(3), verbose=0)
    arrays = None
    if FLAGS.kind == "adversarial":
        model = trainer
    elif FLAGS.kind == "student":
        trainer.set_generator_training(False)
        model = trainer
    elif FLAGS.kind == "gan":
        model = keras_dfka.AmalgamGAN(
            teachers, **config.from_preset("sequential").gan_options()
        )
        model.compile(jit_compile=jit)
    else:
        if FLAGS.kind == "reference":
            target = keras_dfka.TargetNet.from_dual(dual)
            model = references.label_model(target, teachers)
        else:
            task = keras_dfka.LabelTask("t", [str(i) for i in range(8)], "sigmoid")
            model = small_cnn((64, 64, 3), [task])
        model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=jit)
        rng = np.random.default_rng(0)
        arrays = (
            rng.uniform(size=(batch * 30, 64, 64, 3)).astype("float32"),
            rng.uniform(size=(batch * 30, 8)).astype("float32"),
        )
    times = []

    class Tick(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            times.append(time.perf_counter())

    if arrays is None:
        model.fit(noise(25), verbose=0, callbacks=[Tick()])
    else:
        model.fit(*arrays, batch_size=batch, epochs=1, verbose=0, callbacks=[Tick()])
    seconds = (times[24] - times[4]) / 20
    print(
        json.dumps(
            {
                "kind": FLAGS.kind,
                "jit_compile": jit,
                "after_latent_fit": FLAGS.after_latent_fit,
                "batch_size": batch,
                "seconds_per_step": round(seconds, 4),
                "backend": keras.backend.backend(),
                "keras": keras.__version__,
                "machine": f"{platform.machine()} {platform.processor()} "
                f"{os.cpu_count()} cores",
                "load_average": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    app.run(main)
