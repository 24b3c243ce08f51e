"""Torch layers with Keras's semantics, and `Converter`, which copies Keras
weights into them (HWIO -> OIHW kernels, transposed Dense kernels, BatchNorm
statistics) and remembers each pair to compare gradients and weights."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------ layers
def keras_numpy(variable, dtype="float32"):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=dtype)


def pair(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


class SameConv2d(nn.Conv2d):
    """`nn.Conv2d` with Keras's (TensorFlow's) "same" padding.

    Stride 1 pads symmetrically (`padding=k // 2`); a strided convolution
    pads `total // 2` before and the rest after, as TensorFlow and XLA do.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, bias):
        kernel_size, stride = pair(kernel_size), pair(stride)
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


def activation_module(activation, where):
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
        value = to_torch(keras_numpy(variable))
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
                value = to_torch(keras_numpy(variable, "float64"))
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
            self.copy(layer.bias, conv.bias, identity, identity)
        act = activation_module(layer.activation, where)
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
            bias_to_torch = identity if reshape_hwc is None else to_torch
            bias_to_keras = identity if reshape_hwc is None else to_keras
            self.copy(layer.bias, linear.bias, bias_to_torch, bias_to_keras)
        act = activation_module(layer.activation, where)
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
            self.copy(layer.gamma, bn.weight, identity, identity)
        else:
            bn.weight.requires_grad_(False)
        if layer.center:
            self.copy(layer.beta, bn.bias, identity, identity)
        else:
            bn.bias.requires_grad_(False)
        self.copy(layer.moving_mean, bn.running_mean, identity, identity)
        self.copy(layer.moving_variance, bn.running_var, identity, identity)
        return [bn]


def identity(a):
    return a
