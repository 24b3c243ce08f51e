"""The rows of the quality benchmark: each a set of changes to a preset of
`keras_dfka.AmalgamationConfig` (`ROWS`), and the rows each dataset runs by
default (`DEFAULT_ROWS`)."""

DAFL_CHUNK = 20


BALANCED_SAMPLES = 32000


HARD_SAMPLES = 16000


BALANCED_END_TO_END = {
    "balanced_latents": BALANCED_SAMPLES,
    "block_wise": False,
    "fine_tune_heads": True,
}


# name -> (AmalgamationConfig changes, description). A row's "preset" (default
# "default") gives the fields it does not change; the rows of the sequential
# preset are the 0.1 rows (MNIST keeps them). Rows with `balanced_latents`
# need a softmax teacher (MNIST only).
SEQUENTIAL = {"preset": "sequential"}


ROWS = {
    "default": ({}, "our default: adversarial amalgamation with a pool"),
    "no_adversarial": (
        {"adversarial_weight": 0.0},
        "default without the generator's disagreement term",
    ),
    "no_latent_targets": (
        {"latent_targets": False},
        "default without label targets read from the noise",
    ),
    "no_pool": (
        {"pool_size": 64},
        "default with a pool of one batch (the student sees only the newest "
        "generated images)",
    ),
    "one_student_update": (
        {"student_updates": 1},
        "default with one student update per generator update",
    ),
    "paper": ({"preset": "paper"}, "the paper's recipe (Eqs. 5-16)"),
    "sequential": (
        SEQUENTIAL,
        "stage 1, then stage 2 block-wise (the library's 0.1 default)",
    ),
    "sequential_end_to_end": (
        {**SEQUENTIAL, "block_wise": False},
        "sequential, whole trunk trained end to end on images",
    ),
    "dafl": (
        {
            "preset": "paper",
            "loss_weights": {
                "one_hot": 1.0,
                "activation": 0.1,
                "information_entropy": 5.0,
                "discrete": 0.0,
                "intermediate": 0.0,
                "batch_norm": 0.0,
                "total_variation": 0.0,
            },
            "block_wise": False,
            "schedule": "alternate",
            "alternate_steps": DAFL_CHUNK,
        },
        "DAFL-style: one-hot + activation + entropy losses; the student "
        "trained end to end on the generated images alongside the generator "
        f"(alternating every {DAFL_CHUNK} steps)",
    ),
    "balanced": (
        {**SEQUENTIAL, "balanced_latents": BALANCED_SAMPLES},
        f"sequential, dual generator on {BALANCED_SAMPLES} class-balanced latent "
        "vectors (AmalgamGAN.balanced_latents; MNIST only)",
    ),
    "balanced_end_to_end": (
        {**SEQUENTIAL, **BALANCED_END_TO_END},
        "class-balanced latents, trunk trained end to end, trainable head "
        "copies (plain distillation on balanced images; MNIST only)",
    ),
    "balanced_hard": (
        {**SEQUENTIAL, **BALANCED_END_TO_END, "hard_latents": HARD_SAMPLES},
        f"balanced_end_to_end, and for the second half of the student's steps "
        f"{HARD_SAMPLES} more vectors where it disagrees most with the teacher "
        "(DualGenerator.hard_latents; MNIST only)",
    ),
}


# The rows each dataset runs when --rows is not given.
DEFAULT_ROWS = {
    "celeba": [
        "default",
        "no_adversarial",
        "no_latent_targets",
        "no_pool",
        "one_student_update",
        "paper",
        "sequential",
        "dafl",
    ],
    "mnist": [
        "sequential",
        "paper",
        "sequential_end_to_end",
        "dafl",
        "balanced",
        "balanced_end_to_end",
        "balanced_hard",
    ],
}


def needs_softmax(row):
    """Whether a row trains on class-balanced vectors (MNIST only)."""
    return "balanced_latents" in ROWS[row][0]


def row_config(row, base, seed, steps, quick_latents=None):
    """The `AmalgamationConfig` of `row`: its preset with the row's changes,
    `base`'s latent width, batch size, verbosity and XLA choice, the steps
    `steps` (`step_changes`) and `seed`. `quick_latents` (under `--quick`)
    replaces the latent-vector counts: that many balanced vectors, a
    quarter of it hard ones."""
    from keras_dfka.amalgamation import AmalgamationConfig

    changes = dict(ROWS[row][0])
    preset = changes.pop("preset", "default")
    if quick_latents is not None and "balanced_latents" in changes:
        changes["balanced_latents"] = quick_latents
        if "hard_latents" in changes:
            changes["hard_latents"] = max(1, quick_latents // 4)
    shared = ("latent_dim", "batch_size", "verbose", "jit_compile")
    return AmalgamationConfig.from_preset(
        preset,
        **{k: getattr(base, k) for k in shared},
        **steps,
        seed=seed,
        **changes,
    )


def step_changes(args):
    """The steps every row gets: `--steps` (generator) and `--dual_steps`
    (student), each only when given (`--quick`: 2 and 4 unless given). A
    row's preset gives the others."""
    changes = {"gan_steps": 2, "dual_steps": 4} if args.quick else {}
    if args.steps is not None:
        changes["gan_steps"] = args.steps
    if args.dual_steps is not None:
        changes["dual_steps"] = args.dual_steps
    return changes
