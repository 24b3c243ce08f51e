"""The stage-1 (`Stage1Reference`) and stage-2 (`Stage2Reference`) steps in
plain PyTorch, with Adam placed as Keras places its epsilon (`KerasAdam`).

This module and the rest of the package are one concept, the reference; see
the package docstring for what is supported.
"""

import math

import torch
from torch import nn

from benchmarks.torch_reference.layers import Converter
from benchmarks.torch_reference.losses import activation_loss
from benchmarks.torch_reference.losses import batch_norm_statistics_loss
from benchmarks.torch_reference.losses import check_activations
from benchmarks.torch_reference.losses import discrete_loss
from benchmarks.torch_reference.losses import information_entropy_loss
from benchmarks.torch_reference.losses import one_hot_loss
from benchmarks.torch_reference.losses import soft_cross_entropy
from benchmarks.torch_reference.losses import total_variation_loss
from benchmarks.torch_reference.models import FeatureFilter
from benchmarks.torch_reference.models import Generator
from benchmarks.torch_reference.models import Teacher
from benchmarks.torch_reference.models import convert_chain


# ------------------------------------------------------------------ Adam
def keras_adam_config():
    """The trainers' `"auto"` optimizer's hyperparameters
    (`keras_dfka.trainers.compile_utils.default_optimizer`)."""
    from keras_dfka.trainers.compile_utils import default_optimizer

    config = default_optimizer().get_config()
    return {
        k: float(config[k]) for k in ("learning_rate", "beta_1", "beta_2", "epsilon")
    }


class KerasAdam(torch.optim.Adam):
    """`torch.optim.Adam` with Keras's placement of epsilon.

    Keras adds epsilon to `sqrt(v)` before the bias correction of the
    learning rate, torch to `sqrt(v / (1 - beta_2^t))`; the two agree when
    torch's epsilon is `epsilon / sqrt(1 - beta_2^t)`, which this sets before
    every step (the update is torch's own Adam kernel).
    """

    def __init__(self, params, learning_rate, beta_1, beta_2, epsilon):
        super().__init__(params, lr=learning_rate, betas=(beta_1, beta_2), eps=epsilon)
        self.keras_epsilon = float(epsilon)
        self.keras_steps = 0

    @torch.no_grad()
    def step(self, closure=None):
        self.keras_steps += 1
        for group in self.param_groups:
            beta_2 = group["betas"][1]
            group["eps"] = self.keras_epsilon / math.sqrt(
                1.0 - beta_2**self.keras_steps
            )
        return super().step(closure)


# ------------------------------------------------------------------ stages
class _Reference(nn.Module):
    def make_optimizer(self, **overrides):
        """Adam (the trainers' `"auto"` hyperparameters) on the trainable
        parameters: one parameter group for the main model, one for the
        filters (the Keras side's `MultiOptimizer` of two Adams)."""
        config = dict(keras_adam_config(), **overrides)
        groups = [
            {"params": [p for p in group if p.requires_grad]}
            for group in self.parameter_groups()
        ]
        return KerasAdam([g for g in groups if g["params"]], **config)

    def draw_augmentation(self):
        """The random draws of one step's augmentation (None: none)."""
        return None

    def train_step(self, z, optimizer):
        """One training step: loss, backward, Adam. Returns `(loss, logs)`
        as detached tensors (no host sync)."""
        optimizer.zero_grad(set_to_none=True)
        loss, logs = self.compute_step_loss(z, self.draw_augmentation())
        loss.backward()
        optimizer.step()
        return loss.detach(), {k: v.detach() for k, v in logs.items()}


class Stage1Reference(_Reference):
    """The `AmalgamGAN` step in plain PyTorch.

    Args:
        gan: a `keras_dfka.AmalgamGAN` (its weights are copied).
        augment: None (the GAN's own setting) or a bool.
        seed: the seed of the augmentation's torch generator.
    """

    def __init__(self, gan, augment=None, seed=0):
        super().__init__()
        if gan.latent_targets:
            raise ValueError(
                "The torch reference does not support latent_targets=True."
            )
        if gan.priors is not None:
            raise ValueError("The torch reference does not support label priors.")
        check_activations(gan.activations)
        self.converter = Converter()
        self.generator = Generator(gan.generator, self.converter)
        self.teachers = nn.ModuleList(Teacher(t, self.converter) for t in gan.teachers)
        self.filters = nn.ModuleList(
            nn.ModuleList(FeatureFilter(f, self.converter) for f in row)
            for row in gan.filters
        )
        self.loss_weights = dict(gan.loss_weights)
        self.loss_names = list(gan.loss_names)
        self.activations = list(gan.activations)
        self.num_blocks = gan.num_blocks
        self.augment = gan.augment if augment is None else bool(augment)
        self.image_shape = tuple(gan.level_shapes[0])
        self.rng = torch.Generator().manual_seed(seed)
        if "intermediate" not in self.loss_names:
            for p in self.filters.parameters():
                p.requires_grad_(False)

    def parameter_groups(self):
        return [list(self.generator.parameters()), list(self.filters.parameters())]

    def draw_augmentation(self):
        """One batch's draws of `random_flip_and_shift`: 0-d tensors `(flip,
        shift_h, shift_w)` (None when the augmentation is off). Drawn
        outside `compute_step_loss`, so that `torch.compile` of it sees
        tensors, not Python numbers to specialize on."""
        if not self.augment:
            return None
        height, width = self.image_shape[:2]
        limit_h, limit_w = max(1, height // 8), max(1, width // 8)
        return (
            torch.rand((), generator=self.rng) < 0.5,
            torch.randint(-limit_h, limit_h + 1, (), generator=self.rng),
            torch.randint(-limit_w, limit_w + 1, (), generator=self.rng),
        )

    def random_flip_and_shift(self, images, draws=None):
        """`keras_dfka.utils.random_flip_and_shift` (one draw per batch):
        a horizontal flip with probability 1/2 (`torch.where`, as
        `ops.where` there), then a circular shift (`torch.roll` as an
        index gather, so the shifts stay tensors)."""
        flip, shift_h, shift_w = draws or self.draw_augmentation()
        height, width = images.shape[2], images.shape[3]
        images = torch.where(flip, torch.flip(images, dims=(3,)), images)
        rows = torch.remainder(torch.arange(height) - shift_h, height)
        columns = torch.remainder(torch.arange(width) - shift_w, width)
        return images.index_select(2, rows).index_select(3, columns)

    def compute_step_loss(self, z, augmentation=None):
        """The joint loss (Eq. 11) and the logged terms, as the Keras step
        with `training=True`; `augmentation`: `draw_augmentation()`'s draws
        (None: drawn here when the augmentation is on)."""
        weights = self.loss_weights
        outputs = self.generator(z)
        images = outputs[0]
        seen = images
        if self.augment:
            seen = self.random_flip_and_shift(images, augmentation)
        predictions, head_features, bn_terms = [], [], []
        for teacher in self.teachers:
            probabilities, features, bn_inputs = teacher.image_pass(seen)
            predictions.extend(probabilities)
            head_features.append(features[-1])
            if weights["batch_norm"] > 0:
                bn_terms.append(
                    batch_norm_statistics_loss(bn_inputs, teacher.bn_modules())
                )
        terms = {
            "one_hot": one_hot_loss(predictions, self.activations),
            "activation": activation_loss(head_features),
            "information_entropy": information_entropy_loss(
                predictions, self.activations
            ),
            "discrete": discrete_loss(predictions, self.activations),
        }
        if weights["batch_norm"] > 0:
            terms["batch_norm"] = sum(bn_terms) / len(bn_terms)
        if weights["total_variation"] > 0:
            terms["total_variation"] = total_variation_loss(seen)
        if self.num_blocks > 1 and "intermediate" in self.loss_names:
            level_targets = [p.detach() for p in predictions]
            intermediate = 0.0
            for level in range(2, self.num_blocks + 1):
                level_predictions = []
                for m, teacher in enumerate(self.teachers):
                    filtered = self.filters[m][level - 2](outputs[level - 1])
                    level_predictions.extend(teacher.from_level(filtered, level))
                intermediate = intermediate + soft_cross_entropy(
                    level_predictions, level_targets, self.activations
                )
            terms["intermediate"] = intermediate / (self.num_blocks - 1)
        loss = 0.0
        for term, value in terms.items():
            if weights[term] > 0:
                loss = loss + weights[term] * value
        logs = {"loss": loss}
        logs.update({n: terms[n] for n in self.loss_names if n != "loss"})
        return loss, logs


class Stage2Reference(_Reference):
    """The block-wise `DualGenerator` step in plain PyTorch.

    Args:
        dual: a `keras_dfka.DualGenerator` with `block_wise=True`, no
            fine-tuned heads and all blocks active (its weights are copied,
            and those of its frozen generator and teachers).
    """

    def __init__(self, dual):
        super().__init__()
        if not dual.block_wise:
            raise ValueError(
                "The torch reference needs DualGenerator(block_wise=True)."
            )
        if any(h is not None for h in dual.heads):
            raise ValueError("The torch reference does not support fine_tune_heads.")
        if list(dual.active_blocks) != list(range(1, dual.num_blocks + 1)):
            raise ValueError("The torch reference needs all blocks active.")
        self.converter = Converter()
        self.generator = Generator(dual.generator, self.converter)
        for p in self.generator.parameters():
            p.requires_grad_(False)
        self.teachers = nn.ModuleList(Teacher(t, self.converter) for t in dual.teachers)
        self.blocks = nn.ModuleList(
            convert_chain(b, self.converter)[0] for b in dual.student_blocks
        )
        self.active_teachers = list(dual.active_teachers)
        self.filters = nn.ModuleDict(
            {
                str(m): nn.ModuleList(
                    FeatureFilter(f, self.converter) for f in dual.filters[m]
                )
                for m in self.active_teachers
            }
        )
        self.loss_items = {}
        for m, items in dual.loss_items.items():
            converted = []
            for task_index, indices, activation in items:
                if task_index != 0:
                    raise ValueError("One task per teacher in the torch reference.")
                idx = (
                    None if indices is None else torch.tensor(indices, dtype=torch.long)
                )
                converted.append((idx, activation))
            self.loss_items[m] = converted
        self.num_blocks = dual.num_blocks
        self.stream_weights = tuple(float(w) for w in dual.stream_weights)
        self.teacher_weights = [float(w) for w in dual.teacher_weights]
        self.temperature = float(dual.temperature)

    def parameter_groups(self):
        return [list(self.blocks.parameters()), list(self.filters.parameters())]

    def train(self, mode=True):
        super().train(mode)
        self.generator.train(False)  # The frozen generator: inference mode.
        return self

    def _loss_view(self, m, probabilities):
        p = probabilities[0]
        return [
            (p if idx is None else p.index_select(-1, idx), activation)
            for idx, activation in self.loss_items[m]
        ]

    def _branch_loss(self, m, features, level, targets, batch_size, weights):
        filtered = self.filters[str(m)][level - 2](features)
        view = self._loss_view(m, self.teachers[m].from_level(filtered, level))
        predictions = [p for p, _ in view]
        activations = [a for _, a in view]
        total, start = 0.0, 0
        for weight in weights:
            if weight > 0:
                part = [p[start : start + batch_size] for p in predictions]
                total = total + weight * soft_cross_entropy(
                    part, targets, activations, self.temperature
                )
            start += batch_size
        return total

    def compute_step_loss(self, z, augmentation=None):
        """The block-wise losses and `{"loss", "block_b"}`, as the Keras step
        with `training=True` (the generator and the teachers' targets are
        not differentiated there either: `torch.no_grad`). `augmentation`
        is unused: stage 2 does not augment."""
        with torch.no_grad():
            outputs = self.generator(z)
            images = outputs[0]
            targets = {
                m: [
                    p
                    for p, _ in self._loss_view(
                        m, self.teachers[m].image_pass(images)[0]
                    )
                ]
                for m in self.active_teachers
            }
        batch_size = images.shape[0]
        lambda_1, lambda_2 = self.stream_weights
        logs, loss, x = {}, 0.0, images
        for b in range(1, self.num_blocks + 1):
            student_stream = x.detach()
            if b == 1 or lambda_2 == 0:
                inputs = student_stream
                weights = [lambda_1 + (lambda_2 if b == 1 else 0.0)]
            else:
                inputs = torch.cat([student_stream, outputs[b - 1]], dim=0)
                weights = [lambda_1, lambda_2]
            out = self.blocks[b - 1](inputs)
            block_loss = 0.0
            for m in self.active_teachers:
                block_loss = block_loss + self.teacher_weights[m] * self._branch_loss(
                    m, out, b + 1, targets[m], batch_size, weights
                )
            logs[f"block_{b}"] = block_loss
            loss = loss + block_loss
            x = out[:batch_size] if len(weights) == 2 else out
        logs["loss"] = loss
        return loss, logs
