"""`AmalgamGAN`: stage 1, the group-stack GAN with teachers as discriminators."""

import keras
import numpy as np
from keras import ops

from keras_dfka import losses
from keras_dfka.backend import Trainer
from keras_dfka.datasets.latent_noise import draw_latents
from keras_dfka.layers.feature_filter import FeatureFilter
from keras_dfka.models.group_stack_generator import DEFAULT_MAX_FEATURE_WIDTH
from keras_dfka.models.group_stack_generator import build_group_stack_generator
from keras_dfka.models.group_stack_generator import check_max_feature_width
from keras_dfka.models.group_stack_generator import shared_level_shapes
from keras_dfka.trainers.compile_utils import DEFAULT_LEARNING_RATE
from keras_dfka.trainers.latent_selection import balanced_latents
from keras_dfka.trainers.latent_selection import find_softmax_task
from keras_dfka.trainers.loss_weights import LOSS_TERMS
from keras_dfka.trainers.loss_weights import LOSS_WEIGHTS
from keras_dfka.trainers.loss_weights import resolve_loss_weights
from keras_dfka.trainers.teacher_checks import validate_teachers
from keras_dfka.trainers.teacher_checks import warn_teachers_without_batch_norm
from keras_dfka.utils.model_utils import as_list
from keras_dfka.utils.model_utils import map_batches
from keras_dfka.utils.model_utils import random_flip_and_shift
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_int


@keras.saving.register_keras_serializable(package="keras_dfka")
class AmalgamGAN(Trainer, keras.Model):
    """Stage 1: a group-stack generator trained against frozen teachers.

    The generator `G = G^1..G^B` synthesizes, from noise `z`, the shared
    features of levels `B, B-1, ..., 2` and finally the image (level 1). The
    frozen teachers are the discriminators: each level-`l` feature passes
    through a teacher-level filter `f_m^l` and the teacher's blocks `l..B` and
    head. Pseudocode of one step (Eqs. 5-11):

    ```
    image, F^2..F^B = G(z)
    O(image) = concat_m H_m(A_m(image))                      # Eq. 10
    L_gan = oh * L_oh + activation * L_a + information_entropy * L_ie
            + discrete * L_dis [+ batch_norm * L_bn + total_variation * L_tv]
    L_joint = L_gan + intermediate / (B - 1)
              * sum_{l=2..B} CE(O(f^l(F^l)), stop_gradient(O(image)))  # Eq. 11
    ```

    Only the generator and the filters learn; there is no max step.

    Args:
        teachers: list of `keras_dfka.Teacher`, all with the same number of
            blocks `B` and input shape.
        latent_dim: int > 0, the width of `z`.
        feature_width_multiplier: float > 0, the widths of the shared feature
            space (shared by the generator, the student trunk and the
            TargetNet) are the teachers' widths times this (see
            `shared_level_shapes`): this sets the compression.
        feature_widths: optional list of `B` ints overriding the shared widths
            of levels `2..B+1`.
        max_feature_width: int >= 8 or None, the cap of the shared widths
            computed from `feature_width_multiplier` (default 256; see
            `shared_level_shapes`).
        loss_weights: `"default"` (the paper's losses plus the
            BatchNorm-statistics prior, without the activation term),
            `"paper"` (exactly the paper's losses), or a dict overriding some
            of the `"default"` weights; keys among `one_hot, activation,
            information_entropy, discrete, intermediate, batch_norm,
            total_variation` (`LOSS_WEIGHTS` holds the named ones).
        use_filters: bool; `False` replaces the filters' channel gates by the
            identity (only resizing / projection where shapes differ).
        filter_reduction: int, the squeeze ratio of the filters' gates.
        augment: bool or None (None: on, except with `loss_weights="paper"`,
            the paper's recipe, which does not augment). Beyond the paper,
            as in DeepInversion: the teachers judge the generated batch
            after a random horizontal flip and a random shift of up to 1/8
            of the image side (one draw per batch), so the generator cannot
            exploit pixel-exact patterns.
        latent_targets: bool. Beyond the paper: the one-hot term's targets
            are read from the noise (`losses.latent_label_targets`) instead
            of the teachers' own hard labels, so every sigmoid label is
            positive in half of the generated images, every softmax class is
            equally frequent, and a share of the images lies near each
            decision boundary. The first dimensions of `z` code the labels
            (one per sigmoid label, one per softmax class), so `latent_dim`
            must be at least their number.
        latent_target_sharpness: float > 0, how sharply the latent codes map
            to targets (`sigmoid(sharpness * z_j)`); smaller puts more
            targets near 0.5.
        seed: int or None, the seed of the augmentation's randomness.
        name: the model's name.

    Example:

    ```python
    gan = keras_dfka.AmalgamGAN([teacher_a, teacher_b], latent_dim=64)
    gan.compile()
    gan.fit(keras_dfka.datasets.LatentNoise(64, batch_size=64, steps=200))
    images = gan.generate(16)
    ```

    Reference:
        Ye, Ji, Wang, Gao, Song, "Data-Free Knowledge Amalgamation via
        Group-Stack Dual-GAN", CVPR 2020 (arXiv 2003.09088), Sec. 3.1.
    """

    _losses_source = "set by `loss_weights`"  # See `BaseTrainer.compile`.

    def __init__(
        self,
        teachers,
        latent_dim=100,
        feature_width_multiplier=0.5,
        feature_widths=None,
        max_feature_width=DEFAULT_MAX_FEATURE_WIDTH,
        loss_weights="default",
        use_filters=True,
        filter_reduction=4,
        augment=None,
        latent_targets=False,
        latent_target_sharpness=3.0,
        seed=None,
        name="amalgam_gan",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.teachers = validate_teachers(teachers)
        self._validate_feature_space(
            latent_dim, feature_width_multiplier, feature_widths, max_feature_width
        )
        self._validate_loss_weights(loss_weights, use_filters, filter_reduction)
        self._validate_augment(augment, loss_weights)
        self._validate_latent_targets(latent_targets, latent_target_sharpness)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        if self.loss_weights["batch_norm"] > 0:
            warn_teachers_without_batch_norm(
                self.teachers, self.loss_weights["batch_norm"]
            )
        self.num_blocks = self.teachers[0].num_blocks
        self.level_shapes = shared_level_shapes(
            self.teachers,
            self.feature_width_multiplier,
            self.feature_widths,
            self.max_feature_width,
        )
        self.generator = build_group_stack_generator(
            self.level_shapes, self.latent_dim, name=f"{self.name}_generator"
        )
        self.filters = self._build_filters()
        self.activations = [task.activation for t in self.teachers for task in t.tasks]
        self.priors = [prior for t in self.teachers for prior in t.task_priors()]
        if all(prior is None for prior in self.priors):
            self.priors = None
        self.loss_names = self._loss_names()
        if "intermediate" not in self.loss_names:
            # The filters only serve the intermediate term: freeze them.
            for row in self.filters:
                for layer in row:
                    layer.trainable = False
        self.built = True

    def _validate_feature_space(
        self, latent_dim, feature_width_multiplier, feature_widths, max_feature_width
    ):
        """The latent width and what sizes the shared feature space."""
        self.latent_dim = check_int(latent_dim, "latent_dim", 1)
        self.feature_width_multiplier = check_float(
            feature_width_multiplier, "feature_width_multiplier", 0, exclusive=True
        )
        self.feature_widths = None if feature_widths is None else list(feature_widths)
        self.max_feature_width = check_max_feature_width(max_feature_width)

    def _validate_loss_weights(self, loss_weights, use_filters, filter_reduction):
        """The weights of the loss terms, and the filters' options."""
        self.loss_weights = resolve_loss_weights(loss_weights)
        self._loss_weights_arg = (
            loss_weights if isinstance(loss_weights, str) else dict(loss_weights)
        )
        self.use_filters = check_bool(use_filters, "use_filters")
        self.filter_reduction = check_int(filter_reduction, "filter_reduction", 1)

    def _validate_augment(self, augment, loss_weights):
        """`None`: on, except with the paper's recipe, which does not augment."""
        augment = check_bool(augment, "augment", allow_none=True)
        if augment is None:
            augment = loss_weights != "paper"
        self.augment = bool(augment)

    def _validate_latent_targets(self, latent_targets, latent_target_sharpness):
        """The latent targets need a latent dimension per teacher label."""
        self.latent_targets = check_bool(latent_targets, "latent_targets")
        self.latent_target_sharpness = check_float(
            latent_target_sharpness, "latent_target_sharpness", 0.0, exclusive=True
        )
        self.task_widths = [task.num_labels for t in self.teachers for task in t.tasks]
        if self.latent_targets and self.latent_dim < sum(self.task_widths):
            raise ValueError(
                "With latent_targets=True the first latent dimensions code the "
                f"teachers' {sum(self.task_widths)} labels, so `latent_dim` must "
                f"be at least {sum(self.task_widths)}. Received: "
                f"latent_dim={self.latent_dim}"
            )

    def _build_filters(self):
        """`filters[m][l - 2]` maps shared level `l` to teacher `m`'s level `l`."""
        filters = []
        for m, teacher in enumerate(self.teachers):
            row = []
            for level in range(2, self.num_blocks + 1):
                layer = FeatureFilter(
                    teacher.level_shapes[level - 1],
                    reduction=self.filter_reduction,
                    gate=self.use_filters,
                    name=f"filter_{m}_{teacher.name}_level_{level}",
                )
                layer.build((None,) + self.level_shapes[level - 1])
                row.append(layer)
            filters.append(row)
        return filters

    def _loss_names(self):
        """`"loss"` and the logged terms: the paper's four always, the others
        when weighted (the intermediate term needs two blocks)."""
        names = ["loss"] + [
            term
            for term in LOSS_TERMS
            if self.loss_weights[term] > 0
            or term in ("one_hot", "activation", "information_entropy", "discrete")
        ]
        if self.num_blocks < 2:
            names = [name for name in names if name != "intermediate"]
        return names

    def call(self, z, training=False):
        return self.generator_outputs(z, training=training)[0]

    def compile(
        self,
        generator_optimizer="auto",
        filter_optimizer="auto",
        learning_rate=DEFAULT_LEARNING_RATE,
        jit_compile="auto",
        check_finite=True,
        **kwargs,
    ):
        """Configures training.

        Args:
            generator_optimizer: `"auto"` (Adam at `learning_rate`,
                `beta_1=0.5`) or a Keras optimizer (or its name).
            filter_optimizer: the same, for the teacher-level filters.
            learning_rate: float > 0 or a Keras learning rate schedule,
                the learning rate of the `"auto"` optimizers (default 1e-3).
            jit_compile: passed to `keras.Model.compile`.
            check_finite: bool; `True` (the default) makes `fit()` stop with a
                `keras_dfka.callbacks.NonFiniteError` at the first NaN or
                infinite loss (`keras_dfka.callbacks.TerminateOnNonFinite`).
            **kwargs: other `keras.Model.compile` arguments (`steps_per_execution`,
                `run_eagerly`, ...). `loss` and `metrics` are not used.
        """
        super().compile(
            generator_optimizer=generator_optimizer,
            filter_optimizer=filter_optimizer,
            learning_rate=learning_rate,
            jit_compile=jit_compile,
            check_finite=check_finite,
            **kwargs,
        )

    def optimizer_groups(self):
        """The generator's optimizer, and the teacher-level filters'."""
        return {"generator_optimizer": None, "filter_optimizer": "filter_.*"}

    def generator_outputs(self, z, training=False):
        """Returns `[image, F^2, ..., F^B]` for latent batch `z`."""
        return as_list(self.generator(z, training=training))

    def prediction_union(self, images):
        """`O_g(image)`: every teacher's per-task probabilities, concatenated
        as one list over all tasks."""
        predictions = []
        for teacher in self.teachers:
            predictions.extend(teacher.image_pass(images)[0])
        return predictions

    def compute_step_loss(self, z, training=False):
        """The joint loss of one batch (Eq. 11) and its named terms."""
        loss, logs, _ = self.compute_step_terms(z, training=training)
        return loss, logs

    def compute_step_terms(self, z, training=False):
        """`compute_step_loss` with what other trainers reuse.

        Returns:
            `(loss, logs, context)`, `context` a dict: `"images"` (the
            generated images), `"seen_images"` (the images the teachers
            judged: augmented when training), `"probabilities"` (per
            teacher, its list of per-task probabilities on them).
        """
        weights = self.loss_weights
        outputs = self.generator_outputs(z, training=training)
        images = outputs[0]
        seen = images
        if self.augment and training:
            seen = self.random_flip_and_shift(images)
        predictions, head_features, by_teacher = [], [], []
        bn_terms = []
        for teacher in self.teachers:
            probabilities, features, bn_inputs = teacher.image_pass(seen)
            predictions.extend(probabilities)
            by_teacher.append(probabilities)
            head_features.append(features[-1])
            if weights["batch_norm"] > 0:
                bn_terms.append(
                    losses.batch_norm_statistics_loss(
                        bn_inputs, teacher.batch_norm_layers
                    )
                )
        targets = None
        if self.latent_targets:
            targets = losses.latent_label_targets(
                z, self.activations, self.task_widths, self.latent_target_sharpness
            )
        terms = {
            "one_hot": losses.one_hot_loss(predictions, self.activations, targets),
            "activation": losses.activation_loss(head_features),
            "information_entropy": losses.information_entropy_loss(
                predictions, self.activations, self.priors
            ),
            "discrete": losses.discrete_loss(predictions, self.activations),
        }
        if weights["batch_norm"] > 0:
            terms["batch_norm"] = sum(bn_terms) / len(bn_terms)
        if weights["total_variation"] > 0:
            terms["total_variation"] = losses.total_variation_loss(seen)
        if self.num_blocks > 1 and "intermediate" in self.loss_names:
            level_targets = [ops.stop_gradient(p) for p in predictions]
            intermediate = 0.0
            for level in range(2, self.num_blocks + 1):
                level_predictions = []
                for m, teacher in enumerate(self.teachers):
                    filtered = self.filters[m][level - 2](outputs[level - 1])
                    level_predictions.extend(teacher.from_level(filtered, level))
                intermediate = intermediate + losses.soft_cross_entropy(
                    level_predictions, level_targets, self.activations
                )
            terms["intermediate"] = intermediate / (self.num_blocks - 1)
        loss = 0.0
        for term, value in terms.items():
            if weights[term] > 0:
                loss = loss + weights[term] * value
        logs = {"loss": loss}
        logs.update({name: terms[name] for name in self.loss_names if name != "loss"})
        context = {"images": images, "seen_images": seen, "probabilities": by_teacher}
        return loss, logs, context

    def random_flip_and_shift(self, images):
        """A random horizontal flip and a random circular shift of the batch
        (`keras_dfka.utils.random_flip_and_shift` with this model's seed)."""
        return random_flip_and_shift(images, self.seed_generator)

    def generate(
        self, num_samples=None, z=None, batch_size=64, seed=0, return_features=False
    ):
        """Generates images (and optionally the intermediate features).

        Args:
            num_samples: int, how many samples to draw from `N(0, 1)`
                (ignored when `z` is given).
            z: optional latent array `(n, latent_dim)`.
            batch_size: int, the batch size of the generator calls.
            seed: int, the seed of the drawn noise.
            return_features: bool; if True also return `[F^2, ..., F^B]`.

        Returns:
            A float32 numpy array `(n, height, width, channels)` in `[0, 1]`,
            or `(images, features)` with `return_features=True`.
        """
        batch_size = check_int(batch_size, "batch_size", 1)
        if z is None:
            if num_samples is None:
                raise ValueError(
                    "Give `num_samples` (a positive integer) or `z`. Received "
                    f"num_samples={num_samples!r} and z=None"
                )
            num_samples = check_int(num_samples, "num_samples", 1)
            z = draw_latents(num_samples, self.latent_dim, seed)
        z = np.asarray(z, dtype="float32")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"`z` must have shape (n, {self.latent_dim}). Received shape {z.shape}"
            )
        merged = map_batches(self.generator_outputs, z, batch_size)
        # float32 also under a mixed precision policy (bfloat16 or float16
        # activations).
        merged = [np.asarray(m, dtype="float32") for m in merged]
        if return_features:
            return merged[0], merged[1:]
        return merged[0]

    def find_softmax_task(self, task=None):
        """Finds a softmax task of the teachers by name (see
        `find_softmax_task`)."""
        return find_softmax_task(self.teachers, task)

    def balanced_latents(
        self, num_samples, task=None, pool_factor=4, seed=0, batch_size=256
    ):
        """Latent vectors whose images the teachers spread evenly over classes.

        Stage 1 leaves some classes rare among the generated images (on MNIST
        the 8s and 9s). This draws `pool_factor * num_samples` vectors from
        `N(0, 1)`, labels each image with the arg-max of one softmax task of
        the teachers, and keeps the same number of vectors of every class.
        Feed the result to `DualGenerator.fit()` (an array: it is shuffled
        every epoch) or to `generate(z=...)`. No data is needed: the labels
        are the teachers' own predictions on generated images.

        A class with fewer vectors in the pool than its share is drawn with
        repetition; a class with none is left out (its share goes to the
        others) with a warning that names it.

        Args:
            num_samples: int >= 1, how many vectors to return.
            task: the name of a softmax task of the teachers; `None` picks the
                only one (an error if there are several or none).
            pool_factor: int >= 1, the pool is this many times `num_samples`.
            seed: int, the seed of the drawn pool and of the selection.
            batch_size: int >= 1, the batch size of the generator and teacher
                calls.

        Returns:
            A float32 array `(num_samples, latent_dim)`, in random order.
        """
        return balanced_latents(self, num_samples, task, pool_factor, seed, batch_size)

    def get_config(self):
        return {
            "name": self.name,
            "teachers": [keras.saving.serialize_keras_object(t) for t in self.teachers],
            "latent_dim": self.latent_dim,
            "feature_width_multiplier": self.feature_width_multiplier,
            "feature_widths": self.feature_widths,
            "max_feature_width": self.max_feature_width,
            "loss_weights": self._loss_weights_arg,
            "use_filters": self.use_filters,
            "filter_reduction": self.filter_reduction,
            "augment": self.augment,
            "latent_targets": self.latent_targets,
            "latent_target_sharpness": self.latent_target_sharpness,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Configs saved before the rename: `width_multiplier`, and `preset`
        # with `loss_weights` overriding it.
        if "width_multiplier" in config:
            config["feature_width_multiplier"] = config.pop("width_multiplier")
        if "preset" in config:
            preset, overrides = config.pop("preset"), config.get("loss_weights")
            config["loss_weights"] = (
                {**LOSS_WEIGHTS[preset], **overrides} if overrides else preset
            )
        config["teachers"] = [
            keras.saving.deserialize_keras_object(t) for t in config["teachers"]
        ]
        return cls(**config)
