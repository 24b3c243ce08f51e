"""A plain PyTorch reference of the stage-1 and stage-2 training steps.

The speed benchmark (`speed.py --reference=torch`) times keras-dfka's
`AmalgamGAN` and `DualGenerator` steps against what a PyTorch research
script would run: the same layers in `torch.nn` (NCHW), the same losses,
the same Adam updates, eager PyTorch (no `torch.compile` unless asked).

    ref = Stage1Reference(gan)          # gan: a keras_dfka.AmalgamGAN
    optimizer = ref.make_optimizer()    # Adam on the generator and filters
    loss, logs = ref.train_step(z, optimizer)

    ref = Stage2Reference(dual)         # dual: a keras_dfka.DualGenerator
    optimizer = ref.make_optimizer()    # Adam on the student blocks and filters
    loss, logs = ref.train_step(z, optimizer)

The torch modules are built from the Keras models, layer by layer, with their
weights (`convert_chain`, `convert_filter`): Conv2D kernels HWIO -> OIHW,
Dense kernels transposed (the rows of a Dense that feeds a Reshape are
reordered from HWC to CHW, so the torch side reshapes straight to NCHW),
BatchNormalization's gamma, beta, moving statistics and epsilon (Keras
momentum `m` is torch momentum `1 - m`), LeakyReLU slopes, nearest
`UpSampling2D`, bilinear `Resizing`, Keras's "same" padding (asymmetric for
strided convolutions: 0 before, 1 after).

Supported: the models `speed.py` builds (`teacher_zoo.small_cnn` teachers,
the group-stack generator, the default student blocks, image-like
`FeatureFilter`s), the stage-1 loss terms of `AmalgamGAN.compute_step_terms`
without label priors or `latent_targets`, and the block-wise stage-2 loss of
`DualGenerator.compute_step_loss` without fine-tuned heads. Anything else
raises a `ValueError` naming it.

Two known differences that do not touch the losses or the gradients: torch
updates a BatchNorm's moving variance with the unbiased batch variance
(Keras: the biased one), and the augmentation draws its flip and shift from
torch's generator, not Keras's (the equivalence check turns it off).

`check_stage1(gan, z)` and `check_stage2(dual, z)` compare the two on the
same weights and latent batch: every logged loss term, the gradients (under
TensorFlow) and the weights after Adam steps.

This file imports torch; keras-dfka itself never does.
"""

import contextlib
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EPSILON = 1e-7  # keras_dfka.losses.gan_losses.EPSILON

# What `check_passed` accepts, per precision of the compared models: the
# relative difference of every logged loss term, of every variable's gradient
# (`|g_keras - g_torch| / |g_keras|`) and of every variable's update after
# the Adam steps. In float32, TensorFlow's and torch's kernels round
# differently and the gradients of the BatchNorm layers fed by a two-stream
# batch (stage 2 at 64x64) differ by up to ~2e-3 (torch's float32 gradients
# are the closer to float64), and Adam, which divides by sqrt(v), turns that
# into update differences up to ~7e-3; in float64 the gradients agree to
# ~1e-7 and the updates to 1e-5 (2-core AMD EPYC, AVX2) or 3e-4 (2-core
# Intel Xeon, AVX-512: the student's last block, stage 2): an element whose
# gradient is near Adam's epsilon moves by `learning_rate * g / epsilon`, so
# its gradient's 1e-7 relative rounding reaches its update undamped. The
# 16x16 unit test (`tests/benchmarks/torch_reference_test.py`) holds the
# updates to 1e-4 in float64, which Adam's epsilon placement needs.
TOLERANCES = {
    "float32": {
        "term_relative": 1e-5,
        "gradient_relative": 1e-2,
        "update_relative": 5e-2,
    },
    "float64": {
        "term_relative": 1e-5,
        "gradient_relative": 1e-5,
        "update_relative": 1e-3,
    },
}


# ------------------------------------------------------------------ layers
def _numpy(variable, dtype="float32"):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=dtype)


def _pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


class SameConv2d(nn.Conv2d):
    """`nn.Conv2d` with Keras's (TensorFlow's) "same" padding.

    Stride 1 pads symmetrically (`padding=k // 2`); a strided convolution
    pads `total // 2` before and the rest after, as TensorFlow and XLA do.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, bias):
        kernel_size, stride = _pair(kernel_size), _pair(stride)
        symmetric = stride == (1, 1) and all(k % 2 == 1 for k in kernel_size)
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=tuple(k // 2 for k in kernel_size) if symmetric else 0,
            bias=bias,
        )
        self.symmetric = symmetric

    def forward(self, x):
        if not self.symmetric:
            pads = []
            for size, k, s in zip(
                x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]
            ):
                out = -(-size // s)
                total = max((out - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class Rescale(nn.Module):
    def __init__(self, scale, offset):
        super().__init__()
        self.scale, self.offset = float(scale), float(offset)

    def forward(self, x):
        return x * self.scale + self.offset


class Resize(nn.Module):
    def __init__(self, size, mode):
        super().__init__()
        self.size, self.mode = tuple(size), mode

    def forward(self, x):
        if self.mode == "nearest":
            return F.interpolate(x, size=self.size, mode="nearest")
        return F.interpolate(x, size=self.size, mode=self.mode, align_corners=False)


class GlobalAveragePool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3))


class ViewNCHW(nn.Module):
    def __init__(self, shape_hwc):
        super().__init__()
        h, w, c = shape_hwc
        self.shape = (c, h, w)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)


_ACTIVATIONS = {
    "linear": None,
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softmax": lambda: nn.Softmax(dim=-1),
}


def _activation_module(activation, where):
    name = getattr(activation, "__name__", activation)
    if name not in _ACTIVATIONS:
        raise ValueError(f"{where}: activation {name!r} is not supported.")
    factory = _ACTIVATIONS[name]
    return factory() if factory is not None else None


class Converter:
    """Copies Keras weights into torch tensors and remembers the pairs.

    `pairs` holds `(keras_variable, torch_tensor, to_keras)`, where
    `to_keras(array)` maps a torch-layout array back to the Keras layout (to
    compare gradients and updated weights).
    """

    def __init__(self):
        self.pairs = []
        self.to_torch = []

    def copy(self, variable, tensor, to_torch, to_keras):
        value = to_torch(_numpy(variable))
        if tuple(value.shape) != tuple(tensor.shape):
            raise ValueError(
                f"Weight {variable.path}: the torch tensor has shape "
                f"{tuple(tensor.shape)}, the converted Keras one {value.shape}."
            )
        with torch.no_grad():
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        self.pairs.append((variable, tensor, to_keras))
        self.to_torch.append(to_torch)

    def reload(self):
        """Copies the Keras weights again, at the torch tensors' precision
        (after `module.double()`, to compare float64 models)."""
        with torch.no_grad():
            for (variable, tensor, _), to_torch in zip(self.pairs, self.to_torch):
                value = to_torch(_numpy(variable, "float64"))
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    def conv2d(self, layer, where):
        if layer.data_format != "channels_last":
            raise ValueError(f"{where}: only channels_last layers are supported.")
        if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
            raise ValueError(f"{where}: dilated or grouped convolutions unsupported.")
        kernel = layer.kernel
        kh, kw, cin, cout = kernel.shape
        if layer.padding == "same":
            conv = SameConv2d(cin, cout, (kh, kw), layer.strides, layer.use_bias)
        else:
            conv = nn.Conv2d(cin, cout, (kh, kw), layer.strides, bias=layer.use_bias)
        self.copy(
            kernel,
            conv.weight,
            lambda a: a.transpose(3, 2, 0, 1),
            lambda a: a.transpose(2, 3, 1, 0),
        )
        if layer.use_bias:
            self.copy(layer.bias, conv.bias, _same, _same)
        act = _activation_module(layer.activation, where)
        return [conv] + ([act] if act is not None else [])

    def dense(self, layer, where, reshape_hwc=None):
        kernel = layer.kernel
        cin, cout = kernel.shape
        linear = nn.Linear(cin, cout, bias=layer.use_bias)
        if reshape_hwc is None:
            to_torch, to_keras = (lambda a: a.T), (lambda a: a.T)
        else:
            # Output units in HWC order -> CHW order, so that a plain view
            # gives NCHW.
            h, w, c = reshape_hwc
            order = np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).ravel()
            inverse = np.argsort(order)

            def to_torch(a, order=order):
                return a[:, order].T if a.ndim == 2 else a[order]

            def to_keras(a, inverse=inverse):
                return a.T[:, inverse] if a.ndim == 2 else a[inverse]

        self.copy(kernel, linear.weight, to_torch, to_keras)
        if layer.use_bias:
            bias_to_torch = _same if reshape_hwc is None else to_torch
            bias_to_keras = _same if reshape_hwc is None else to_keras
            self.copy(layer.bias, linear.bias, bias_to_torch, bias_to_keras)
        act = _activation_module(layer.activation, where)
        return [linear] + ([act] if act is not None else [])

    def batch_norm(self, layer, where):
        if layer.axis not in (-1, 3):
            raise ValueError(f"{where}: only channel-last BatchNormalization.")
        channels = layer.moving_mean.shape[0]
        bn = nn.BatchNorm2d(
            channels,
            eps=float(layer.epsilon),
            momentum=1.0 - float(layer.momentum),
            affine=True,
        )
        if layer.scale:
            self.copy(layer.gamma, bn.weight, _same, _same)
        else:
            bn.weight.requires_grad_(False)
        if layer.center:
            self.copy(layer.beta, bn.bias, _same, _same)
        else:
            bn.bias.requires_grad_(False)
        self.copy(layer.moving_mean, bn.running_mean, _same, _same)
        self.copy(layer.moving_variance, bn.running_var, _same, _same)
        return [bn]


def _same(a):
    return a


class Chain(nn.Module):
    """A Keras functional chain (each layer feeds the next), in torch.

    `forward(x, start, stop)` runs `layers[start:stop]` (a plain loop, as
    `nn.Sequential`); `run` also returns the outputs of chosen layers and
    the inputs of the BatchNorm layers (`bn_indices`).
    """

    def __init__(self, layers, names, bn_indices):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.names = list(names)
        self.bn_indices = list(bn_indices)

    def forward(self, x, start=0, stop=None):
        for layer in self.layers[start:stop]:
            x = layer(x)
        return x

    def run(self, x, boundaries=(), start=0):
        """Runs from `start`; returns `(out, [x after each boundary],
        [inputs of the BatchNorm layers])`."""
        outs, bn_inputs = [], []
        boundaries = set(boundaries)
        for i in range(start, len(self.layers)):
            if i in self.bn_indices:
                bn_inputs.append(x)
            x = self.layers[i](x)
            if i in boundaries:
                outs.append(x)
        return x, outs, bn_inputs


def convert_chain(model, converter):
    """Builds a `Chain` from a Keras functional model that is a chain.

    Args:
        model: a functional `keras.Model` whose layers each take the output
            of the one before.
        converter: a `Converter` (collects the weight pairs).

    Returns:
        `(chain, index)`: `index[layer_name]` is the index in `chain.layers`
        of the module that produces that Keras layer's output.
    """
    from keras import layers as kl

    modules, names, index, bn_indices = [], [], {}, []
    keras_layers = [
        layer for layer in model.layers if not isinstance(layer, kl.InputLayer)
    ]
    previous = model.inputs[0]
    for position, layer in enumerate(keras_layers):
        where = f"model '{model.name}', layer '{layer.name}'"
        if layer.input is not previous:
            raise ValueError(
                f"{where}: not a chain (its input is not the last output)."
            )
        previous = layer.output
        nxt = keras_layers[position + 1] if position + 1 < len(keras_layers) else None
        if isinstance(layer, kl.Conv2D) and type(layer) is kl.Conv2D:
            new = converter.conv2d(layer, where)
        elif isinstance(layer, kl.Dense):
            reshape = None
            if isinstance(nxt, kl.Reshape):
                reshape = tuple(nxt.target_shape)
                if len(reshape) != 3:
                    raise ValueError(f"{where}: Reshape to rank 3 only.")
            new = converter.dense(layer, where, reshape)
        elif isinstance(layer, kl.Reshape):
            if not isinstance(keras_layers[position - 1], kl.Dense):
                raise ValueError(f"{where}: a Reshape must follow a Dense.")
            new = [ViewNCHW(layer.target_shape)]
        elif isinstance(layer, kl.BatchNormalization):
            bn_indices.append(len(modules))
            new = converter.batch_norm(layer, where)
        elif isinstance(layer, kl.LeakyReLU):
            new = [nn.LeakyReLU(float(layer.negative_slope))]
        elif isinstance(layer, kl.ReLU):
            if layer.max_value is not None or layer.negative_slope or layer.threshold:
                raise ValueError(f"{where}: only the plain ReLU is supported.")
            new = [nn.ReLU()]
        elif isinstance(layer, kl.Activation):
            act = _activation_module(layer.activation, where)
            new = [act] if act is not None else []
        elif isinstance(layer, kl.UpSampling2D):
            if layer.interpolation not in ("nearest", "bilinear"):
                raise ValueError(f"{where}: interpolation {layer.interpolation!r}.")
            new = [Resize(layer.output.shape[1:3], layer.interpolation)]
        elif isinstance(layer, kl.Resizing):
            if layer.interpolation not in ("bilinear", "nearest"):
                raise ValueError(f"{where}: interpolation {layer.interpolation!r}.")
            if layer.crop_to_aspect_ratio or layer.pad_to_aspect_ratio:
                raise ValueError(f"{where}: aspect-ratio cropping or padding.")
            new = [Resize((layer.height, layer.width), layer.interpolation)]
        elif isinstance(layer, kl.Rescaling):
            new = [Rescale(layer.scale, layer.offset)]
        elif isinstance(layer, kl.MaxPooling2D):
            if layer.padding != "valid":
                raise ValueError(f"{where}: only 'valid' max pooling.")
            new = [nn.MaxPool2d(_pair(layer.pool_size), _pair(layer.strides))]
        elif isinstance(layer, kl.GlobalAveragePooling2D):
            if layer.keepdims:
                raise ValueError(f"{where}: keepdims=True is not supported.")
            new = [GlobalAveragePool()]
        else:
            raise ValueError(
                f"{where}: layer type {type(layer).__name__} is not supported by "
                "the torch reference."
            )
        modules.extend(new)
        names.extend([layer.name] * len(new))
        index[layer.name] = len(modules) - 1
    return Chain(modules, names, bn_indices), index


class FeatureFilter(nn.Module):
    """`keras_dfka.layers.FeatureFilter` (image-like features) in torch."""

    def __init__(self, layer, converter):
        super().__init__()
        where = f"FeatureFilter '{layer.name}'"
        if len(layer.target_shape) != 3:
            raise ValueError(f"{where}: only image-like (rank-3) targets.")
        self.resize = None
        if layer.resize is not None:
            if layer.resize.interpolation != "bilinear":
                raise ValueError(f"{where}: only a bilinear resize.")
            self.resize = Resize(layer.target_shape[:2], "bilinear")
        self.projection = None
        if layer.projection is not None:
            self.projection = converter.conv2d(layer.projection, where)[0]
        self.gate = bool(layer.gate)
        if self.gate:
            self.squeeze = converter.dense(layer.squeeze, where)[0]
            self.excite = converter.dense(layer.excite, where)[0]
            if getattr(layer.excite.activation, "__name__", "") != "linear":
                raise ValueError(f"{where}: the excite layer must be linear.")

    def forward(self, x):
        if self.resize is not None:
            x = self.resize(x)
        if self.projection is not None:
            x = self.projection(x)
        if not self.gate:
            return x
        pooled = x.mean(dim=(2, 3))
        gate = 2.0 * torch.sigmoid(self.excite(torch.relu(self.squeeze(pooled))))
        return x * gate[:, :, None, None]


class Teacher(nn.Module):
    """A frozen `keras_dfka.Teacher` (a chain ending in its task outputs).

    Args:
        teacher: a `keras_dfka.Teacher` whose model is a chain with one
            output (one task), `input_range=(0, 1)`.
        converter: a `Converter`.
    """

    def __init__(self, teacher, converter):
        super().__init__()
        if len(teacher.tasks) != 1:
            raise ValueError(
                f"Teacher '{teacher.name}': the torch reference supports one "
                f"task per teacher; it has {len(teacher.tasks)}."
            )
        if tuple(teacher.input_range) != (0.0, 1.0):
            raise ValueError(
                f"Teacher '{teacher.name}': the torch reference supports "
                f"input_range=(0, 1); received {teacher.input_range}."
            )
        self.chain, index = convert_chain(teacher.model, converter)
        # boundaries[l - 2]: the chain index whose output is level l.
        self.boundaries = [index[name] for name in teacher.blocks]
        self.task = teacher.tasks[0]
        self.activation = self.task.activation
        self.from_logits = teacher.task_from_logits(self.task)
        for p in self.parameters():
            p.requires_grad_(False)

    def _probabilities(self, x):
        if self.from_logits:
            x = (
                torch.softmax(x, -1)
                if self.activation == "softmax"
                else torch.sigmoid(x)
            )
        return [x]

    def image_pass(self, images):
        """`(probabilities, level 2..B+1 features, BatchNorm inputs)`."""
        out, features, bn_inputs = self.chain.run(images, self.boundaries)
        return self._probabilities(out), features, bn_inputs

    def from_level(self, features, level):
        """Blocks `level..B` and the head on level-`level` features."""
        start = self.boundaries[level - 2] + 1
        return self._probabilities(self.chain(features, start=start))

    def bn_modules(self):
        return [self.chain.layers[i] for i in self.chain.bn_indices]

    def train(self, mode=True):  # Always inference mode (frozen teacher).
        return super().train(False)


class Generator(nn.Module):
    """The group-stack generator: `z -> [image, F^2, ..., F^B]`."""

    def __init__(self, model, converter):
        super().__init__()
        self.chain, index = convert_chain(model, converter)
        by_output = {}
        for layer in model.layers:
            for i, t in enumerate(model.outputs):
                if layer.output is t:
                    by_output[i] = index[layer.name]
        self.taps = [by_output[i] for i in range(len(model.outputs))]
        if self.taps[0] != len(self.chain.layers) - 1:
            raise ValueError("The generator's first output must be its last layer.")

    def forward(self, z):
        x = z
        taps = {}
        wanted = set(self.taps)
        for i, layer in enumerate(self.chain.layers):
            x = layer(x)
            if i in wanted:
                taps[i] = x
        return [taps[i] for i in self.taps]


# ------------------------------------------------------------------ losses
def _clip(p):
    return p.clamp(EPSILON, 1.0 - EPSILON)


def _bce(t, p):
    p = _clip(p)
    return -(t * torch.log(p) + (1.0 - t) * torch.log(1.0 - p))


def _check_activations(activations):
    for a in activations:
        if a not in ("sigmoid", "softmax"):
            raise ValueError(f"Unsupported activation {a!r}.")


def one_hot_loss(predictions, activations):
    total, count = 0.0, 0
    for p, activation in zip(predictions, activations):
        if activation == "sigmoid":
            t = (p >= 0.5).float().detach()
            total = total + _bce(t, p).mean(0).sum()
            count += p.shape[-1]
        else:
            t = F.one_hot(p.argmax(-1), p.shape[-1]).float()
            total = total + (-(t * torch.log(_clip(p))).sum(-1)).mean()
            count += 1
    return total / count


def activation_loss(features):
    values = [f.abs().mean() for f in features]
    return -sum(values) / len(values)


def information_entropy_loss(predictions, activations):
    total, count = 0.0, 0
    for p, activation in zip(predictions, activations):
        mean = p.mean(0)
        if activation == "sigmoid":
            total = total + _bce(mean, mean).sum()
            count += p.shape[-1]
        else:
            m = _clip(mean)
            total = total + (-(m * torch.log(m)).sum())
            count += 1
    return -(total / count)


def discrete_loss(predictions, activations):
    total, count = 0.0, 0
    for p, activation in zip(predictions, activations):
        if activation == "sigmoid":
            total = total + p.abs().mean(0).sum()
            count += p.shape[-1]
    if count == 0:
        return torch.zeros(())
    return total / count


def _norm(x):
    return torch.sqrt((x * x).sum() + 1e-12)


def batch_norm_statistics_loss(bn_inputs, bn_modules):
    if not bn_modules:
        return torch.zeros(())
    total = 0.0
    for x, bn in zip(bn_inputs, bn_modules):
        mean = x.mean(dim=(0, 2, 3))
        variance = ((x - mean[None, :, None, None]) ** 2).mean(dim=(0, 2, 3))
        total = total + _norm(mean - bn.running_mean) + _norm(variance - bn.running_var)
    return total / len(bn_modules)


def total_variation_loss(images):
    dh = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean()
    dw = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean()
    return dh + dw


def _soften(p, activation, temperature):
    p = _clip(p)
    if activation == "sigmoid":
        return torch.sigmoid((torch.log(p) - torch.log(1.0 - p)) / temperature)
    return torch.softmax(torch.log(p) / temperature, dim=-1)


def soft_cross_entropy(predictions, targets, activations, temperature=1.0):
    total, count = 0.0, 0
    for p, t, activation in zip(predictions, targets, activations):
        t = t.detach()
        if temperature != 1.0:
            p = _soften(p, activation, temperature)
            t = _soften(t, activation, temperature)
        if activation == "sigmoid":
            total = total + _bce(t, p).mean(0).sum()
            count += p.shape[-1]
        else:
            log_p = torch.log(p.clamp(EPSILON, 1.0))
            total = total + (-(t * log_p).sum(-1)).mean()
            count += 1
    return total / count * (temperature**2)


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
        _check_activations(gan.activations)
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


# ------------------------------------------------------------ equivalence
@contextlib.contextmanager
def keras_precision(dtype):
    """Builds Keras models at `dtype` inside the block (`floatx` and the
    global dtype policy, both restored after)."""
    import keras

    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def _relative(a, b):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    norm = float(np.linalg.norm(a))
    if norm == 0.0:
        return float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / norm


def _keras_gradients(model, z):
    """The loss, logs and gradients of `model.compute_step_loss(z,
    training=True)` (gradients only under TensorFlow; else None)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, logs = model.compute_step_loss(z, training=True)
        gradients = tape.gradient(loss, model.trainable_variables)
        gradients = [
            np.zeros(v.shape, "float64") if g is None else np.asarray(g, "float64")
            for g, v in zip(gradients, model.trainable_variables)
        ]
        return loss, logs, gradients
    loss, logs = model.compute_step_loss(z, training=True)
    return loss, logs, None


def _check(model, reference, zs):
    """Compares a Keras trainer and its torch reference. Returns a report."""
    import keras

    trainable = list(model.trainable_variables)
    dtype = keras.backend.standardize_dtype(trainable[0].dtype)
    if dtype == "float64":
        reference.double()
        reference.converter.reload()
    pairs = {id(v): (t, back) for v, t, back in reference.converter.pairs}
    missing = [v.path for v in trainable if id(v) not in pairs]
    if missing:
        raise ValueError(f"Trainable variables without a torch twin: {missing[:5]}")
    zs = [np.asarray(z, dtype) for z in zs]
    loss, logs, gradients = _keras_gradients(model, keras.ops.convert_to_tensor(zs[0]))
    reference.train()
    reference.zero_grad(set_to_none=True)
    t_loss, t_logs = reference.compute_step_loss(torch.from_numpy(zs[0]))
    t_loss.backward()
    terms = {}
    for name, value in logs.items():
        k = float(keras.ops.convert_to_numpy(value))
        t = float(t_logs[name].detach())
        terms[name] = {
            "keras": k,
            "torch": t,
            "relative_difference": abs(k - t) / max(abs(k), 1e-12),
        }
    report = {"dtype": dtype, "batch_size": int(zs[0].shape[0]), "terms": terms}
    report["max_term_relative_difference"] = max(
        t["relative_difference"] for t in terms.values()
    )
    if gradients is not None:
        per_variable = {}
        for v, g in zip(trainable, gradients):
            tensor, back = pairs[id(v)]
            tg = tensor.grad
            tg = np.zeros(v.shape) if tg is None else back(tg.double().numpy())
            per_variable[v.path] = {
                "keras_norm": float(np.linalg.norm(g)),
                "torch_norm": float(np.linalg.norm(tg)),
                "relative_difference": _relative(g, tg),
            }
        report["gradients"] = per_variable
        report["max_gradient_relative_difference"] = max(
            g["relative_difference"] for g in per_variable.values()
        )
    # Adam steps on both sides (a fresh torch optimizer: the Keras trainer is
    # compiled and has not stepped yet).
    optimizer = reference.make_optimizer()
    initial = {id(v): _numpy(v, "float64") for v in trainable}
    for z in zs:
        model.train_on_batch(z)
        reference.train_step(torch.from_numpy(z), optimizer)
    worst, worst_path, updates = 0.0, None, {}
    for v in trainable:
        tensor, back = pairs[id(v)]
        k = _numpy(v, "float64")
        t = back(tensor.detach().double().numpy())
        diff = float(np.max(np.abs(k - t)))
        if diff > worst:
            worst, worst_path = diff, v.path
        # The Adam updates, compared as whole tensors: Adam divides by
        # sqrt(v), so a near-zero gradient's rounding noise can change its
        # element's update by up to the learning rate.
        updates[v.path] = _relative(k - initial[id(v)], t - initial[id(v)])
    report["adam_steps"] = len(zs)
    report["weights_max_abs_difference"] = worst
    report["weights_worst_variable"] = worst_path
    report["update_relative_difference"] = updates
    report["max_update_relative_difference"] = max(updates.values())
    return report


def _latents(latent_dim, batch_size, steps, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch_size, latent_dim)) for _ in range(steps)]


def check_stage1(gan, batch_size=8, steps=2, seed=0):
    """Compares `AmalgamGAN` and `Stage1Reference` on the same weights.

    The augmentation is off on both sides; the generator's BatchNorm runs in
    training mode. The GAN must be compiled and not yet trained (its Adam
    state is compared with a fresh torch one). A GAN built with
    `keras.config.floatx() == "float64"` is compared with a float64
    reference (the losses themselves still compute in float32).

    Args:
        gan: a compiled `keras_dfka.AmalgamGAN`.
        batch_size: int, the latent batch.
        steps: int, the Adam steps compared (one latent batch each).
        seed: int, the seed of the latent batches.

    Returns:
        A dict: `terms` (per logged term: both values and the relative
        difference), `gradients` (per trainable variable: both norms and
        the relative difference `|g_keras - g_torch| / |g_keras|`;
        TensorFlow only), after `steps` Adam steps the relative difference
        of each variable's update and the largest absolute weight
        difference, and the maxima `max_term_relative_difference`,
        `max_gradient_relative_difference`, `max_update_relative_difference`.
    """
    augment = gan.augment
    gan.augment = False
    try:
        reference = Stage1Reference(gan, augment=False)
        zs = _latents(gan.latent_dim, batch_size, steps, seed)
        return _check(gan, reference, zs)
    finally:
        gan.augment = augment


def check_stage2(dual, batch_size=8, steps=2, seed=0):
    """Compares `DualGenerator` and `Stage2Reference` on the same weights
    (see `check_stage1`)."""
    reference = Stage2Reference(dual)
    zs = _latents(dual.latent_dim, batch_size, steps, seed)
    return _check(dual, reference, zs)


def check_passed(report, tolerances=None):
    """Whether a `check_stage1` / `check_stage2` report is within
    `tolerances` (default `TOLERANCES[report["dtype"]]`)."""
    tolerances = dict(TOLERANCES[report["dtype"]], **(tolerances or {}))
    ok = report["max_term_relative_difference"] <= tolerances["term_relative"]
    if "max_gradient_relative_difference" in report:
        ok = ok and (
            report["max_gradient_relative_difference"]
            <= tolerances["gradient_relative"]
        )
    return ok and (
        report["max_update_relative_difference"] <= tolerances["update_relative"]
    )
