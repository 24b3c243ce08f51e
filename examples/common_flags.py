"""The examples' common flags: `--backend`, and for the data-free part
`--preset`, `--steps`, `--seed` and `--amalgamation=FIELD=VALUE` (any
`keras_dfka.AmalgamationConfig` field). Nothing here imports Keras, so
`--backend` can still choose the backend."""

import os
import sys

from absl import app
from absl import flags

FLAGS = flags.FLAGS


def define_flags():
    """Defines the flags (once per program)."""
    flags.DEFINE_enum("backend", None, ["tensorflow", "jax", "torch"], "Keras backend.")
    flags.DEFINE_string(
        "preset", None, "Named amalgamation configuration: default or paper."
    )
    flags.DEFINE_integer("steps", None, "Training steps of each data-free stage.")
    flags.DEFINE_integer("seed", None, "Random seed.")
    flags.DEFINE_multi_string(
        "amalgamation",
        None,
        "FIELD=VALUE: any field of keras_dfka.AmalgamationConfig (repeat), "
        "e.g. --amalgamation=schedule=alternate --amalgamation=block_wise=false.",
    )


def check_flags():
    """Usage errors found without importing Keras; sets the backend, then
    imports keras_dfka (and so Keras)."""
    if FLAGS.backend:
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != FLAGS.backend:
            raise app.UsageError("--backend must take effect before Keras is imported")
        os.environ["KERAS_BACKEND"] = FLAGS.backend
    if FLAGS.steps is not None and FLAGS.steps <= 0:
        raise app.UsageError(f"--steps must be positive; received {FLAGS.steps}")
    # keras_dfka before Keras: it turns on TensorFlow's oneDNN CPU kernels
    # before TensorFlow is imported (keras_dfka.utils.cpu_kernels).
    import keras_dfka  # noqa: F401


def amalgamation_config(defaults, preset="default"):
    """The `AmalgamationConfig` the flags ask for, or None if they ask for
    nothing (the example's own default then).

    Args:
        defaults: dict of fields the example sets before the flags.
        preset: the example's preset when `--preset` is not given.
    """
    from keras_dfka.amalgamation import AmalgamationConfig
    from keras_dfka.cli.fields import parse_field

    check_flags()
    changes = {}
    if FLAGS.steps is not None:
        changes["gan_steps"] = changes["dual_steps"] = FLAGS.steps
    if FLAGS.seed is not None:
        changes["seed"] = FLAGS.seed
    for item in FLAGS.amalgamation or []:
        name, sep, text = item.partition("=")
        if not sep:
            raise app.UsageError(f"--amalgamation expects FIELD=VALUE; got {item!r}")
        try:
            changes[name.strip()] = parse_field(name.strip(), text)
        except ValueError as error:
            raise app.UsageError(f"--amalgamation: {error}") from None
    if not changes and FLAGS.preset is None:
        return None
    try:
        return AmalgamationConfig.from_preset(
            FLAGS.preset or preset, **{**defaults, **changes}
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from None
