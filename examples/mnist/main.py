"""Data-free distillation of a LeNet-5 MNIST teacher, scored on held-out digits.

    python examples/mnist/main.py --data_dir=../shared/data/mnist
    python examples/mnist/main.py --amalgamation=balanced_latents=32000 \\
        --amalgamation=block_wise=false --amalgamation=fine_tune_heads=true

Defaults: `examples/mnist/config.py` and `keras_dfka.AmalgamationConfig`.
"""

import json
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
flags.DEFINE_string("data_dir", None, "Folder of the MNIST idx files.")
flags.DEFINE_string("workdir", None, "Output directory.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common_flags.check_flags()
    from examples.mnist import config as mnist_config
    from examples.mnist import train

    config = mnist_config.MNISTConfig()
    amalgamation = common_flags.amalgamation_config(
        {"latent_dim": config.amalgamation.latent_dim}, preset="sequential"
    )
    if amalgamation is not None:
        config.amalgamation = amalgamation
    if FLAGS.data_dir:
        config.data_dir = FLAGS.data_dir
    if FLAGS.workdir:
        config.workdir = FLAGS.workdir
    result = train.run(config)
    print(json.dumps(result["top1_accuracy"], indent=2))


if __name__ == "__main__":
    app.run(main)
