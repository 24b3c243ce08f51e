"""`DualGenerator`: stage 2, the student trunk trained block by block."""

import keras
from keras import ops

from keras_dfka.backend import Trainer
from keras_dfka.models.label_plan import LabelPlan
from keras_dfka.trainers import latent_selection
from keras_dfka.trainers.amalgam_gan import AmalgamGAN
from keras_dfka.trainers.compile_utils import DEFAULT_LEARNING_RATE
from keras_dfka.trainers.student_branches import StudentBranches
from keras_dfka.utils.model_utils import as_list
from keras_dfka.utils.model_utils import copy_model
from keras_dfka.utils.model_utils import map_batches
from keras_dfka.utils.model_utils import set_all_trainable
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_int
from keras_dfka.utils.validation import check_weights


def _validate_amalgam_gan(amalgam_gan):
    if not isinstance(amalgam_gan, AmalgamGAN):
        raise ValueError(
            "`amalgam_gan` must be a `keras_dfka.AmalgamGAN`. Received: "
            f"{type(amalgam_gan).__name__}"
        )


def _validate_stream_weights(stream_weights):
    """`(lambda_1, lambda_2)`: two numbers >= 0, not both 0."""
    stream_weights = tuple(check_weights(stream_weights, "stream_weights", 2))
    if sum(stream_weights) <= 0:
        raise ValueError(
            "`stream_weights` must be two non-negative numbers, not both 0. "
            f"Received: stream_weights={stream_weights}"
        )
    return stream_weights


@keras.saving.register_keras_serializable(package="keras_dfka")
class DualGenerator(StudentBranches, Trainer, keras.Model):
    """Stage 2: the dual generator `T = T^1..T^B`, the student trunk.

    `T^b` maps shared level `b` to shared level `b + 1`. Its block-wise loss
    (Eqs. 12-16) sends its output through the teacher-level filter
    `f_m^{b+1}`, teacher `m`'s remaining blocks and head, and the task-level
    filter `g_m` (only teacher `m`'s labels in `target_labels`), against the
    teacher's own soft prediction on the generated image:

    ```
    image, F_g^2..F_g^B = G(z)                   # the frozen generator
    target_m = g_m(O_m(image))
    F_i^1 = T^{b-1..1}(image)   F_i^2 = F_g^b    # both stop_gradient
    L_u^b = sum_m lambda_m * (lambda_1 * CE(g_m(O_m(f_m^{b+1}(T^b(F_i^1)))), target_m)
                            + lambda_2 * CE(g_m(O_m(f_m^{b+1}(T^b(F_i^2)))), target_m))
    loss = sum_b L_u^b
    ```

    For `b = 1` both streams are the image (weighted `lambda_1 + lambda_2`).
    Because the inputs of every block are `stop_gradient`, one `fit()` trains
    all blocks, each with its own loss. The two streams of a block run as one
    concatenated batch. For softmax tasks the loss uses the whole distribution
    of the task whenever any of its labels is a target.

    Args:
        amalgam_gan: a trained `keras_dfka.AmalgamGAN`. Its generator is
            copied and frozen; its filters initialize this model's filters.
        target_labels: list of label names (`"Smiling"`, or `"task/label"`
            when several tasks share a name), in the order the TargetNet
            should return them, or a `keras_dfka.models.label_plan.LabelPlan`
            resolved against the same teachers.
        convs_per_block: int >= 1, convolutions per default block. The
            default 2 (a stride-1 and a strided `Conv3x3`) sees at least
            the receptive field of a teacher block `Conv + MaxPool`; one
            strided convolution alone learned much less from generated
            images. It costs parameters; pass 1 for the smallest student.
        hidden_width_multiplier: float > 0, the width of a default block's
            extra convolutions relative to the shared width of its output
            (used when `convs_per_block > 1`). The widths at block
            boundaries are the shared widths of
            `AmalgamGAN(feature_width_multiplier=...)`.
        blocks: optional list of `B` Keras layers or models, custom blocks
            mapping shared level `b` to shared level `b + 1`.
        stream_weights: `(lambda_1, lambda_2)`, the weights of the student
            stream and the generator stream (default `(1, 1)`, the paper's).
        block_wise: bool; `False` trains the trunk end to end on images with
            one loss on its last block. Not the paper's method; how the two
            compare is in `benchmarks/README.md`.
        temperature: float > 0, the distillation temperature.
        teacher_weights: optional list of `lambda_m`, one per teacher.
        fine_tune_heads: bool; `True` gives each teacher's branch its own
            trainable copy of the teacher's head (everything after block
            `B`), trained with the last block's loss and copied into the
            TargetNet. The paper keeps the teachers' heads as they are
            (`False`, the default). The head's BatchNorm statistics, if any,
            stay the teacher's.
        min_hidden_width: int >= 1, the smallest width of a default block's
            extra convolutions. The default 4 keeps the first blocks' inner
            convolutions very thin (4 channels at full resolution for
            8-channel shared features); 16 costs few parameters there and
            lifted the data-driven and the data-free student on the
            embedded faces (`benchmarks/README.md` 1e).
        name: the model's name.

    Example:

    ```python
    dual = keras_dfka.DualGenerator(gan, target_labels=["Smiling", "Male"])
    dual.compile()
    dual.fit(keras_dfka.datasets.LatentNoise(gan.latent_dim, 64, steps=200))
    target = keras_dfka.TargetNet.from_dual(dual)
    ```

    `fit()` takes any latent vectors. With a softmax teacher, vectors whose
    images the teacher spreads evenly over its classes
    (`AmalgamGAN.balanced_latents`) can teach the rare classes better than
    plain noise:

    ```python
    z = gan.balanced_latents(32000)
    dual.fit(z, batch_size=64, epochs=5)
    # or an exact number of steps, reshuffled on every pass:
    dual.fit(keras_dfka.datasets.LatentSet(z, batch_size=64, steps=2400))
    # then add the vectors it still gets most wrong (`hard_latents`):
    z = np.concatenate([z, dual.hard_latents(16000)])
    dual.fit(keras_dfka.datasets.LatentSet(z, batch_size=64, steps=2400, seed=1))
    ```

    Reference:
        Ye et al., "Data-Free Knowledge Amalgamation via Group-Stack
        Dual-GAN", CVPR 2020, Sec. 3.2.
    """

    def __init__(
        self,
        amalgam_gan,
        target_labels,
        convs_per_block=2,
        hidden_width_multiplier=1.0,
        blocks=None,
        stream_weights=(1.0, 1.0),
        block_wise=True,
        temperature=1.0,
        teacher_weights=None,
        fine_tune_heads=False,
        min_hidden_width=4,
        name="dual_generator",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _validate_amalgam_gan(amalgam_gan)
        hidden_width_multiplier = check_float(
            hidden_width_multiplier, "hidden_width_multiplier", 0, exclusive=True
        )
        stream_weights = _validate_stream_weights(stream_weights)
        temperature = check_float(temperature, "temperature", 0, exclusive=True)
        # Not tracked: the GAN's own variables must not join this model's.
        object.__setattr__(self, "_amalgam_gan", amalgam_gan)
        self.teachers = amalgam_gan.teachers
        self.latent_dim = amalgam_gan.latent_dim
        self.level_shapes = amalgam_gan.level_shapes
        self.num_blocks = amalgam_gan.num_blocks
        if isinstance(target_labels, LabelPlan):
            self.label_plan = target_labels
        else:
            self.label_plan = LabelPlan.resolve(self.teachers, target_labels)
        self.target_labels = self.label_plan.target_labels
        self.hidden_width_multiplier = float(hidden_width_multiplier)
        self.convs_per_block = check_int(convs_per_block, "convs_per_block", 1)
        self.min_hidden_width = check_int(min_hidden_width, "min_hidden_width", 1)
        self.stream_weights = stream_weights
        self.block_wise = check_bool(block_wise, "block_wise")
        self.temperature = temperature
        self.teacher_weights = self._validate_teacher_weights(teacher_weights)
        self.fine_tune_heads = check_bool(fine_tune_heads, "fine_tune_heads")
        # Teachers with at least one target label, and what their loss uses.
        self.active_teachers = self.label_plan.teachers
        self.loss_items = self._loss_items()
        self.generator = copy_model(amalgam_gan.generator, trainable=False)
        self.student_blocks = self._student_blocks(blocks)
        self.filters = self._build_filters()
        self.heads = self._build_heads()
        self.active_blocks = list(range(1, self.num_blocks + 1))
        self.built = True

    def _validate_teacher_weights(self, teacher_weights):
        """`lambda_m`, one per teacher (default 1 each)."""
        if teacher_weights is None:
            teacher_weights = [1.0] * len(self.teachers)
        return check_weights(teacher_weights, "teacher_weights", len(self.teachers))

    def _loss_items(self):
        """`{teacher index: [(task index, label indices or None for the
        whole softmax task, activation)]}` for the teachers with target
        labels."""
        items = {}
        for group in self.label_plan.groups:
            indices = None if group.activation == "softmax" else sorted(group.indices)
            items.setdefault(group.teacher, []).append(
                (group.task, indices, group.activation)
            )
        return items

    @property
    def loss_names(self):
        """The logged terms: the total and, block-wise, each active block's."""
        if self.block_wise:
            return ["loss"] + [f"block_{b}" for b in self.active_blocks]
        return ["loss"]

    @property
    def amalgam_gan(self):
        """The `AmalgamGAN` this model was built from (not tracked)."""
        return self._amalgam_gan

    def compute_step_loss(self, z, training=False):
        """The block-wise losses of one batch and their named values."""
        outputs = as_list(self.generator(z, training=False))
        images = outputs[0]
        if not self.block_wise:
            loss = self.image_distillation_loss(images, training=training)
            return loss, {"loss": loss}
        batch_size = ops.shape(images)[0]
        targets = self._teacher_targets(images)
        lambda_1, lambda_2 = self.stream_weights
        logs = {}
        loss = 0.0
        x = images
        last = max(self.active_blocks)
        for b in range(1, last + 1):
            block = self.student_blocks[b - 1]
            student_stream = ops.stop_gradient(x)
            active = b in self.active_blocks
            if b == 1 or lambda_2 == 0 or not active:
                inputs = student_stream
                weights = [lambda_1 + (lambda_2 if b == 1 else 0.0)]
            else:
                generator_stream = ops.stop_gradient(outputs[b - 1])
                inputs = ops.concatenate([student_stream, generator_stream], axis=0)
                weights = [lambda_1, lambda_2]
            out = block(inputs, training=training and active)
            if active:
                block_loss = 0.0
                for m in self.active_teachers:
                    block_loss = block_loss + self.teacher_weights[
                        m
                    ] * self._branch_loss(
                        m, out, b + 1, targets[m], batch_size, weights
                    )
                logs[f"block_{b}"] = block_loss
                loss = loss + block_loss
            x = out[:batch_size] if len(weights) == 2 else out
        logs["loss"] = loss
        return loss, logs

    def call(self, images, training=False):
        """Probabilities for `target_labels`, `(batch, len(target_labels))`."""
        features = self.trunk(images, training=training)[-1]
        level = self.num_blocks + 1
        probabilities = {
            m: self.teacher_branch(m, features, level) for m in self.active_teachers
        }
        columns = [
            probabilities[r.teacher][r.task][:, r.index : r.index + 1]
            for r in self.label_plan.labels
        ]
        return ops.concatenate(columns, axis=-1)

    # -------------------------------------------------------------- training
    _losses_source = "the block-wise losses"

    def compile(
        self,
        student_optimizer="auto",
        filter_optimizer="auto",
        learning_rate=DEFAULT_LEARNING_RATE,
        jit_compile="auto",
        check_finite=True,
        **kwargs,
    ):
        """Configures training.

        Args:
            student_optimizer: `"auto"` (Adam at `learning_rate`,
                `beta_1=0.5`) or a Keras optimizer (or its name), for the blocks.
                An instance is used as given; `set_active_blocks` (and so
                `fit_sequential`) compiles again with unbuilt copies of it.
            filter_optimizer: the same, for the teacher-level filters.
            learning_rate: float > 0 or a Keras learning rate schedule,
                the learning rate of the `"auto"` optimizers (default 1e-3).
            jit_compile: passed to `keras.Model.compile`.
            check_finite: bool; `True` (the default) makes `fit()` stop with a
                `keras_dfka.callbacks.NonFiniteError` at the first NaN or
                infinite loss (`keras_dfka.callbacks.TerminateOnNonFinite`).
            **kwargs: other `keras.Model.compile` arguments.
        """
        super().compile(
            student_optimizer=student_optimizer,
            filter_optimizer=filter_optimizer,
            learning_rate=learning_rate,
            jit_compile=jit_compile,
            check_finite=check_finite,
            **kwargs,
        )

    def optimizer_groups(self):
        """The blocks' (and fine-tuned heads') optimizer, and the
        teacher-level filters'."""
        return {"student_optimizer": None, "filter_optimizer": "student_filter_.*"}

    def set_active_blocks(self, blocks):
        """Trains only the given blocks (1-based) and their filters from now on.

        The other blocks are frozen (their BatchNorm layers run in inference
        mode). The model is recompiled with the arguments of the last
        `compile()`, with fresh optimizers (an optimizer instance given to
        `compile()` is copied from its config, so each turn starts with new
        moments, iterations and EMA weights): never change this inside a
        running `fit()` (under JAX the training state is fixed per `fit()`).

        Args:
            blocks: list of block numbers in `1..B`.
        """
        blocks = sorted({int(b) for b in blocks})
        if not blocks or blocks[0] < 1 or blocks[-1] > self.num_blocks:
            raise ValueError(
                f"`blocks` must be block numbers in 1..{self.num_blocks}. "
                f"Received: {blocks}"
            )
        if not self.block_wise and blocks != list(range(1, self.num_blocks + 1)):
            raise ValueError(
                "With block_wise=False all blocks train together; `blocks` must "
                f"be all of 1..{self.num_blocks}. Received: {blocks}"
            )
        self.active_blocks = blocks
        for b, block in enumerate(self.student_blocks, start=1):
            block.trainable = b in blocks
            for m in self.active_teachers:
                self.filters[m][b - 1].trainable = b in blocks
        # The heads learn from the last block's loss only.
        for head in self.heads:
            if head is not None:
                set_all_trainable(head, self.num_blocks in blocks)
        self._compile_again()

    def fit_sequential(self, x, epochs_per_block=1, **kwargs):
        """The sequential schedule: block 1 to B, each frozen after its turn.

        Args:
            x: the latent dataset (e.g. `keras_dfka.datasets.LatentNoise`).
            epochs_per_block: int, epochs for each block.
            **kwargs: passed to `fit()` (callbacks, verbose, ...).

        Returns:
            The list of `B` `History` objects. All blocks are active again
            afterwards.
        """
        if self._compile_args is None:
            raise ValueError("Call `compile()` before `fit_sequential()`.")
        if not self.block_wise:
            raise ValueError("`fit_sequential()` needs block_wise=True.")
        histories = []
        for b in range(1, self.num_blocks + 1):
            self.set_active_blocks([b])
            histories.append(self.fit(x, epochs=epochs_per_block, **kwargs))
        self.set_active_blocks(range(1, self.num_blocks + 1))
        return histories

    def _label_probabilities(self, images, batch_size):
        """This model's and the teachers' target-label probabilities."""
        student = map_batches(self, images, batch_size)
        teacher = self.label_plan.teacher_probabilities(
            self.teachers, images, batch_size
        )
        return student, teacher

    def agreement(self, num_samples=512, seed=12345, batch_size=128):
        """Agreement with the teachers on fresh generated images.

        Returns:
            A dict: `mean_absolute_error` between this model's and the
            teachers' probabilities for `target_labels`, and
            `label_agreement`, the fraction of decisions on which the two
            agree: one per sample and sigmoid label (the probability
            thresholded at 0.5) and one per sample and softmax task (the
            arg-max over that task's target labels; the 0.5 threshold if
            only one of its labels is a target).
        """
        return latent_selection.agreement(self, num_samples, seed, batch_size)

    def disagreement(self, z, batch_size=256):
        """How far this model is from the teachers on the images of `z`.

        Per latent vector, the sum over decisions (sigmoid labels, softmax
        tasks; see `agreement`) of the KL divergence from the teachers'
        probabilities to this model's: Bernoulli for a sigmoid label (and a
        softmax task with one target label), categorical over the target
        labels, renormalized, for a softmax task.

        Args:
            z: latent array `(n, latent_dim)`.
            batch_size: int >= 1, the batch size of the model calls.

        Returns:
            A float array `(n,)` >= 0.
        """
        return latent_selection.disagreement(self, z, batch_size)

    def hard_latents(self, num_samples, pool_factor=4, seed=0, batch_size=256):
        """Latent vectors whose images this model gets most wrong.

        Draws `pool_factor * num_samples` vectors from `N(0, 1)` and keeps
        the `num_samples` of largest `disagreement` with the teachers. Not
        part of the paper: after part of the training, adding them to what
        `fit()` sees focuses the rest of it where the student is still far
        from the teachers. No data is needed: the measure is against the
        teachers on generated images.

        Args:
            num_samples: int >= 1, how many vectors to return.
            pool_factor: int >= 1, the pool is this many times `num_samples`.
            seed: int, the seed of the drawn pool and of the returned order.
            batch_size: int >= 1, the batch size of the model calls.

        Returns:
            A float32 array `(num_samples, latent_dim)`, in random order.
        """
        return latent_selection.hard_latents(
            self, num_samples, pool_factor, seed, batch_size
        )

    def get_config(self):
        return {
            "name": self.name,
            "amalgam_gan": keras.saving.serialize_keras_object(self.amalgam_gan),
            "target_labels": self.target_labels,
            "convs_per_block": self.convs_per_block,
            "hidden_width_multiplier": self.hidden_width_multiplier,
            "stream_weights": list(self.stream_weights),
            "block_wise": self.block_wise,
            "temperature": self.temperature,
            "teacher_weights": self.teacher_weights,
            "fine_tune_heads": self.fine_tune_heads,
            "min_hidden_width": self.min_hidden_width,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "width_multiplier" in config:  # Saved before the rename.
            config["hidden_width_multiplier"] = config.pop("width_multiplier")
        config["amalgam_gan"] = keras.saving.deserialize_keras_object(
            config["amalgam_gan"]
        )
        return cls(**config)
