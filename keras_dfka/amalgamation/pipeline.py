"""From teachers to a TargetNet in one call: `amalgamate` and its config.

`AmalgamationConfig` holds every default of the data-free path (stage 1,
stage 2, the latent vectors the student sees, the schedule); `amalgamate`
runs it and returns the trained models. The command line, the examples, the
benchmarks and the guides all go through here, so a default is set once.

Adding a schedule: write `_train_<name>(teachers, plan, config, fit)` below,
add it to `SCHEDULES` and its options as fields of `AmalgamationConfig` (with
their checks in `AmalgamationConfig.__post_init__`); the command line builds
its options from the fields.
"""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_dfka.amalgamation.checkpoint import OffsetDataset
from keras_dfka.amalgamation.checkpoint import RunCheckpoint
from keras_dfka.amalgamation.checkpoint import run_fingerprint
from keras_dfka.datasets.latent_noise import LatentNoise
from keras_dfka.datasets.latent_noise import LatentSet
from keras_dfka.models.group_stack_generator import DEFAULT_MAX_FEATURE_WIDTH
from keras_dfka.models.group_stack_generator import check_max_feature_width
from keras_dfka.models.label_plan import LabelPlan
from keras_dfka.models.target_net import TargetNet
from keras_dfka.trainers.adversarial_amalgamation import AdversarialAmalgamation
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.amalgam_gan import find_softmax_task
from keras_dfka.trainers.amalgam_gan import resolve_loss_weights
from keras_dfka.trainers.compile_utils import default_optimizer
from keras_dfka.trainers.dual_generator import DualGenerator
from keras_dfka.utils.non_finite import raise_if_non_finite_weights
from keras_dfka.utils.validation import MAX_LOSS_WEIGHT
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_int
from keras_dfka.utils.validation import check_weights
from keras_dfka.utils.validation import check_widths

# The values of `AmalgamationConfig.student_learning_rate_decay`.
LEARNING_RATE_DECAYS = ("none", "cosine")

# The largest default number of class-balanced latent vectors.
BALANCED_LATENTS = 32000


def _field(default, help, **kwargs):
    """A config field with its help text (read by the command line)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(
            default_factory=lambda: type(default)(default), metadata={"help": help}
        )
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


@dataclasses.dataclass
class AmalgamationConfig:
    """Every default of data-free amalgamation, in one place.

    The fields are grouped by what they configure. Names follow the classes
    they reach: `AmalgamGAN(...)` for stage 1, `DualGenerator(...)` for stage
    2. Named complete configurations: `AmalgamationConfig.from_preset(name)`
    with a name of `PRESETS` (`"default"`, `"paper"`, `"sequential"`).

    Example:

    ```python
    config = keras_dfka.AmalgamationConfig(gan_steps=600, dual_steps=600)
    paper = keras_dfka.AmalgamationConfig.from_preset("paper", seed=1)
    result = keras_dfka.amalgamate(teachers, ["Smiling", "Male"], config)
    ```
    """

    # How the two stages are scheduled, and what every stage shares.
    schedule: str = _field(
        "adversarial",
        "'sequential': stage 1, then stage 2 on the trained generator; "
        "'alternate': the stages take turns every `alternate_steps` steps; "
        "'adversarial': every step trains both, the student on a pool of "
        "generated images (AdversarialAmalgamation)",
    )
    seed: int = _field(0, "seeds Keras, the noise and the selections")
    latent_dim: int = _field(100, "the width of the generator's noise input")
    batch_size: int = _field(64, "the batch size of both stages")
    learning_rate: float = _field(1e-3, "Adam's learning rate, both stages")
    student_learning_rate_decay: str = _field(
        "none",
        "the student's learning rate over its updates: 'none' (constant) or "
        "'cosine' (keras.optimizers.schedules.CosineDecay from learning_rate "
        "to 0 over all of the student's updates)",
    )
    verbose: int = _field(1, "Keras fit() verbosity (0, 1 or 2)")
    jit_compile: str | bool = _field(
        "auto",
        "XLA-compile the training steps: 'auto' (Keras's own choice: on with "
        "JAX and with TensorFlow on a GPU, off with TensorFlow on a CPU, where "
        "oneDNN's kernels measured faster), true or false",
    )
    check_finite: bool = _field(
        True,
        "stop at the first NaN or infinite loss with an error naming the stage, "
        "the step and the terms (the trainers' compile(check_finite=...))",
    )
    checkpoint_dir: str | None = _field(
        None,
        "save the run's whole state here every checkpoint_steps steps, so "
        "that a run started again with resume continues it (None: no "
        "checkpoints)",
    )
    checkpoint_steps: int = _field(
        100, "with checkpoint_dir: steps between checkpoints"
    )
    resume: bool = _field(
        False,
        "with checkpoint_dir: continue from the checkpoint there (a "
        "directory holding one is refused otherwise)",
    )
    # Stage 1: AmalgamGAN. The default budget, 1,800 joint steps then 1,800
    # student-only ones, was chosen on CelebA's validation split over three
    # seeds (`benchmarks/README.md` 1a).
    gan_steps: int = _field(
        1800,
        "AmalgamGAN training steps (schedule 'adversarial': the steps that "
        "train the generator and the student together)",
    )
    feature_width_multiplier: float = _field(
        0.5, "the shared feature widths (the student's) relative to the teachers'"
    )
    feature_widths: list | None = _field(
        None, "explicit shared widths of levels 2..B+1 (overrides the multiplier)"
    )
    max_feature_width: int | None = _field(
        DEFAULT_MAX_FEATURE_WIDTH,
        "the cap of the shared widths computed from the multiplier (wide "
        "teachers such as ResNet50)",
    )
    loss_weights: str | dict = _field(
        "adversarial",
        "AmalgamGAN loss weights: 'adversarial', 'default', 'paper' or a JSON dict",
    )
    augment: bool = _field(True, "random flips and shifts of generated images")
    latent_targets: bool = _field(
        True,
        "label targets read from the noise, balanced per label (beyond the paper)",
    )
    latent_target_sharpness: float = _field(
        3.0, "with latent_targets: smaller puts more targets near 0.5"
    )
    use_filters: bool = _field(True, "channel gates in the teacher-level filters")
    filter_reduction: int = _field(4, "the squeeze ratio of the filters' gates")
    # Stage 2: DualGenerator.
    dual_steps: int = _field(
        3600,
        "DualGenerator training steps (schedule 'adversarial': the first "
        "gan_steps of them alongside the generator, the rest on the final pool)",
    )
    block_wise: bool = _field(
        False, "train the student block by block (the paper) or end to end"
    )
    stream_weights: tuple = _field(
        (1.0, 1.0), "the weights of the student and generator input streams"
    )
    convs_per_block: int = _field(2, "convolutions per default student block")
    hidden_width_multiplier: float = _field(
        0.5, "the width of a student block's inner convolutions"
    )
    fine_tune_heads: bool = _field(
        False, "trainable copies of the teachers' heads in the student"
    )
    temperature: float = _field(1.0, "the distillation temperature")
    teacher_weights: list | None = _field(
        None, "one loss weight per teacher, comma-separated (None: all 1)"
    )
    # The latent vectors of stage 2 (schedule "sequential").
    balance_task: str | None = _field(
        None, "a softmax task whose classes the student's vectors balance"
    )
    balanced_latents: int | None = _field(
        None,
        "how many class-balanced vectors (AmalgamGAN.balanced_latents); with "
        f"balance_task the default is min({BALANCED_LATENTS}, dual_steps x "
        "batch_size)",
    )
    hard_latents: int | None = _field(
        None,
        "with balanced vectors: add this many of the student's hardest "
        "vectors (DualGenerator.hard_latents) for the second half of its steps",
    )
    # Schedule "alternate".
    alternate_steps: int = _field(20, "with schedule 'alternate': steps of each turn")
    # Schedule "adversarial".
    pool_size: int = _field(
        20000, "with schedule 'adversarial': the generated images the student revisits"
    )
    student_updates: int = _field(
        2, "with schedule 'adversarial': student updates per generator update"
    )
    adversarial_weight: float = _field(
        1.0,
        "with schedule 'adversarial': the weight of the generator's term seeking "
        "the student's disagreements",
    )
    adversarial_start: int = _field(
        100, "with schedule 'adversarial': steps before the disagreement term starts"
    )
    student_batch_size: int | None = _field(
        None,
        "with schedule 'adversarial': pool images per student step (None: batch_size)",
    )
    student_augment: bool = _field(
        True, "with schedule 'adversarial': random flips and shifts of pool images"
    )
    student_mixup: bool = _field(
        False,
        "with schedule 'adversarial': mix each student image with another "
        "of its batch (mixup); the teachers label the mixed images",
    )

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"`schedule` must be one of {sorted(SCHEDULES)}. "
                f"Received: schedule={self.schedule!r}"
            )
        for name in (
            "check_finite",
            "resume",
            "augment",
            "student_augment",
            "student_mixup",
            "latent_targets",
            "use_filters",
            "block_wise",
            "fine_tune_heads",
        ):
            check_bool(getattr(self, name), name)
        for name in (
            "latent_dim",
            "batch_size",
            "gan_steps",
            "dual_steps",
            "filter_reduction",
            "convs_per_block",
            "alternate_steps",
            "pool_size",
            "student_updates",
            "checkpoint_steps",
        ):
            check_int(getattr(self, name), name, 1)
        if self.checkpoint_dir is not None and not isinstance(
            self.checkpoint_dir, (str, os.PathLike)
        ):
            raise ValueError(
                "`checkpoint_dir` must be a directory path or None. "
                f"Received: checkpoint_dir={self.checkpoint_dir!r}"
            )
        if self.resume and self.checkpoint_dir is None:
            raise ValueError(
                "`resume=True` needs a `checkpoint_dir` to resume from. "
                "Received: checkpoint_dir=None"
            )
        check_int(self.seed, "seed", 0)
        check_int(self.adversarial_start, "adversarial_start", 0)
        if self.student_batch_size is not None:
            check_int(self.student_batch_size, "student_batch_size", 1)
        check_float(
            self.adversarial_weight, "adversarial_weight", 0.0, maximum=MAX_LOSS_WEIGHT
        )
        if self.schedule == "adversarial" and self.dual_steps < self.gan_steps:
            raise ValueError(
                "With schedule='adversarial' every generator step is also a "
                "student step, so `dual_steps` must be at least `gan_steps`. "
                f"Received: gan_steps={self.gan_steps}, dual_steps={self.dual_steps}"
            )
        if self.schedule == "adversarial" and self.block_wise:
            raise ValueError(
                "With schedule='adversarial' the student learns end to end from "
                "pool images: `block_wise` must be False. Received: block_wise=True"
            )
        if self.student_learning_rate_decay not in LEARNING_RATE_DECAYS:
            raise ValueError(
                "`student_learning_rate_decay` must be one of "
                f"{list(LEARNING_RATE_DECAYS)}. Received: "
                f"student_learning_rate_decay={self.student_learning_rate_decay!r}"
            )
        if self.jit_compile not in ("auto", True, False):
            raise ValueError(
                "`jit_compile` must be 'auto', True or False. "
                f"Received: jit_compile={self.jit_compile!r}"
            )
        if self.verbose not in (0, 1, 2):
            raise ValueError(
                f"`verbose` must be 0, 1 or 2. Received: verbose={self.verbose!r}"
            )
        for name in (
            "learning_rate",
            "feature_width_multiplier",
            "hidden_width_multiplier",
            "temperature",
            "latent_target_sharpness",
        ):
            check_float(getattr(self, name), name, 0, exclusive=True)
        # Names and dicts of weights, checked as AmalgamGAN will.
        resolve_loss_weights(self.loss_weights)
        self.stream_weights = tuple(
            check_weights(self.stream_weights, "stream_weights", 2)
        )
        if sum(self.stream_weights) <= 0:
            raise ValueError(
                "`stream_weights` must be two non-negative numbers, not both 0. "
                f"Received: stream_weights={self.stream_weights}"
            )
        if self.teacher_weights is not None:
            self.teacher_weights = check_weights(
                self.teacher_weights, "teacher_weights"
            )
        if self.feature_widths is not None:
            for i, width in enumerate(check_widths(self.feature_widths)):
                check_int(width, f"feature_widths[{i}]", 1)
        check_max_feature_width(self.max_feature_width)
        if self.balanced_latents is not None:
            check_int(self.balanced_latents, "balanced_latents", 1)
        if self.hard_latents is not None:
            check_int(self.hard_latents, "hard_latents", 1)
            if not self.uses_balanced_latents:
                raise ValueError(
                    "`hard_latents` adds to the class-balanced vectors; give "
                    "`balanced_latents` or `balance_task` too. Received: "
                    f"balanced_latents=None, hard_latents={self.hard_latents}"
                )
        if self.uses_balanced_latents and self.schedule != "sequential":
            raise ValueError(
                "Class-balanced latent vectors need the trained generator, so "
                "they need schedule='sequential'. Received: "
                f"schedule={self.schedule!r}, "
                f"balanced_latents={self.balanced_latents}, "
                f"balance_task={self.balance_task!r}"
            )

    @property
    def uses_balanced_latents(self):
        """Whether stage 2 trains on class-balanced latent vectors."""
        return self.balanced_latents is not None or self.balance_task is not None

    def balanced_latent_count(self):
        """The number of class-balanced vectors (None: plain noise)."""
        if self.balanced_latents is not None:
            return self.balanced_latents
        if self.balance_task is not None:
            return min(BALANCED_LATENTS, self.dual_steps * self.batch_size)
        return None

    @classmethod
    def from_preset(cls, name, **overrides):
        """A named complete configuration, with optional field overrides.

        Args:
            name: a name of `PRESETS`: `"default"` (the library's
                defaults: adversarial amalgamation with a pool, see
                `AdversarialAmalgamation`), `"paper"` (exactly the paper's
                recipe: stage 1 then stage 2, its losses, no augmentation,
                block-wise training on two streams, the teachers' heads as
                they are) or `"sequential"` (stage 1 then stage 2 with the
                library's loss weights and augmentation).
            **overrides: fields to change.

        Returns:
            An `AmalgamationConfig`.
        """
        if name not in PRESETS:
            raise ValueError(
                f"`name` must be one of {sorted(PRESETS)}. Received: name={name!r}"
            )
        return cls(**{**PRESETS[name], **overrides})

    def replace(self, **changes):
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        """The fields as a JSON-ready dict."""
        values = dataclasses.asdict(self)
        values["stream_weights"] = list(self.stream_weights)
        return values

    @classmethod
    def from_dict(cls, values):
        """The inverse of `to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"Unknown AmalgamationConfig fields {unknown}; expected keys "
                f"among {sorted(names)}."
            )
        return cls(**values)

    def student_learning_rate(self, updates):
        """The student's learning rate over `updates` optimizer updates: a
        float, or a `keras.optimizers.schedules.CosineDecay` with
        `student_learning_rate_decay="cosine"`."""
        if self.student_learning_rate_decay == "cosine":
            return keras.optimizers.schedules.CosineDecay(
                self.learning_rate, decay_steps=updates
            )
        return self.learning_rate

    def gan_options(self):
        """The `AmalgamGAN` arguments of this configuration."""
        return {
            "latent_dim": self.latent_dim,
            "feature_width_multiplier": self.feature_width_multiplier,
            "feature_widths": self.feature_widths,
            "max_feature_width": self.max_feature_width,
            "loss_weights": self.loss_weights,
            "augment": self.augment,
            "latent_targets": self.latent_targets,
            "latent_target_sharpness": self.latent_target_sharpness,
            "use_filters": self.use_filters,
            "filter_reduction": self.filter_reduction,
        }

    def dual_options(self):
        """The `DualGenerator` arguments of this configuration."""
        return {
            "convs_per_block": self.convs_per_block,
            "hidden_width_multiplier": self.hidden_width_multiplier,
            "stream_weights": self.stream_weights,
            "block_wise": self.block_wise,
            "temperature": self.temperature,
            "teacher_weights": self.teacher_weights,
            "fine_tune_heads": self.fine_tune_heads,
        }


# The fields whose default is the adversarial recipe's rather than the
# trainers' own constructor default (those stay the paper's).
RECIPE_DEFAULTS = {
    "loss_weights": "adversarial",
    "latent_targets": True,
    "block_wise": False,
    "hidden_width_multiplier": 0.5,
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


def type_name(kind):
    """`int`, `float | None`, ...: a config field's type as text."""
    return getattr(kind, "__name__", None) or str(kind)


def parse_field(name, text):
    """Parses the text of a command-line value of config field `name`.

    Args:
        name: a field of `AmalgamationConfig`.
        text: its value as text: numbers, `true`/`false`, `none`, a
            comma-separated list (`stream_weights`, `feature_widths`,
            `teacher_weights`) or JSON (`loss_weights` as a dict).

    Returns:
        The value, of the field's type.
    """
    fields = {f.name: f for f in dataclasses.fields(AmalgamationConfig)}
    if name not in fields:
        raise ValueError(
            f"Unknown AmalgamationConfig field {name!r}; expected one of "
            f"{sorted(fields)}."
        )
    kind = type_name(fields[name].type)
    text = text.strip()
    if text.lower() == "none" and "None" in kind:
        return None
    try:
        if kind.startswith(("tuple", "list")):
            return [float(v) for v in text.split(",")]
        if kind.startswith("str | dict"):
            return json.loads(text) if text.startswith("{") else text
        if kind == "str | bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
    except ValueError:
        raise ValueError(
            f"`{name}` expects a value of type {kind}. Received: {text!r}"
        ) from None
    return text


@dataclasses.dataclass
class AmalgamationResult:
    """What `amalgamate` returns.

    Attributes:
        gan: the trained `AmalgamGAN`.
        dual: the trained `DualGenerator`.
        target_net: the `TargetNet` regrouped from `dual`.
        timings: `{"amalgam_gan_s": ..., "dual_generator_s": ..., ...}`, wall
            seconds of each part (`balanced_latents_s`, `hard_latents_s`
            when they ran).
        histories: `{stage: [History, ...]}`, one `History` per `fit()`
            call, the stages `amalgam_gan` and `dual_generator`, or
            `adversarial_amalgamation` for that schedule.
        steps: `{stage: training steps}`, with the stages of `histories`.
        config: the `AmalgamationConfig` that ran.
    """

    gan: AmalgamGAN
    dual: DualGenerator
    target_net: TargetNet
    timings: dict
    histories: dict
    steps: dict
    config: AmalgamationConfig

    def steps_per_second(self):
        """`{stage: training steps per wall second}`."""
        return {
            stage: count / self.timings[f"{stage}_s"]
            for stage, count in self.steps.items()
        }


def amalgamate(teachers, target_labels, config=None, callbacks=None, logdir=None):
    """Amalgamates teachers into a TargetNet for `target_labels`, data-free.

    Stage 1 trains an `AmalgamGAN` against the frozen teachers, stage 2 a
    `DualGenerator` on its samples, in the order `config.schedule` says;
    `TargetNet.from_dual` regroups the student. No data is used. The run
    starts with `keras.utils.set_random_seed(config.seed)`, so the same
    teachers, labels and config give the same TargetNet.

    Args:
        teachers: list of `keras_dfka.Teacher`.
        target_labels: list of label names (see `DualGenerator`).
        config: an `AmalgamationConfig` (default: `AmalgamationConfig()`).
        callbacks: optional list of Keras callbacks for every `fit()` call.
        logdir: optional directory for TensorBoard logs, one subdirectory
            per stage (`amalgam_gan/`, `dual_generator/`).

    Returns:
        An `AmalgamationResult`.

    Example:

    ```python
    result = keras_dfka.amalgamate(
        [hair, face], ["Smiling", "Blond_Hair"],
        keras_dfka.AmalgamationConfig(gan_steps=1500, dual_steps=1500),
    )
    result.target_net.save("target.keras")
    ```
    """
    config = AmalgamationConfig() if config is None else config
    if not isinstance(config, AmalgamationConfig):
        raise ValueError(
            "`config` must be a `keras_dfka.AmalgamationConfig` or None. "
            f"Received: {type(config).__name__}"
        )
    callbacks = list(callbacks or [])
    keras.utils.set_random_seed(config.seed)
    plan = LabelPlan.resolve(teachers, target_labels)
    if config.uses_balanced_latents:
        find_softmax_task(teachers, config.balance_task)  # Fails before training.
    checkpoint = None
    if config.checkpoint_dir is not None:
        checkpoint = RunCheckpoint(
            config.checkpoint_dir,
            config.checkpoint_steps,
            run_fingerprint(config, teachers, plan.target_labels),
            config.resume,
        )
    timings = {}
    histories = {}
    steps = {}
    segments = []

    def fit(model, data, stage, epoch=0, verbose=config.verbose):
        """One timed `fit()` epoch (number `epoch`) of `stage`, over the
        batches of `data` in order; the times and histories of a stage's
        calls add up. With a checkpoint: a segment of the run, skipped (its
        saved end state loaded) or continued where a resumed run left it."""
        segment = len(segments)
        segments.append(stage)
        offset = 0
        if checkpoint is not None:
            done = checkpoint.restore(segment, model)
            if done == "finished":
                return
            offset = done or 0
        stage_callbacks = list(callbacks)
        if logdir is not None:
            path = os.path.join(logdir, stage)
            stage_callbacks.append(keras.callbacks.TensorBoard(path))
        if checkpoint is not None:
            stage_callbacks.append(checkpoint.callback(segment, offset, len(data)))
        batches = OffsetDataset(data, offset) if offset else data
        t0 = time.time()
        history = model.fit(
            batches,
            initial_epoch=epoch,
            epochs=epoch + 1,
            shuffle=False,
            verbose=verbose,
            callbacks=stage_callbacks,
        )
        key = f"{stage}_s"
        timings[key] = timings.get(key, 0.0) + time.time() - t0
        histories.setdefault(stage, []).append(history)
        steps[stage] = steps.get(stage, 0) + len(batches)
        if checkpoint is not None:
            checkpoint.finish(segment, model)

    gan, dual = SCHEDULES[config.schedule](teachers, plan, config, fit, timings)
    target_net = TargetNet.from_dual(dual)
    if config.check_finite:
        raise_if_non_finite_weights(target_net, "The amalgamated TargetNet")
    return AmalgamationResult(
        gan=gan,
        dual=dual,
        target_net=target_net,
        timings=timings,
        histories=histories,
        steps=steps,
        config=config,
    )


def _build_gan(teachers, config):
    gan = AmalgamGAN(teachers, **config.gan_options())
    gan.compile(
        learning_rate=config.learning_rate,
        jit_compile=config.jit_compile,
        check_finite=config.check_finite,
    )
    return gan


def _build_dual(gan, plan, config):
    dual = DualGenerator(gan, plan, **config.dual_options())
    dual.compile(
        learning_rate=config.student_learning_rate(config.dual_steps),
        jit_compile=config.jit_compile,
        check_finite=config.check_finite,
    )
    return dual


def _train_sequential(teachers, plan, config, fit, timings):
    """Stage 1 for `gan_steps`, then stage 2 for `dual_steps`.

    Stage 2 draws fresh noise, or, with balanced vectors, trains on
    `AmalgamGAN.balanced_latents` reshuffled every pass; with `hard_latents`
    the first (larger) half of its steps is on the balanced vectors and the
    second on them and the student's hardest vectors (logged as the second
    epoch of one run).
    """
    gan = _build_gan(teachers, config)
    seed, batch_size = config.seed, config.batch_size
    noise = LatentNoise(config.latent_dim, batch_size, config.gan_steps, seed=seed)
    fit(gan, noise, "amalgam_gan")
    dual = _build_dual(gan, plan, config)
    first = config.dual_steps
    if config.hard_latents is not None:
        first = -(-first // 2)
    count = config.balanced_latent_count()
    if count is None:
        latents = LatentNoise(config.latent_dim, batch_size, first, seed=seed + 1)
    else:
        t0 = time.time()
        balanced = gan.balanced_latents(count, task=config.balance_task, seed=seed + 1)
        latents = LatentSet(balanced, batch_size, steps=first, seed=seed + 1)
        timings["balanced_latents_s"] = time.time() - t0
    fit(dual, latents, "dual_generator")
    if first < config.dual_steps:
        t0 = time.time()
        hard = dual.hard_latents(config.hard_latents, seed=seed + 2)
        timings["hard_latents_s"] = time.time() - t0
        latents = LatentSet(
            np.concatenate([balanced, hard]),
            batch_size,
            steps=config.dual_steps - first,
            seed=seed + 3,
        )
        fit(dual, latents, "dual_generator", epoch=1)
    return gan, dual


def _train_alternate(teachers, plan, config, fit, timings):
    """The two stages take turns every `alternate_steps` steps.

    The DAFL-style schedule: the student learns from the generator as it
    trains. Same total budget (`gan_steps`, `dual_steps`, each spread evenly
    over the rounds). The dual generator is built before the GAN trains, so
    its filters start from the GAN's initial filters (the sequential schedule
    copies trained ones); its frozen generator copy is refreshed before each
    of its turns. The turns' `fit()` calls print nothing.
    """
    gan = _build_gan(teachers, config)
    dual = _build_dual(gan, plan, config)
    gan_total, dual_total = config.gan_steps, config.dual_steps
    rounds = max(1, -(-max(gan_total, dual_total) // config.alternate_steps))

    def share(total, r):
        """Round `r`'s steps when `total` is spread evenly over the rounds."""
        return total * (r + 1) // rounds - total * r // rounds

    def turn(model, steps, seed, stage):
        noise = LatentNoise(config.latent_dim, config.batch_size, steps, seed=seed)
        fit(model, noise, stage, verbose=0)

    timings["amalgam_gan_s"] = timings["dual_generator_s"] = 0.0
    for r in range(rounds):
        steps = share(gan_total, r)
        if steps:
            turn(gan, steps, config.seed + 2 * r, "amalgam_gan")
        steps = share(dual_total, r)
        if steps:
            dual.generator.set_weights(gan.generator.get_weights())
            turn(dual, steps, config.seed + 1 + 2 * r, "dual_generator")
    return gan, dual


def _train_adversarial(teachers, plan, config, fit, timings):
    """Generator and student in turns, with a pool (`AdversarialAmalgamation`).

    `gan_steps` steps train both (the student on pool images), then
    `dual_steps - gan_steps` steps train the student alone on the final
    pool (logged as the second epoch of one run). Timed as
    `adversarial_amalgamation_s`.
    """
    gan = AmalgamGAN(teachers, seed=config.seed, **config.gan_options())
    dual = DualGenerator(gan, plan, **config.dual_options())
    trainer = AdversarialAmalgamation(
        gan,
        dual,
        pool_size=config.pool_size,
        student_batch_size=config.student_batch_size,
        student_updates=config.student_updates,
        student_augment=config.student_augment,
        student_mixup=config.student_mixup,
        adversarial_weight=config.adversarial_weight,
        adversarial_start=config.adversarial_start,
        seed=config.seed,
    )
    student_optimizer = "auto"
    if config.student_learning_rate_decay != "none":
        student_optimizer = default_optimizer(
            config.student_learning_rate(config.dual_steps * config.student_updates)
        )
    trainer.compile(
        student_optimizer=student_optimizer,
        learning_rate=config.learning_rate,
        jit_compile=config.jit_compile,
        check_finite=config.check_finite,
    )
    noise = LatentNoise(
        config.latent_dim, config.batch_size, config.gan_steps, seed=config.seed
    )
    fit(trainer, noise, "adversarial_amalgamation")
    extra = config.dual_steps - config.gan_steps
    if extra:
        trainer.set_generator_training(False)
        noise = LatentNoise(
            config.latent_dim, config.batch_size, extra, seed=config.seed + 1
        )
        fit(trainer, noise, "adversarial_amalgamation", epoch=1)
    return gan, dual


# schedule name -> trainer(teachers, plan, config, fit, timings) -> (gan, dual)
SCHEDULES = {
    "sequential": _train_sequential,
    "alternate": _train_alternate,
    "adversarial": _train_adversarial,
}
