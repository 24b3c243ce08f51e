"""Builders for the group-stack generator and the shared feature space."""

import math

import keras
import numpy as np
from keras import layers

from keras_dfka.utils.validation import check_float
from keras_dfka.utils.validation import check_widths

# The default cap of the shared widths computed from the multiplier.
DEFAULT_MAX_FEATURE_WIDTH = 256


def shared_level_shapes(
    teachers,
    feature_width_multiplier=0.5,
    feature_widths=None,
    max_feature_width=DEFAULT_MAX_FEATURE_WIDTH,
):
    """The shared feature space: one shape per level `1..B+1`.

    Level 1 is the image (all teachers take the same input shape). For levels
    `2..B+1` the spatial size is the largest of the teachers' and the width is
    `feature_widths[l - 2]` when given, else
    `min(max_feature_width, max(8, round(feature_width_multiplier * w)))`
    with `w` the largest of the teachers' widths at that level. The cap keeps
    wide teachers (ResNet50's 2048-channel stage) from making the generator
    and the student as wide: the teacher-level filters project the shared
    features to each teacher's own width anyway. Teachers up to
    `max_feature_width / feature_width_multiplier` channels wide (512 with
    the defaults) are not affected.

    Args:
        teachers: list of `keras_dfka.Teacher` with the same number of blocks.
        feature_width_multiplier: float > 0.
        feature_widths: optional list of `B` ints, the widths of levels
            `2..B+1` (the cap does not apply to them).
        max_feature_width: int >= 8 or None (no cap), the largest width of a
            level computed from the multiplier (default 256).

    Returns:
        A list of `B + 1` shape tuples without the batch axis.
    """
    check_float(feature_width_multiplier, "feature_width_multiplier", 0, exclusive=True)
    check_max_feature_width(max_feature_width)
    num_blocks = teachers[0].num_blocks
    if feature_widths is not None:
        feature_widths = check_widths(feature_widths)
        if len(feature_widths) != num_blocks or min(feature_widths) <= 0:
            raise ValueError(
                f"`feature_widths` must hold {num_blocks} positive widths (one "
                f"per level 2..{num_blocks + 1}). Received: {feature_widths}"
            )
    shapes = [teachers[0].level_shapes[0]]
    for level in range(2, num_blocks + 2):
        teacher_shapes = [t.level_shapes[level - 1] for t in teachers]
        ranks = {len(s) for s in teacher_shapes}
        if len(ranks) != 1:
            raise ValueError(
                f"All teachers' level-{level} features must have the same rank "
                f"(all image-like or all vectors). Received shapes "
                f"{teacher_shapes}"
            )
        width = max(s[-1] for s in teacher_shapes)
        if feature_widths is not None:
            width = feature_widths[level - 2]
        else:
            width = max(8, int(round(width * feature_width_multiplier)))
            if max_feature_width is not None:
                width = min(width, max_feature_width)
        if ranks == {1}:
            shapes.append((width,))
        else:
            height = max(s[0] for s in teacher_shapes)
            wide = max(s[1] for s in teacher_shapes)
            shapes.append((height, wide, width))
    return shapes


def check_max_feature_width(max_feature_width):
    """Checks `max_feature_width`: None or an int >= 8."""
    if max_feature_width is not None and (
        isinstance(max_feature_width, bool)
        or not isinstance(max_feature_width, (int, np.integer))
        or max_feature_width < 8
    ):
        raise ValueError(
            "`max_feature_width` must be None or an integer >= 8 (the "
            f"smallest shared width). Received: max_feature_width={max_feature_width!r}"
        )
    return None if max_feature_width is None else int(max_feature_width)


def _upsample(x, target_hw, name):
    height, width = x.shape[1], x.shape[2]
    if (height, width) == tuple(target_hw):
        return x
    fy, fx = target_hw[0] / height, target_hw[1] / width
    if fy == int(fy) and fx == int(fx) and fy >= 1 and fx >= 1:
        return layers.UpSampling2D(size=(int(fy), int(fx)), name=name)(x)
    return layers.Resizing(*target_hw, interpolation="bilinear", name=name)(x)


def _grow(x, target_hw, filters, name):
    """Upsamples `x` to `target_hw` at most 2x at a time.

    While more than a doubling is left on both axes, one intermediate group
    `{name}_up{i}` doubles the size (`UpSampling2D(2)` + conv block) with
    `max(filters, width // 2**i)` channels, `width` being `x`'s; the last
    step (2x or less, or a bilinear resize for other factors) is
    `{name}_upsample`, followed by the caller's own block. A jump of 2x or
    less (every `teacher_zoo` model) adds no intermediate group.
    """
    width = x.shape[-1]
    step = 0
    while x.shape[1] * 2 < target_hw[0] and x.shape[2] * 2 < target_hw[1]:
        step += 1
        x = layers.UpSampling2D(size=2, name=f"{name}_up{step}_upsample")(x)
        x = _conv_block(x, max(filters, width // 2**step), f"{name}_up{step}")
    return _upsample(x, target_hw, f"{name}_upsample")


def _conv_block(x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(
        x
    )
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act")(x)


def build_group_stack_generator(level_shapes, latent_dim, name="generator"):
    """Builds the group-stack generator `G = G^1..G^B` (paper Eq. 2).

    `G^1(z)` produces level `B`; `G^j` maps level `B-j+2` to level `B-j+1`;
    `G^B` outputs the image (level 1) in `[0, 1]`. Each group is
    `UpSampling2D + Conv2D + BatchNorm + LeakyReLU` (upsampling plus
    convolution, not `Conv2DTranspose`, whose gradients are much slower under
    JAX on CPU). A group whose level is more than twice the size of the one
    before (MobileNetV2's 28x28 stage below a 224x224 image: 8x) first
    doubles the size in intermediate groups `group_<g>_up<i>`, each
    `UpSampling2D(2) + Conv2D + BatchNorm + LeakyReLU`, so no convolution
    sees a map blown up more than 2x. The image group ends with a `3x3`
    convolution and `(tanh + 1) / 2`.

    Args:
        level_shapes: the shared shapes of levels `1..B+1` (see
            `shared_level_shapes`); levels `1..B` must be image-like.
        latent_dim: int > 0.
        name: the model's name.

    Returns:
        A functional `keras.Model` from `z` of shape `(batch, latent_dim)` to
        the list `[image, level_2, ..., level_B]` (ascending levels). With
        `B = 1`, Keras returns the image tensor itself when the model is
        called; `keras_dfka.utils.as_list` normalizes both cases.
    """
    num_blocks = len(level_shapes) - 1
    for level, shape in enumerate(level_shapes[:num_blocks], start=1):
        if len(shape) != 3:
            raise ValueError(
                "The generator synthesizes levels 1..B, which must be "
                f"image-like (height, width, channels); level {level} has "
                f"shape {shape}."
            )
    z = keras.Input((latent_dim,), name="z")
    top = level_shapes[num_blocks - 1]
    start_hw = (max(1, math.ceil(top[0] / 2)), max(1, math.ceil(top[1] / 2)))
    x = layers.Dense(
        start_hw[0] * start_hw[1] * top[2], use_bias=False, name="group_1_dense"
    )(z)
    x = layers.Reshape(start_hw + (top[2],), name="group_1_reshape")(x)
    x = layers.BatchNormalization(name="group_1_dense_bn")(x)
    x = layers.LeakyReLU(negative_slope=0.2, name="group_1_dense_act")(x)
    x = _upsample(x, top[:2], "group_1_upsample")
    x = _conv_block(x, top[2], "group_1")
    features = {num_blocks: x}
    for group in range(2, num_blocks + 1):
        level = num_blocks - group + 1
        shape = level_shapes[level - 1]
        if level > 1:
            x = _grow(x, shape[:2], shape[2], f"group_{group}")
            x = _conv_block(x, shape[2], f"group_{group}")
            features[level] = x
        else:
            hidden = max(16, level_shapes[1][2] // 2 if num_blocks > 1 else 32)
            x = _grow(x, shape[:2], hidden, f"group_{group}")
            x = _conv_block(x, hidden, f"group_{group}")
            x = layers.Conv2D(shape[2], 3, padding="same", name=f"group_{group}_rgb")(x)
            x = layers.Activation("tanh", name=f"group_{group}_tanh")(x)
            x = layers.Rescaling(0.5, offset=0.5, name="image")(x)
            features[1] = x
    if num_blocks == 1:
        # One group: level 1 is produced directly from the dense projection.
        shape = level_shapes[0]
        x = _upsample(features[1], shape[:2], "group_1_image_upsample")
        x = layers.Conv2D(shape[2], 3, padding="same", name="group_1_rgb")(x)
        x = layers.Activation("tanh", name="group_1_tanh")(x)
        features = {1: layers.Rescaling(0.5, offset=0.5, name="image")(x)}
    outputs = [features[level] for level in range(1, num_blocks + 1)]
    return keras.Model(z, outputs, name=name)
