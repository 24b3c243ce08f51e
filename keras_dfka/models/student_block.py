"""The default block of the student trunk (the dual generator's `T^b`)."""

import keras
from keras import layers

from keras_dfka.utils.validation import check_int


def build_student_block(
    input_shape,
    output_shape,
    convs_per_block=2,
    hidden_width_multiplier=1.0,
    name="block",
    min_hidden_width=4,
):
    """A default dual-generator block `T^b`: shared level `b` -> level `b+1`.

    For image-like outputs: `convs_per_block - 1` stride-1 `Conv3x3 +
    BatchNorm + ReLU` layers at `hidden_width_multiplier * output width`, then a
    strided `Conv3x3 + BatchNorm + ReLU` to the output width (stride = the
    spatial reduction; a resize first when it is not a whole number). For
    vector outputs: the same convolutions, global average pooling and a dense
    layer with ReLU. The widths at block boundaries are the shared widths,
    set by `AmalgamGAN(feature_width_multiplier=...)`: that is the compression.

    Args:
        input_shape: shared level-`b` shape without the batch axis.
        output_shape: shared level-`b+1` shape without the batch axis.
        convs_per_block: int >= 1.
        hidden_width_multiplier: float > 0, the width of the extra
            convolutions relative to the output width.
        name: the block's name.
        min_hidden_width: int >= 1, the smallest width of the extra
            convolutions (they are `max(min_hidden_width, round(output
            width * hidden_width_multiplier))` wide).

    Returns:
        A functional `keras.Model`.
    """
    convs_per_block = check_int(convs_per_block, "convs_per_block", 1)
    inputs = keras.Input(input_shape, name=f"{name}_input")
    out_channels = output_shape[-1]
    min_hidden_width = check_int(min_hidden_width, "min_hidden_width", 1)
    hidden = max(min_hidden_width, int(round(out_channels * hidden_width_multiplier)))
    x = inputs
    for c in range(1, convs_per_block):
        x = layers.Conv2D(
            hidden, 3, padding="same", use_bias=False, name=f"{name}_conv{c}"
        )(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn{c}")(x)
        x = layers.ReLU(name=f"{name}_relu{c}")(x)
    if len(output_shape) == 1:
        x = layers.Conv2D(
            hidden, 3, padding="same", use_bias=False, name=f"{name}_conv_last"
        )(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn_last")(x)
        x = layers.ReLU(name=f"{name}_relu_last")(x)
        x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
        x = layers.Dense(out_channels, name=f"{name}_dense")(x)
        x = layers.ReLU(name=f"{name}_out")(x)
        return keras.Model(inputs, x, name=name)
    in_hw, out_hw = input_shape[:2], output_shape[:2]
    stride = (in_hw[0] // max(1, out_hw[0]), in_hw[1] // max(1, out_hw[1]))
    exact = min(stride) >= 1 and all(
        i == o * s for i, o, s in zip(in_hw, out_hw, stride)
    )
    if not exact:
        x = layers.Resizing(*out_hw, interpolation="bilinear", name=f"{name}_resize")(x)
        stride = (1, 1)
    x = layers.Conv2D(
        out_channels,
        3,
        strides=stride,
        padding="same",
        use_bias=False,
        name=f"{name}_conv_last",
    )(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn_last")(x)
    x = layers.ReLU(name=f"{name}_out")(x)
    return keras.Model(inputs, x, name=name)
