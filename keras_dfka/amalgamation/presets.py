"""Named complete configurations of `AmalgamationConfig`, and the defaults in
which the library's recipe departs from the trainers' constructors.

Plain data: `AmalgamationConfig.from_preset(name)` reads `PRESETS`, and the
config's fields of `RECIPE_DEFAULTS` take their default from there (every
other field passed to a trainer takes the trainer's constructor default).
"""

# The fields whose config default is the adversarial recipe's rather than
# the default of the trainer argument of the same name (the constructors
# keep the paper's recipe, so that `AmalgamGAN(teachers)` and
# `DualGenerator(gan, labels)` are the paper's method):
# - loss_weights: the adversarial recipe's term weights (the constructor:
#   the library's "default" weights);
# - latent_targets: label targets read from the noise (constructor: off);
# - block_wise: the student learns end to end from pool images, as the
#   adversarial schedule needs (constructor: block by block);
# - hidden_width_multiplier: half-width inner convolutions of the student's
#   blocks (constructor: 1.0);
# - augment: on. The constructor's None means "on unless
#   loss_weights='paper'"; the config holds the resolved bool (its
#   loss_weights are not the paper's, and the "paper" preset sets False),
#   so that the command line has an on/off option and the checkpoint
#   fingerprint a plain value.
RECIPE_DEFAULTS = {
    "loss_weights": "adversarial",
    "latent_targets": True,
    "block_wise": False,
    "hidden_width_multiplier": 0.5,
    "augment": True,
}

# Named complete configurations: the fields that differ from the defaults.
PRESETS = {
    "default": {},
    # Stage 1, then stage 2 on the trained generator, with the library's
    # loss weights: the previous default, kept for comparison.
    "sequential": {
        "schedule": "sequential",
        "loss_weights": "default",
        "latent_targets": False,
        "block_wise": True,
        "hidden_width_multiplier": 1.0,
        "gan_steps": 1000,
        "dual_steps": 1000,
    },
    # Exactly the paper's recipe (Ye et al., CVPR 2020).
    "paper": {
        "schedule": "sequential",
        "loss_weights": "paper",
        "augment": False,
        "latent_targets": False,
        "block_wise": True,
        "stream_weights": (1.0, 1.0),
        "hidden_width_multiplier": 1.0,
        "fine_tune_heads": False,
        "gan_steps": 1000,
        "dual_steps": 1000,
    },
}
