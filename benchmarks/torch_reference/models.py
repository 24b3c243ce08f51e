"""The torch twins of the Keras models: `convert_chain` (a functional model
whose layers each feed the next), `FeatureFilter`, `Teacher` (frozen) and
the group-stack `Generator`."""

import torch
from torch import nn

from benchmarks.torch_reference.layers import GlobalAveragePool
from benchmarks.torch_reference.layers import Rescale
from benchmarks.torch_reference.layers import Resize
from benchmarks.torch_reference.layers import ViewNCHW
from benchmarks.torch_reference.layers import activation_module
from benchmarks.torch_reference.layers import pair


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
            act = activation_module(layer.activation, where)
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
            new = [nn.MaxPool2d(pair(layer.pool_size), pair(layer.strides))]
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
