"""`FeatureFilter`: the teacher-level filter `f_m^l` (paper Eq. 9)."""

import keras
from keras import ops

from keras_dfka.utils.validation import check_int


@keras.saving.register_keras_serializable(package="keras_dfka")
class FeatureFilter(keras.layers.Layer):
    """Maps shared level-`l` features to one teacher's level-`l` space.

    Paper (Eq. 9): a light channel gate of global pooling and two dense layers
    (squeeze-and-excitation). Beyond the paper, when the teacher's spatial size
    or width differs from the shared space, the filter first resizes
    (bilinear) and projects (1x1 convolution), so heterogeneous teachers work.

    Pseudocode, for image-like features:

    ```
    x = resize(x, target_hw)            # only if the sizes differ
    x = conv1x1(x, target_channels)     # only if the widths differ
    gate = 2 * sigmoid(dense2(relu(dense1(global_mean(x)))))
    return x * gate
    ```

    `dense2` starts at zero, so a new filter's gate is exactly 1 and the filter
    starts as the identity (or as the plain projection). With `gate=False`
    the filter is only the resize and projection (the "no teacher-level
    filters" ablation). Rank-1 (vector) features use a dense projection.

    Args:
        target_shape: the teacher's level-`l` shape without the batch axis,
            `(height, width, channels)` or `(channels,)`.
        reduction: int, the squeeze ratio of the gate's hidden layer.
        gate: bool, whether to use the channel gate.
        **kwargs: standard layer arguments.

    Example:

    ```python
    f = keras_dfka.layers.FeatureFilter(target_shape=(16, 16, 64))
    y = f(keras.random.normal((2, 16, 16, 32)))  # (2, 16, 16, 64)
    ```

    Reference:
        Ye et al., "Data-Free Knowledge Amalgamation via Group-Stack
        Dual-GAN", CVPR 2020, Eq. 9; Hu et al., "Squeeze-and-Excitation
        Networks", CVPR 2018.
    """

    def __init__(self, target_shape, reduction=4, gate=True, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(int(d) for d in target_shape)
        if len(target_shape) not in (1, 3) or min(target_shape) <= 0:
            raise ValueError(
                "`target_shape` must be (height, width, channels) or "
                f"(channels,) with positive sizes. Received: {target_shape}"
            )
        self.target_shape = target_shape
        self.reduction = check_int(reduction, "reduction", 1)
        self.gate = bool(gate)
        channels = target_shape[-1]
        self.resize = None
        self.projection = None
        self.squeeze = None
        self.excite = None
        hidden = max(channels // self.reduction, 4)
        if self.gate:
            self.squeeze = keras.layers.Dense(hidden, activation="relu", name="squeeze")
            self.excite = keras.layers.Dense(
                channels, kernel_initializer="zeros", name="excite"
            )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != len(self.target_shape) + 1:
            raise ValueError(
                f"FeatureFilter '{self.name}' expects inputs of rank "
                f"{len(self.target_shape) + 1} to match target_shape "
                f"{self.target_shape}. Received input shape {input_shape}"
            )
        channels = self.target_shape[-1]
        if len(self.target_shape) == 3:
            if tuple(input_shape[1:3]) != self.target_shape[:2]:
                self.resize = keras.layers.Resizing(
                    *self.target_shape[:2], interpolation="bilinear", name="resize"
                )
            if input_shape[-1] != channels:
                self.projection = keras.layers.Conv2D(channels, 1, name="projection")
                self.projection.build(input_shape[:-1] + (input_shape[-1],))
        elif input_shape[-1] != channels:
            self.projection = keras.layers.Dense(channels, name="projection")
            self.projection.build(input_shape)
        if self.gate:
            self.squeeze.build((input_shape[0], channels))
            self.excite.build((input_shape[0], self.squeeze.units))
        self.built = True

    def call(self, inputs):
        x = inputs
        if self.resize is not None:
            x = self.resize(x)
        if self.projection is not None:
            x = self.projection(x)
        if not self.gate:
            return x
        if len(self.target_shape) == 3:
            pooled = ops.mean(x, axis=(1, 2))
            gate = 2.0 * ops.sigmoid(self.excite(self.squeeze(pooled)))
            return x * gate[:, None, None, :]
        gate = 2.0 * ops.sigmoid(self.excite(self.squeeze(x)))
        return x * gate

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.target_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "target_shape": self.target_shape,
                "reduction": self.reduction,
                "gate": self.gate,
            }
        )
        return config
