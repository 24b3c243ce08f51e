"""The student of `DualGenerator`: its parts and the losses on them."""

import keras
from keras import ops

from keras_dfka import losses
from keras_dfka.layers.feature_filter import FeatureFilter
from keras_dfka.models.student_block import build_student_block
from keras_dfka.utils.model_utils import copy_model


class StudentBranches:
    """The trunk `T^1..T^B`, each teacher's branch on it (teacher-level
    filter, the teacher's remaining blocks and head, task-level filter) and
    the distillation losses on them: what `DualGenerator`'s step and
    `AdversarialAmalgamation`'s student phase are made of.

    A base class of `DualGenerator` only, split out of its module: the
    builders its constructor calls, then the graph. It reads the
    DualGenerator's attributes (`amalgam_gan`, `teachers`, `level_shapes`,
    `num_blocks`, `active_teachers`, `loss_items`, `teacher_weights`,
    `temperature`, ...).
    """

    def _student_blocks(self, blocks):
        """The blocks `T^1..T^B`: the default ones, or the custom `blocks`
        checked; built."""
        if blocks is None:
            blocks = [
                build_student_block(
                    self.level_shapes[b - 1],
                    self.level_shapes[b],
                    self.convs_per_block,
                    self.hidden_width_multiplier,
                    name=f"student_block_{b}",
                    min_hidden_width=self.min_hidden_width,
                )
                for b in range(1, self.num_blocks + 1)
            ]
        else:
            blocks = self._validate_blocks(blocks)
        for b, block in enumerate(blocks):
            if not block.built:
                block.build((None,) + tuple(self.level_shapes[b]))
        return blocks

    def _validate_blocks(self, blocks):
        """Custom blocks: one per teacher block, each mapping shared level
        `b` to shared level `b + 1`."""
        blocks = list(blocks)
        if len(blocks) != self.num_blocks:
            raise ValueError(
                f"`blocks` must hold {self.num_blocks} layers (one per teacher "
                f"block). Received {len(blocks)}."
            )
        for b, block in enumerate(blocks, start=1):
            expected = (None,) + tuple(self.level_shapes[b])
            got = tuple(
                block.compute_output_spec(
                    keras.KerasTensor((None,) + tuple(self.level_shapes[b - 1]))
                ).shape
            )
            if got[1:] != expected[1:]:
                raise ValueError(
                    f"`blocks[{b - 1}]` must map shared level {b} "
                    f"{self.level_shapes[b - 1]} to level {b + 1} "
                    f"{self.level_shapes[b]}. Its output shape is {got[1:]}."
                )
        return blocks

    def _build_filters(self):
        """`filters[m][b - 1]` maps shared level `b + 1` to teacher `m`'s level
        `b + 1` (`None` for a teacher without target labels); the GAN's
        filters of levels `2..B` initialize them."""
        gan = self.amalgam_gan
        filters = []
        for m, teacher in enumerate(self.teachers):
            row = []
            for level in range(2, self.num_blocks + 2):
                if m not in self.active_teachers:
                    row.append(None)
                    continue
                layer = FeatureFilter(
                    teacher.level_shapes[level - 1],
                    reduction=gan.filter_reduction,
                    gate=gan.use_filters,
                    name=f"student_filter_{m}_{teacher.name}_level_{level}",
                )
                layer.build((None,) + tuple(self.level_shapes[level - 1]))
                if level <= self.num_blocks:
                    layer.set_weights(gan.filters[m][level - 2].get_weights())
                row.append(layer)
            filters.append(row)
        return filters

    def _build_heads(self):
        """`heads[m]`: teacher `m`'s trainable head copy (`fine_tune_heads`
        only, else `None`). Assigned whole: Keras tracks the layers of a
        list attribute as assigned, not items set into it later."""
        heads = [None] * len(self.teachers)
        if self.fine_tune_heads:
            for m in self.active_teachers:
                heads[m] = copy_model(self.teachers[m].head, trainable=True)
                heads[m].name = f"head_{m}_{self.teachers[m].name}"
        return heads

    def trunk(self, images, training=False, up_to=None):
        """Runs `T^1..T^{up_to}` on images; returns the list of outputs."""
        outputs = []
        x = images
        for block in self.student_blocks[: up_to or self.num_blocks]:
            x = block(x, training=training)
            outputs.append(x)
        return outputs

    def teacher_branch(self, m, features, level):
        """`O_m(f_m^level(features))`: teacher `m`'s per-task probabilities."""
        filtered = self.filters[m][level - 2](features)
        if self.heads[m] is not None and level == self.num_blocks + 1:
            outputs = self.heads[m](filtered, training=False)
            return self.teachers[m].to_probabilities(outputs)
        return self.teachers[m].from_level(filtered, level)

    def branch_head(self, m):
        """Teacher `m`'s head as this model uses it at level `B + 1`: its
        fine-tuned copy, or the teacher's own."""
        return self.heads[m] if self.heads[m] is not None else self.teachers[m].head

    def _loss_view(self, m, probabilities):
        items = []
        for task_index, indices, activation in self.loss_items[m]:
            p = probabilities[task_index]
            if indices is not None:
                p = ops.take(p, indices, axis=-1)
            items.append((p, activation))
        return items

    def _branch_loss(self, m, features, level, targets, batch_size, weights):
        view = self._loss_view(m, self.teacher_branch(m, features, level))
        predictions = [p for p, _ in view]
        activations = [a for _, a in view]
        total = 0.0
        start = 0
        for weight in weights:
            if weight > 0:
                part = [p[start : start + batch_size] for p in predictions]
                total = total + weight * losses.soft_cross_entropy(
                    part, targets, activations, self.temperature
                )
            start += batch_size
        return total

    def teacher_target_views(self, probabilities):
        """The teachers' probabilities of the target labels, per teacher.

        Args:
            probabilities: per teacher (all of them, in order), its list of
                per-task probabilities (as `Teacher.image_pass` returns).

        Returns:
            `{m: [(probabilities, activation), ...]}` for every teacher `m`
            with target labels: its tasks' target-label columns (a softmax
            task whole).
        """
        return {m: self._loss_view(m, probabilities[m]) for m in self.active_teachers}

    def target_views(self, images, training=False):
        """This model's probabilities of the target labels, per teacher
        branch, in the layout of `teacher_target_views`."""
        features = self.trunk(images, training=training)[-1]
        level = self.num_blocks + 1
        return {
            m: self._loss_view(m, self.teacher_branch(m, features, level))
            for m in self.active_teachers
        }

    def image_distillation_loss(self, images, training=False):
        """The end-to-end loss on given images: the whole trunk and every
        branch against the teachers' soft predictions on the same images.

        ```
        loss = sum_m lambda_m * CE(g_m(O_m(f_m^{B+1}(T(images)))), g_m(O_m(images)))
        ```
        """
        batch_size = ops.shape(images)[0]
        targets = self._teacher_targets(images)
        x = images
        for block in self.student_blocks:
            x = block(x, training=training)
        level = self.num_blocks + 1
        loss = 0.0
        for m in self.active_teachers:
            loss = loss + self.teacher_weights[m] * self._branch_loss(
                m, x, level, targets[m], batch_size, [1.0]
            )
        return loss

    def _teacher_targets(self, images):
        """`{teacher index: [stop-gradient loss-view probabilities]}` of the
        active teachers on `images`."""
        targets = {}
        for m in self.active_teachers:
            probabilities = self.teachers[m].image_pass(images)[0]
            targets[m] = [
                ops.stop_gradient(p) for p, _ in self._loss_view(m, probabilities)
            ]
        return targets
