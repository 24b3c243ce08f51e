"""Amalgamate face-attribute teachers into one compact TargetNet, data-free.

Step 1 trains two teachers on disjoint attribute groups (the only step that
sees images); step 2 (AmalgamGAN, DualGenerator, TargetNet.from_dual) uses no
data at all; step 3 evaluates on the test split against a data-driven student
and a noise student, and writes report.json / report.md to the workdir.

    python examples/multilabel_face.py                     # embedded faces
    python examples/multilabel_face.py --data_dir=../shared/data/celeba

All defaults live in `keras_dfka.experiments.faces.FaceConfig`.
"""

import os
import sys

from absl import app
from absl import flags

flags.DEFINE_string("data_dir", None, "CelebA directory; default: embedded faces.")
flags.DEFINE_integer("image_size", None, "Image side in pixels.")
flags.DEFINE_multi_string(
    "teachers",
    None,
    "An attribute group as NAME=Attr1,Attr2,... (repeat for each teacher).",
)
flags.DEFINE_list("target_labels", None, "The customized label set Y_cst.")
flags.DEFINE_integer("steps", None, "Training steps of each data-free stage.")
flags.DEFINE_integer("teacher_epochs", None, "Epochs of teacher training.")
flags.DEFINE_string("preset", None, "AmalgamGAN loss preset: default or paper.")
flags.DEFINE_enum("backend", None, ["tensorflow", "jax", "torch"], "Keras backend.")
flags.DEFINE_string("workdir", None, "Output directory.")
flags.DEFINE_integer("seed", None, "Random seed.")
flags.DEFINE_bool("overwrite", False, "Overwrite an existing report/TargetNet.")
FLAGS = flags.FLAGS


def parse_teachers(values):
    groups = {}
    for value in values:
        name, sep, labels = value.partition("=")
        if not sep or not name or not labels:
            raise app.UsageError(
                f"--teachers expects NAME=Attr1,Attr2,...; received {value!r}"
            )
        groups[name] = [x.strip() for x in labels.split(",") if x.strip()]
    return groups


def main(argv):
    del argv
    if FLAGS.backend:
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != FLAGS.backend:
            raise app.UsageError("--backend must take effect before Keras is imported")
        os.environ["KERAS_BACKEND"] = FLAGS.backend
    from keras_dfka.experiments import faces

    config = faces.FaceConfig()
    overrides = {
        "data_dir": FLAGS.data_dir,
        "image_size": FLAGS.image_size,
        "target_labels": FLAGS.target_labels,
        "teacher_epochs": FLAGS.teacher_epochs,
        "preset": FLAGS.preset,
        "workdir": FLAGS.workdir,
        "seed": FLAGS.seed,
    }
    if FLAGS.teachers:
        overrides["teachers"] = parse_teachers(FLAGS.teachers)
    if FLAGS.steps is not None:
        if FLAGS.steps <= 0:
            raise app.UsageError(f"--steps must be positive; received {FLAGS.steps}")
        overrides["gan_steps"] = overrides["dual_steps"] = FLAGS.steps
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    config.overwrite = FLAGS.overwrite
    faces.run(config)


if __name__ == "__main__":
    app.run(main)
