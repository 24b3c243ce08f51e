"""`AdversarialAmalgamation`: generator and student trained in turns."""

import keras
from keras import ops

from keras_dfka import losses
from keras_dfka.backend import Trainer
from keras_dfka.layers.sample_pool import SamplePool
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.compile_utils import DEFAULT_LEARNING_RATE
from keras_dfka.trainers.dual_generator import DualGenerator
from keras_dfka.utils.model_utils import random_flip_and_shift
from keras_dfka.utils.model_utils import random_mixup
from keras_dfka.utils.validation import MAX_LOSS_WEIGHT
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_int


def _validate_models(amalgam_gan, dual_generator):
    """An AmalgamGAN and an end-to-end DualGenerator built from it."""
    if not isinstance(amalgam_gan, AmalgamGAN):
        raise ValueError(
            "`amalgam_gan` must be a `keras_dfka.AmalgamGAN`. Received: "
            f"{type(amalgam_gan).__name__}"
        )
    if not isinstance(dual_generator, DualGenerator):
        raise ValueError(
            "`dual_generator` must be a `keras_dfka.DualGenerator`. "
            f"Received: {type(dual_generator).__name__}"
        )
    if dual_generator.amalgam_gan is not amalgam_gan:
        raise ValueError(
            "`dual_generator` must be built from `amalgam_gan` "
            "(DualGenerator(amalgam_gan, ...)). Received a DualGenerator of "
            f"another AmalgamGAN ('{dual_generator.amalgam_gan.name}')."
        )
    if dual_generator.block_wise:
        raise ValueError(
            "`dual_generator` must have block_wise=False: the student "
            "learns end to end from pool images. Received a DualGenerator "
            "with block_wise=True."
        )


def _validate_student_batch_size(student_batch_size):
    """None (the latent batch size) or an int >= 1."""
    if student_batch_size is None:
        return None
    return check_int(student_batch_size, "student_batch_size", 1)


@keras.saving.register_keras_serializable(package="keras_dfka")
class AdversarialAmalgamation(Trainer, keras.Model):
    """Data-free amalgamation with the generator and the student in turns.

    Beyond the paper, after the data-free distillers that followed it (DFAD,
    CMI, Fast-DFKD): instead of training the generator first and the student
    afterwards on fresh samples of the frozen generator, every step of one
    `fit()` updates both, and the student learns from a growing pool of
    everything the generator has synthesized.

    ```
    # generator phase (AmalgamGAN's variables)
    image = G(z); seen = flip_and_shift(image)
    L_G = L_gan(seen, z)                                  # AmalgamGAN's losses
          + adversarial_weight * disagreement(S(seen), T(seen))
    pool.push(stop_gradient(image))
    # student phase, student_updates times (DualGenerator's variables:
    # trunk, filters, heads)
    x = flip_and_shift(pool.sample(student_batch_size))
    x = mixup(x)                                          # student_mixup only
    L_S = CE(S(x), T(x))                                  # soft targets
    ```

    `S` is the student as the TargetNet will be (the `DualGenerator`'s trunk
    and its teacher branches) and `T` the teachers' probabilities of the
    target labels. The disagreement term (`losses.disagreement_loss`) counts
    only decisions on which the student still agrees with the teachers, and
    starts after `adversarial_start` steps, once the student predicts
    something. The phases run in order, each applying its optimizer before
    the next (the generator's and the student's are two optimizers of one
    `keras.optimizers.MultiOptimizer`).

    Build the student with `DualGenerator(gan, target_labels,
    block_wise=False)` (the whole trunk learns from images; the
    block-wise losses of the paper need the generator's features, which this
    schedule does not use), then `keras_dfka.TargetNet.from_dual(dual)`.

    Args:
        amalgam_gan: a `keras_dfka.AmalgamGAN` (trained or not); its generator
            and filters are trained here.
        dual_generator: a `keras_dfka.DualGenerator` built from `amalgam_gan`
            with `block_wise=False`; its trunk, filters and heads are trained
            here.
        pool_size: int >= 1, the images the pool keeps (the newest).
        student_batch_size: int >= 1 or None (None: the latent batch size),
            the pool images of each student update.
        student_updates: int >= 1, student updates per step (each on its
            own pool batch, one after the other).
        adversarial_weight: float >= 0, the weight of the disagreement term
            (0: the generator ignores the student).
        adversarial_start: int >= 0, the steps before the disagreement term
            starts.
        student_augment: bool, whether pool images are randomly flipped and
            shifted before the student and the teachers see them.
        student_mixup: bool, whether each student image is then mixed with
            another of its batch (`keras_dfka.utils.random_mixup`: a
            weight uniform in [0, 1) per image); the teachers label the
            mixed images, so the student also learns between the pool's
            images.
        seed: int or None, the seed of the pool sampling and the augmentation.
        name: the model's name.

    Example:

    ```python
    gan = keras_dfka.AmalgamGAN(teachers, latent_targets=True)
    dual = keras_dfka.DualGenerator(gan, ["Smiling", "Male"], block_wise=False)
    trainer = keras_dfka.AdversarialAmalgamation(gan, dual, pool_size=20000)
    trainer.compile()
    trainer.fit(keras_dfka.datasets.LatentNoise(gan.latent_dim, 64, steps=2000))
    target = keras_dfka.TargetNet.from_dual(dual)
    ```

    Reference:
        Fang et al., "Contrastive Model Inversion for Data-Free Knowledge
        Distillation", IJCAI 2021; Fang et al., "Up to 100x Faster Data-free
        Knowledge Distillation", AAAI 2022.
    """

    # Under a tf.distribute strategy each replica would push its own images
    # into its own copy of the pool (fit() refuses several replicas); JAX's
    # DataParallel runs one program and keeps one pool.
    _supports_replicas = False

    def __init__(
        self,
        amalgam_gan,
        dual_generator,
        pool_size=20000,
        student_batch_size=None,
        student_updates=2,
        adversarial_weight=1.0,
        adversarial_start=100,
        student_augment=True,
        student_mixup=False,
        seed=None,
        name="adversarial_amalgamation",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _validate_models(amalgam_gan, dual_generator)
        self.amalgam_gan = amalgam_gan
        self.dual_generator = dual_generator
        self.pool_size = check_int(pool_size, "pool_size", 1)
        self.student_batch_size = _validate_student_batch_size(student_batch_size)
        self.student_updates = check_int(student_updates, "student_updates", 1)
        self.adversarial_weight = check_float(
            adversarial_weight, "adversarial_weight", 0.0, maximum=MAX_LOSS_WEIGHT
        )
        self.adversarial_start = check_int(adversarial_start, "adversarial_start", 0)
        self.student_augment = check_bool(student_augment, "student_augment")
        self.student_mixup = check_bool(student_mixup, "student_mixup")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.pool = SamplePool(self.pool_size, amalgam_gan.level_shapes[0], name="pool")
        self.step_count = self.add_weight(
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            name="step_count",
        )
        gan_terms = [n for n in amalgam_gan.loss_names if n != "loss"]
        self.loss_names = ["generator_loss", "student_loss", "adversarial"] + gan_terms
        self.train_generator = True
        self.built = True

    # ----------------------------------------------------------------- phases
    def training_phases(self):
        """The generator phase (unless `set_generator_training(False)`), then
        `student_updates` student phases (see the class doc)."""
        student = (
            self.dual_generator.trainable_variables,
            self.student_optimizer,
            self.student_phase_loss,
        )
        phases = [student] * self.student_updates
        if self.train_generator:
            generator = (
                self.amalgam_gan.trainable_variables,
                self.generator_optimizer,
                self.generator_phase_loss,
            )
            phases.insert(0, generator)
        return phases

    def set_generator_training(self, train_generator):
        """Whether the next `fit()` steps also train the generator.

        With `False` each step is only a student update on the pool as it is
        (the generator, its filters and the pool stay unchanged), for a
        cheaper end of training. Takes effect at the next `fit()`, never
        inside a running one.

        Args:
            train_generator: bool.
        """
        train_generator = check_bool(train_generator, "train_generator")
        if train_generator != self.train_generator:
            self.train_generator = train_generator
            # The phases are fixed when fit() traces the step: trace again.
            self.train_function = None

    def compute_step_loss(self, z, training=False):
        """Both phases' losses (for `evaluate()`)."""
        _, logs = self.generator_phase_loss(z, training=training)
        _, student_logs = self.student_phase_loss(z, training=training)
        logs.update(student_logs)
        return logs["generator_loss"] + logs["student_loss"], logs

    def generator_phase_loss(self, z, training=False):
        """`L_G`: AmalgamGAN's losses plus the disagreement term; pushes the
        generated images into the pool when training."""
        gan, dual = self.amalgam_gan, self.dual_generator
        loss, logs, context = gan.compute_step_terms(z, training=training)
        logs = {k: v for k, v in logs.items() if k != "loss"}
        student = dual.target_views(context["seen_images"], training=False)
        teacher = dual.teacher_target_views(context["probabilities"])
        activations = [a for m in dual.active_teachers for _, a in student[m]]
        adversarial = losses.disagreement_loss(
            [p for m in dual.active_teachers for p, _ in student[m]],
            [p for m in dual.active_teachers for p, _ in teacher[m]],
            activations,
        )
        if self.adversarial_weight > 0:
            on = ops.cast(self.step_count >= self.adversarial_start, "float32")
            loss = loss + on * self.adversarial_weight * adversarial
        if training:
            self.pool.push(ops.stop_gradient(context["images"]))
            self.step_count.assign(self.step_count + 1)
        logs["adversarial"] = adversarial
        logs["generator_loss"] = loss
        return loss, logs

    def student_phase_loss(self, z, training=False):
        """`L_S`: distillation on a batch drawn from the pool."""
        batch_size = self.student_batch_size or z.shape[0] or ops.shape(z)[0]
        images = self.pool.sample(batch_size, self.seed_generator)
        if self.student_augment:
            images = random_flip_and_shift(images, self.seed_generator)
        if self.student_mixup:
            images = random_mixup(images, self.seed_generator)
        loss = self.dual_generator.image_distillation_loss(images, training=training)
        return loss, {"student_loss": loss}

    # -------------------------------------------------------------- training
    _losses_source = "set by its two models"
    _copy_shared_optimizer = False

    def compile(
        self,
        generator_optimizer="auto",
        student_optimizer="auto",
        learning_rate=DEFAULT_LEARNING_RATE,
        jit_compile="auto",
        check_finite=True,
        **kwargs,
    ):
        """Configures training.

        Args:
            generator_optimizer: `"auto"` (Adam at `learning_rate`,
                `beta_1=0.5`) or a Keras optimizer (or its name), for the
                AmalgamGAN's generator and filters.
            student_optimizer: the same, for the DualGenerator's trunk,
                filters and heads.
            learning_rate: float > 0 or a Keras learning rate schedule,
                the learning rate of the `"auto"` optimizers (default 1e-3).
            jit_compile: passed to `keras.Model.compile`.
            check_finite: bool; `True` (the default) makes `fit()` stop with a
                `keras_dfka.callbacks.NonFiniteError` at the first NaN or
                infinite loss (`keras_dfka.callbacks.TerminateOnNonFinite`).
            **kwargs: other `keras.Model.compile` arguments.
        """
        super().compile(
            generator_optimizer=generator_optimizer,
            student_optimizer=student_optimizer,
            learning_rate=learning_rate,
            jit_compile=jit_compile,
            check_finite=check_finite,
            **kwargs,
        )

    def optimizer_groups(self):
        """The generator's optimizer (the AmalgamGAN's generator and
        filters), and the student's (the DualGenerator's variables, by
        path). Each is built on its phase's variables in the phase's order:
        `self.trainable_variables` is the AmalgamGAN's, then the
        DualGenerator's."""
        return {
            "generator_optimizer": None,
            "student_optimizer": self.dual_generator.trainable_variables,
        }

    @property
    def generator_optimizer(self):
        """The optimizer of the generator phase (after `compile()`)."""
        return self._group_optimizers["generator_optimizer"]

    @property
    def student_optimizer(self):
        """The optimizer of the student phases (after `compile()`)."""
        return self._group_optimizers["student_optimizer"]

    def call(self, z, training=False):
        return self.amalgam_gan(z, training=training)

    def get_config(self):
        # The DualGenerator's config holds its AmalgamGAN's.
        return {
            "name": self.name,
            "dual_generator": keras.saving.serialize_keras_object(self.dual_generator),
            "pool_size": self.pool_size,
            "student_batch_size": self.student_batch_size,
            "student_updates": self.student_updates,
            "adversarial_weight": self.adversarial_weight,
            "adversarial_start": self.adversarial_start,
            "student_augment": self.student_augment,
            "student_mixup": self.student_mixup,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        dual = keras.saving.deserialize_keras_object(config.pop("dual_generator"))
        return cls(dual.amalgam_gan, dual, **config)
