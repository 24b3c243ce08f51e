"""Amalgamate face-attribute teachers into one compact TargetNet, data-free.

Step 1 trains two teachers on disjoint attribute groups (the only step that
sees images); step 2 (`keras_dfka.amalgamate`) uses no data at all; step 3
evaluates on the test split against a data-driven student and a noise
student, and writes report.json / report.md to the workdir.

    python examples/multilabel_face.py                     # embedded faces
    python examples/multilabel_face.py --data_dir=../shared/data/celeba
    python examples/multilabel_face.py --preset=paper --amalgamation=seed=1
    python examples/multilabel_face.py --resume   # continue a killed run

Defaults: `examples/faces/config.py` (the example's) and
`keras_dfka.AmalgamationConfig` (the data-free part's).
"""

import os
import sys

from absl import app
from absl import flags

# Run as a script, the example's own folder is on the path, not the root.
sys.path.insert(
    0, os.path.dirname(os.path.dirname(os.path.abspath(os.path.dirname(__file__))))
)

from examples import common_flags  # noqa: E402

common_flags.define_flags()

flags.DEFINE_string("data_dir", None, "CelebA directory; default: embedded faces.")
flags.DEFINE_integer("image_size", None, "Image side in pixels.")
flags.DEFINE_multi_string(
    "teachers",
    None,
    "An attribute group as NAME=Attr1,Attr2,... (repeat for each teacher).",
)
flags.DEFINE_list("target_labels", None, "The customized label set Y_cst.")
flags.DEFINE_integer("teacher_epochs", None, "Epochs of teacher training.")
flags.DEFINE_string("workdir", None, "Output directory.")
flags.DEFINE_bool("overwrite", False, "Overwrite an existing report/TargetNet.")
flags.DEFINE_bool(
    "resume",
    False,
    "Continue a killed run from WORKDIR/checkpoint (give the same flags).",
)
flags.DEFINE_bool(
    "keep_checkpoint",
    False,
    "Keep WORKDIR/checkpoint after the run finished (removed by default).",
)
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
    common_flags.check_flags()
    from examples.faces import config as face_config
    from examples.faces import train

    config = face_config.FaceConfig()
    overrides = {
        "data_dir": FLAGS.data_dir,
        "image_size": FLAGS.image_size,
        "target_labels": FLAGS.target_labels,
        "teacher_epochs": FLAGS.teacher_epochs,
        "workdir": FLAGS.workdir,
        "amalgamation": common_flags.amalgamation_config(
            face_config.step_budget(FLAGS.data_dir)
        ),
    }
    if FLAGS.teachers:
        overrides["teachers"] = parse_teachers(FLAGS.teachers)
    for key, value in overrides.items():
        if value is not None:
            setattr(config, key, value)
    config.overwrite = FLAGS.overwrite
    config.resume = FLAGS.resume
    config.keep_checkpoint = FLAGS.keep_checkpoint
    train.run(config)


if __name__ == "__main__":
    app.run(main)
