"""`AmalgamationConfig`: every default of the data-free path, in one place.

A field passed to a trainer takes the default of the trainer's argument
(`default_of`) or, where the library's recipe departs from it, of
`RECIPE_DEFAULTS`, so each default is written once. Each field is checked
once, when the config is made, by the `_validate_*` method of its concern;
the errors are `ArgumentError`s whose `argument` names the field.

About 500 lines: one dataclass whose fields carry their help text (the
command line's options are made from them) and their checks.
"""

import dataclasses
import inspect
import os

import keras

from keras_dfka.amalgamation.presets import PRESETS
from keras_dfka.amalgamation.presets import RECIPE_DEFAULTS
from keras_dfka.amalgamation.schedules import SCHEDULES
from keras_dfka.models.group_stack_generator import check_max_feature_width
from keras_dfka.trainers.adversarial_amalgamation import AdversarialAmalgamation
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.amalgam_gan import resolve_loss_weights
from keras_dfka.trainers.compile_utils import DEFAULT_LEARNING_RATE
from keras_dfka.trainers.dual_generator import DualGenerator
from keras_dfka.utils.validation import MAX_LOSS_WEIGHT
from keras_dfka.utils.validation import ArgumentError
from keras_dfka.utils.validation import argument_errors
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_int
from keras_dfka.utils.validation import check_one_of
from keras_dfka.utils.validation import check_stream_weights
from keras_dfka.utils.validation import check_weights
from keras_dfka.utils.validation import check_widths

# The values of `AmalgamationConfig.student_learning_rate_decay`.
LEARNING_RATE_DECAYS = ("none", "cosine")

# The largest default number of class-balanced latent vectors.
BALANCED_LATENTS = 32000


def default_of(function, argument):
    """The default value of `argument` of `function` (of a class: of its
    constructor), the object itself.

    Example:

    ```python
    default_of(keras_dfka.AdversarialAmalgamation, "pool_size")  # 20000
    ```
    """
    target = function.__init__ if isinstance(function, type) else function
    parameter = inspect.signature(target).parameters.get(argument)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        raise ValueError(
            f"{getattr(function, '__qualname__', function)} has no argument "
            f"`{argument}` with a default."
        )
    return parameter.default


def _field(default, help, trainer=None):
    """A config field with its help text (read by the command line) and,
    for a field passed to a trainer, that trainer."""
    return dataclasses.field(
        default=default, metadata={"help": help, "trainer": trainer}
    )


def _argument_of(trainer):
    """`field(name, help)`: a field passed to `trainer`'s argument `name`,
    whose default is `RECIPE_DEFAULTS[name]` for the few where the library's
    recipe departs from the constructor, else the constructor's own."""

    def field(name, help):
        default = RECIPE_DEFAULTS.get(name, dataclasses.MISSING)
        if default is dataclasses.MISSING:
            default = default_of(trainer, name)
        return _field(default, help, trainer)

    return field


_gan_argument = _argument_of(AmalgamGAN)
_dual_argument = _argument_of(DualGenerator)
_adversarial_argument = _argument_of(AdversarialAmalgamation)


@dataclasses.dataclass
class AmalgamationConfig:
    """Every default of data-free amalgamation, in one place.

    The fields are grouped by what they configure. Names follow the classes
    they reach: `AmalgamGAN(...)` for stage 1, `DualGenerator(...)` for stage
    2, `AdversarialAmalgamation(...)` for the adversarial schedule, whose
    constructor defaults they share (but for `RECIPE_DEFAULTS`). Named
    complete configurations: `AmalgamationConfig.from_preset(name)` with a
    name of `PRESETS` (`"default"`, `"paper"`, `"sequential"`). A bad value
    raises a `keras_dfka.utils.validation.ArgumentError` (a `ValueError`)
    whose `argument` is the field's name.

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
    latent_dim: int = _gan_argument(
        "latent_dim", "the width of the generator's noise input"
    )
    batch_size: int = _field(64, "the batch size of both stages")
    learning_rate: float = _field(
        DEFAULT_LEARNING_RATE, "Adam's learning rate, both stages"
    )
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
    feature_width_multiplier: float = _gan_argument(
        "feature_width_multiplier",
        "the shared feature widths (the student's) relative to the teachers'",
    )
    feature_widths: list | None = _gan_argument(
        "feature_widths",
        "explicit shared widths of levels 2..B+1 (overrides the multiplier)",
    )
    max_feature_width: int | None = _gan_argument(
        "max_feature_width",
        "the cap of the shared widths computed from the multiplier (wide "
        "teachers such as ResNet50)",
    )
    loss_weights: str | dict = _gan_argument(
        "loss_weights",
        "AmalgamGAN loss weights: 'adversarial', 'default', 'paper' or a JSON dict",
    )
    augment: bool = _gan_argument(
        "augment", "random flips and shifts of generated images"
    )
    latent_targets: bool = _gan_argument(
        "latent_targets",
        "label targets read from the noise, balanced per label (beyond the paper)",
    )
    latent_target_sharpness: float = _gan_argument(
        "latent_target_sharpness",
        "with latent_targets: smaller puts more targets near 0.5",
    )
    use_filters: bool = _gan_argument(
        "use_filters", "channel gates in the teacher-level filters"
    )
    filter_reduction: int = _gan_argument(
        "filter_reduction", "the squeeze ratio of the filters' gates"
    )
    # Stage 2: DualGenerator.
    dual_steps: int = _field(
        3600,
        "DualGenerator training steps (schedule 'adversarial': the first "
        "gan_steps of them alongside the generator, the rest on the final pool)",
    )
    block_wise: bool = _dual_argument(
        "block_wise",
        "train the student block by block (the paper) or end to end",
    )
    stream_weights: tuple = _dual_argument(
        "stream_weights",
        "the weights of the student and generator input streams",
    )
    convs_per_block: int = _dual_argument(
        "convs_per_block", "convolutions per default student block"
    )
    hidden_width_multiplier: float = _dual_argument(
        "hidden_width_multiplier",
        "the width of a student block's inner convolutions",
    )
    min_hidden_width: int = _dual_argument(
        "min_hidden_width",
        "the smallest width of a student block's inner convolutions",
    )
    fine_tune_heads: bool = _dual_argument(
        "fine_tune_heads",
        "trainable copies of the teachers' heads in the student",
    )
    temperature: float = _dual_argument("temperature", "the distillation temperature")
    teacher_weights: list | None = _dual_argument(
        "teacher_weights",
        "one loss weight per teacher, comma-separated (None: all 1)",
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
    pool_size: int = _adversarial_argument(
        "pool_size",
        "with schedule 'adversarial': the generated images the student revisits",
    )
    student_updates: int = _adversarial_argument(
        "student_updates",
        "with schedule 'adversarial': student updates per generator update",
    )
    adversarial_weight: float = _adversarial_argument(
        "adversarial_weight",
        "with schedule 'adversarial': the weight of the generator's term seeking "
        "the student's disagreements",
    )
    adversarial_start: int = _adversarial_argument(
        "adversarial_start",
        "with schedule 'adversarial': steps before the disagreement term starts",
    )
    student_batch_size: int | None = _adversarial_argument(
        "student_batch_size",
        "with schedule 'adversarial': pool images per student step (None: batch_size)",
    )
    student_augment: bool = _adversarial_argument(
        "student_augment",
        "with schedule 'adversarial': random flips and shifts of pool images",
    )
    student_mixup: bool = _adversarial_argument(
        "student_mixup",
        "with schedule 'adversarial': mix each student image with another "
        "of its batch (mixup); the teachers label the mixed images",
    )

    def __post_init__(self):
        self._validate_run()
        self._validate_checkpoints()
        self._validate_generator()
        self._validate_student()
        self._validate_latents()
        self._validate_alternate()
        self._validate_adversarial()

    # -------------------------------------------------------------- checks
    def _validate_run(self):
        """The schedule and what every stage shares."""
        check_one_of(self.schedule, "schedule", sorted(SCHEDULES))
        check_int(self.seed, "seed", 0)
        check_int(self.batch_size, "batch_size", 1)
        check_float(self.learning_rate, "learning_rate", 0, exclusive=True)
        check_one_of(
            self.student_learning_rate_decay,
            "student_learning_rate_decay",
            LEARNING_RATE_DECAYS,
        )
        check_one_of(self.verbose, "verbose", (0, 1, 2), "0, 1 or 2")
        check_one_of(
            self.jit_compile,
            "jit_compile",
            ("auto", True, False),
            "'auto', True or False",
        )
        check_bool(self.check_finite, "check_finite")

    def _validate_checkpoints(self):
        check_bool(self.resume, "resume")
        check_int(self.checkpoint_steps, "checkpoint_steps", 1)
        if self.checkpoint_dir is not None and not isinstance(
            self.checkpoint_dir, (str, os.PathLike)
        ):
            raise ArgumentError(
                "`checkpoint_dir` must be a directory path or None. "
                f"Received: checkpoint_dir={self.checkpoint_dir!r}",
                "checkpoint_dir",
            )
        if self.resume and self.checkpoint_dir is None:
            raise ArgumentError(
                "`resume=True` needs a `checkpoint_dir` to resume from. "
                "Received: checkpoint_dir=None",
                "resume",
            )

    def _validate_generator(self):
        """Stage 1: the arguments of `AmalgamGAN`, checked as it will."""
        check_int(self.gan_steps, "gan_steps", 1)
        check_int(self.latent_dim, "latent_dim", 1)
        check_float(
            self.feature_width_multiplier, "feature_width_multiplier", 0, exclusive=True
        )
        if self.feature_widths is not None:
            check_widths(self.feature_widths, "feature_widths", minimum=1)
        with argument_errors("max_feature_width"):
            check_max_feature_width(self.max_feature_width)
        with argument_errors("loss_weights"):
            resolve_loss_weights(self.loss_weights)
        for name in ("augment", "latent_targets", "use_filters"):
            check_bool(getattr(self, name), name)
        check_float(
            self.latent_target_sharpness, "latent_target_sharpness", 0, exclusive=True
        )
        check_int(self.filter_reduction, "filter_reduction", 1)

    def _validate_student(self):
        """Stage 2: the arguments of `DualGenerator`."""
        check_int(self.dual_steps, "dual_steps", 1)
        check_int(self.convs_per_block, "convs_per_block", 1)
        check_int(self.min_hidden_width, "min_hidden_width", 1)
        check_float(
            self.hidden_width_multiplier, "hidden_width_multiplier", 0, exclusive=True
        )
        self.stream_weights = check_stream_weights(self.stream_weights)
        for name in ("block_wise", "fine_tune_heads"):
            check_bool(getattr(self, name), name)
        check_float(self.temperature, "temperature", 0, exclusive=True)
        if self.teacher_weights is not None:
            self.teacher_weights = check_weights(
                self.teacher_weights, "teacher_weights"
            )

    def _validate_latents(self):
        """The class-balanced (and hard) latent vectors of stage 2, which
        need the trained generator of the sequential schedule."""
        if self.balance_task is not None and not isinstance(self.balance_task, str):
            raise ArgumentError(
                "`balance_task` must be the name of a softmax task or None. "
                f"Received: balance_task={self.balance_task!r}",
                "balance_task",
            )
        if self.balanced_latents is not None:
            check_int(self.balanced_latents, "balanced_latents", 1)
        if self.hard_latents is not None:
            check_int(self.hard_latents, "hard_latents", 1)
            if not self.uses_balanced_latents:
                raise ArgumentError(
                    "`hard_latents` adds to the class-balanced vectors; give "
                    "`balanced_latents` or `balance_task` too. Received: "
                    f"balanced_latents=None, hard_latents={self.hard_latents}",
                    "hard_latents",
                )
        if self.uses_balanced_latents and self.schedule != "sequential":
            raise ArgumentError(
                "Class-balanced latent vectors need the trained generator, so "
                "they need schedule='sequential'. Received: "
                f"schedule={self.schedule!r}, "
                f"balanced_latents={self.balanced_latents}, "
                f"balance_task={self.balance_task!r}",
                "balance_task" if self.balance_task is not None else "balanced_latents",
            )

    def _validate_alternate(self):
        check_int(self.alternate_steps, "alternate_steps", 1)

    def _validate_adversarial(self):
        """The arguments of `AdversarialAmalgamation`, and what its schedule
        needs of the stages."""
        check_int(self.pool_size, "pool_size", 1)
        check_int(self.student_updates, "student_updates", 1)
        check_float(
            self.adversarial_weight, "adversarial_weight", 0.0, maximum=MAX_LOSS_WEIGHT
        )
        check_int(self.adversarial_start, "adversarial_start", 0)
        if self.student_batch_size is not None:
            check_int(self.student_batch_size, "student_batch_size", 1)
        for name in ("student_augment", "student_mixup"):
            check_bool(getattr(self, name), name)
        if self.schedule != "adversarial":
            return
        if self.dual_steps < self.gan_steps:
            raise ArgumentError(
                "With schedule='adversarial' every generator step is also a "
                "student step, so `dual_steps` must be at least `gan_steps`. "
                f"Received: gan_steps={self.gan_steps}, dual_steps={self.dual_steps}",
                "dual_steps",
            )
        if self.block_wise:
            raise ArgumentError(
                "With schedule='adversarial' the student learns end to end from "
                "pool images: `block_wise` must be False. Received: block_wise=True",
                "block_wise",
            )

    # ------------------------------------------------------------- queries
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
        check_one_of(name, "name", sorted(PRESETS))
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

    def options(self, trainer):
        """The arguments of `trainer` (`AmalgamGAN`, `DualGenerator` or
        `AdversarialAmalgamation`) in this configuration: its fields."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.metadata["trainer"] is trainer
        }

    def gan_options(self):
        """The `AmalgamGAN` arguments of this configuration."""
        return self.options(AmalgamGAN)

    def dual_options(self):
        """The `DualGenerator` arguments of this configuration."""
        return self.options(DualGenerator)
