import keras
import numpy as np
import pytest
from keras import layers
from keras import ops

import keras_dfka
from keras_dfka.models import teacher_zoo
from keras_dfka.models.group_stack_generator import build_group_stack_generator
from keras_dfka.models.group_stack_generator import shared_level_shapes

INPUT_SHAPE = (16, 16, 3)


def _numpy(x):
    return ops.convert_to_numpy(x)


def _teacher(widths, name, task=None, input_shape=INPUT_SHAPE):
    task = task or keras_dfka.LabelTask(f"{name}_task", ["p", "q", "r"], "sigmoid")
    model = teacher_zoo.small_cnn(input_shape, [task], widths=widths, name=name)
    return keras_dfka.Teacher(model, teacher_zoo.block_names(model), tasks=[task])


def _strided_teacher(name="strided"):
    """A 3-block teacher whose level 2 keeps the full 16x16 resolution."""
    image = keras.Input(INPUT_SHAPE)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="s1")(image)
    x = layers.Conv2D(8, 3, strides=4, padding="same", name="s2")(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="s3")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3, activation="sigmoid")(x)
    model = keras.Model(image, outputs, name=name)
    return keras_dfka.Teacher(model, ["s1", "s2", "s3"], labels=["u", "v", "w"])


def _z(n, latent_dim, seed=0):
    return np.random.default_rng(seed).normal(size=(n, latent_dim)).astype("float32")


@pytest.fixture(scope="module")
def teacher_a():
    return _teacher((4, 8, 16), "teacher_a")


@pytest.fixture(scope="module")
def teacher_b():
    task = keras_dfka.LabelTask("digit", ["zero", "one", "two"], "softmax")
    return _teacher((8, 16, 16), "teacher_b", task=task)


@pytest.fixture(scope="module")
def teacher_b2():
    return _teacher((4, 8), "teacher_b2")


@pytest.fixture(scope="module")
def teacher_b4():
    return _teacher((4, 8, 8, 16), "teacher_b4")


@pytest.fixture(scope="module")
def strided():
    return _strided_teacher()


@pytest.fixture(scope="module")
def gan(teacher_a, teacher_b):
    return keras_dfka.AmalgamGAN(
        [teacher_a, teacher_b],
        latent_dim=8,
        loss_weights={"total_variation": 0.5},
    )


# ---------------------------------------------------------------------------
# shared_level_shapes
# ---------------------------------------------------------------------------


def test_shared_level_shapes_feature_width_multiplier(teacher_a, teacher_b):
    assert teacher_a.level_shapes == [(16, 16, 3), (8, 8, 4), (4, 4, 8), (2, 2, 16)]
    assert teacher_b.level_shapes == [(16, 16, 3), (8, 8, 8), (4, 4, 16), (2, 2, 16)]
    # Widths per level: max over teachers (8, 16, 16), times the multiplier,
    # at least 8.
    assert shared_level_shapes([teacher_a, teacher_b]) == [
        (16, 16, 3),
        (8, 8, 8),
        (4, 4, 8),
        (2, 2, 8),
    ]
    assert shared_level_shapes(
        [teacher_a, teacher_b], feature_width_multiplier=1.0
    ) == [
        (16, 16, 3),
        (8, 8, 8),
        (4, 4, 16),
        (2, 2, 16),
    ]
    assert shared_level_shapes([teacher_a, teacher_b], feature_width_multiplier=2.0)[
        1:
    ] == [
        (8, 8, 16),
        (4, 4, 32),
        (2, 2, 32),
    ]
    assert shared_level_shapes([teacher_b], feature_width_multiplier=1.5)[1:] == [
        (8, 8, 12),
        (4, 4, 24),
        (2, 2, 24),
    ]
    # The floor of 8 channels.
    assert shared_level_shapes([teacher_a], feature_width_multiplier=0.25)[1:] == [
        (8, 8, 8),
        (4, 4, 8),
        (2, 2, 8),
    ]


def test_shared_level_shapes_feature_widths(teacher_a, teacher_b):
    shapes = shared_level_shapes([teacher_a, teacher_b], feature_widths=[5, 3, 7])
    assert shapes == [(16, 16, 3), (8, 8, 5), (4, 4, 3), (2, 2, 7)]
    # feature_widths override the multiplier.
    assert (
        shared_level_shapes(
            [teacher_a, teacher_b],
            feature_width_multiplier=4.0,
            feature_widths=(5, 3, 7),
        )
        == shapes
    )


def test_shared_level_shapes_largest_spatial_size(teacher_a, strided):
    # Level 2: 16x16 (strided teacher) beats 8x8; levels 3 and 4 agree.
    assert strided.level_shapes == [(16, 16, 3), (16, 16, 8), (4, 4, 8), (2, 2, 8)]
    shapes = shared_level_shapes([teacher_a, strided], feature_width_multiplier=2.0)
    assert shapes == [(16, 16, 3), (16, 16, 16), (4, 4, 16), (2, 2, 32)]


@pytest.mark.parametrize("multiplier", [0.0, -0.5])
def test_shared_level_shapes_bad_multiplier(teacher_a, multiplier):
    with pytest.raises(ValueError, match="feature_width_multiplier"):
        shared_level_shapes([teacher_a], feature_width_multiplier=multiplier)


@pytest.mark.parametrize(
    "feature_widths", [[8, 8], [8, 8, 8, 8], [8, 0, 8], [8, -2, 8]]
)
def test_shared_level_shapes_bad_feature_widths(teacher_a, feature_widths):
    with pytest.raises(ValueError, match="`feature_widths` must hold 3 positive"):
        shared_level_shapes([teacher_a], feature_widths=feature_widths)


class _WideTeacher:
    """Stands for a teacher: `shared_level_shapes` reads only its shapes."""

    def __init__(self, level_shapes):
        self.level_shapes = level_shapes
        self.num_blocks = len(level_shapes) - 1


def test_shared_level_shapes_cap_wide_teachers():
    # ResNet50's stage ends at 224x224, and a narrow MobileNetV2.
    resnet = _WideTeacher(
        [(224, 224, 3), (56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 2048)]
    )
    mobilenet = _WideTeacher(
        [(224, 224, 3), (56, 56, 144), (28, 28, 192), (14, 14, 576), (7, 7, 1280)]
    )
    assert shared_level_shapes([resnet, mobilenet]) == [
        (224, 224, 3),
        (56, 56, 128),
        (28, 28, 256),
        (14, 14, 256),
        (7, 7, 256),
    ]
    assert shared_level_shapes([resnet], max_feature_width=None)[1:] == [
        (56, 56, 128),
        (28, 28, 256),
        (14, 14, 512),
        (7, 7, 1024),
    ]
    assert [s[-1] for s in shared_level_shapes([resnet], max_feature_width=64)] == [
        3,
        64,
        64,
        64,
        64,
    ]
    # Explicit widths are not capped.
    widths = shared_level_shapes([resnet], feature_widths=[512, 512, 512, 512])
    assert [s[-1] for s in widths[1:]] == [512, 512, 512, 512]


@pytest.mark.parametrize("cap", [4, 0, 2.5, True, "256"])
def test_shared_level_shapes_bad_cap(teacher_a, cap):
    with pytest.raises(ValueError, match="`max_feature_width` must be None or an int"):
        shared_level_shapes([teacher_a], max_feature_width=cap)


def test_small_teachers_are_below_the_cap(teacher_a, teacher_b):
    assert shared_level_shapes(
        [teacher_a, teacher_b], max_feature_width=None
    ) == shared_level_shapes([teacher_a, teacher_b])


# ---------------------------------------------------------------------------
# build_group_stack_generator
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["teacher_b2", "teacher_a", "teacher_b4"])
def test_generator_mirrors_shared_level_shapes(fixture, request):
    teacher = request.getfixturevalue(fixture)
    num_blocks = teacher.num_blocks
    assert num_blocks == {"teacher_b2": 2, "teacher_a": 3, "teacher_b4": 4}[fixture]
    shapes = shared_level_shapes([teacher], feature_widths=[8] * num_blocks)
    assert shapes == teacher.level_shapes[:1] + [
        s[:2] + (8,) for s in teacher.level_shapes[1:]
    ]
    generator = build_group_stack_generator(shapes, latent_dim=8)
    # Outputs: image first, then levels 2..B (level B + 1 is not generated).
    assert len(generator.outputs) == num_blocks
    assert [tuple(o.shape[1:]) for o in generator.outputs] == shapes[:num_blocks]
    outputs = generator(_z(4, 8) * 5.0, training=False)
    assert [tuple(o.shape) for o in outputs] == [(4,) + s for s in shapes[:num_blocks]]
    image = _numpy(outputs[0])
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image.std() > 0.0
    # Upsampling plus convolution, never Conv2DTranspose.
    assert not any(isinstance(la, layers.Conv2DTranspose) for la in generator.layers)
    assert any(isinstance(la, layers.UpSampling2D) for la in generator.layers)


def test_generator_one_block():
    generator = build_group_stack_generator([(8, 8, 3), (4, 4, 8)], latent_dim=8)
    assert len(generator.outputs) == 1
    assert tuple(generator.outputs[0].shape[1:]) == (8, 8, 3)
    image = generator(_z(4, 8), training=False)
    image = _numpy(image[0] if isinstance(image, (list, tuple)) else image)
    assert image.shape == (4, 8, 8, 3)
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_generator_one_block_outputs_as_list():
    from keras_dfka.utils import as_list

    generator = build_group_stack_generator([(8, 8, 3), (4, 4, 8)], latent_dim=8)
    outputs = as_list(generator(_z(4, 8), training=False))
    assert len(outputs) == 1
    assert tuple(outputs[0].shape) == (4, 8, 8, 3)


@pytest.fixture(scope="module")
def teacher_one_block():
    return _teacher((8,), "teacher_one", input_shape=(8, 8, 3))


def test_gan_one_block_generate_shape(teacher_one_block):
    gan = keras_dfka.AmalgamGAN([teacher_one_block], latent_dim=8)
    assert "intermediate" not in gan.loss_names
    assert gan.generate(4).shape == (4, 8, 8, 3)


def test_gan_one_block_step_loss(teacher_one_block):
    gan = keras_dfka.AmalgamGAN([teacher_one_block], latent_dim=8)
    loss, _ = gan.compute_step_loss(_z(4, 8))
    assert np.isfinite(float(_numpy(loss)))


def test_generator_rejects_vector_levels():
    with pytest.raises(ValueError, match="image-like"):
        build_group_stack_generator([(8, 8, 3), (16,), (8,)], latent_dim=4)


# ---------------------------------------------------------------------------
# AmalgamGAN with heterogeneous teachers
# ---------------------------------------------------------------------------


def test_gan_level_shapes_and_generator(gan, teacher_a, teacher_b):
    assert gan.num_blocks == 3
    assert gan.level_shapes == shared_level_shapes([teacher_a, teacher_b])
    assert gan.activations == ["sigmoid", "softmax"]
    images = gan.generate(4, seed=1)
    assert images.shape == (4, 16, 16, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0
    again = gan.generate(4, seed=1)
    np.testing.assert_array_equal(images, again)


def test_gan_filters_map_to_each_teacher_level_shape(gan, teacher_a, teacher_b):
    assert len(gan.filters) == 2
    for m, teacher in enumerate([teacher_a, teacher_b]):
        assert len(gan.filters[m]) == gan.num_blocks - 1  # levels 2..B
        for level in range(2, gan.num_blocks + 1):
            layer = gan.filters[m][level - 2]
            assert layer.name.startswith("filter_")
            shared = gan.level_shapes[level - 1]
            x = np.random.default_rng(level).normal(size=(4,) + shared)
            out = layer(x.astype("float32"))
            assert tuple(out.shape) == (4,) + teacher.level_shapes[level - 1]
    # Widths: teacher a's level 2 (4) and teacher b's level 3 (16) differ from
    # the shared width 8 and are projected; the others match.
    assert gan.filters[0][0].projection is not None
    assert gan.filters[0][1].projection is None
    assert gan.filters[1][0].projection is None
    assert gan.filters[1][1].projection is not None
    assert all(f.resize is None for row in gan.filters for f in row)


def test_gan_filters_resize_spatial_sizes(teacher_a, strided):
    gan = keras_dfka.AmalgamGAN([teacher_a, strided], latent_dim=8)
    assert gan.level_shapes[1][:2] == (16, 16)
    # teacher a's level 2 is 8x8: its filter resizes 16x16 to 8x8.
    layer = gan.filters[0][0]
    assert layer.resize is not None
    out = layer(np.zeros((4,) + gan.level_shapes[1], dtype="float32"))
    assert tuple(out.shape) == (4, 8, 8, 4)
    assert gan.filters[1][0].resize is None
    for m, teacher in enumerate([teacher_a, strided]):
        for level in range(2, 4):
            assert (
                gan.filters[m][level - 2].compute_output_shape(
                    (None,) + gan.level_shapes[level - 1]
                )
                == (None,) + teacher.level_shapes[level - 1]
            )


def test_gan_without_filter_gates(teacher_a, teacher_b):
    gan = keras_dfka.AmalgamGAN([teacher_a, teacher_b], latent_dim=8, use_filters=False)
    layer = gan.filters[0][0]
    assert layer.gate is False and layer.squeeze is None
    # Only the projection where the widths differ; the others have no weights.
    assert len(layer.weights) == 2
    assert gan.filters[0][1].weights == []
    x = np.random.default_rng(0).normal(size=(4,) + gan.level_shapes[2])
    x = x.astype("float32")
    np.testing.assert_array_equal(_numpy(gan.filters[0][1](x)), x)


def test_gan_step_loss_is_finite(gan, teacher_a, teacher_b):
    teacher_weights = [
        [w.copy() for w in t.model.get_weights()] for t in (teacher_a, teacher_b)
    ]
    loss, logs = gan.compute_step_loss(_z(4, 8), training=True)
    loss = float(_numpy(loss))
    assert np.isfinite(loss)
    assert list(logs) == gan.loss_names
    assert set(gan.loss_names) == {
        "loss",
        "one_hot",
        "activation",
        "information_entropy",
        "discrete",
        "intermediate",
        "batch_norm",
        "total_variation",
    }
    values = {name: float(_numpy(v)) for name, v in logs.items()}
    assert all(np.isfinite(v) for v in values.values())
    # The loss is the weighted sum of its terms.
    weighted = sum(
        gan.loss_weights[name] * value
        for name, value in values.items()
        if name != "loss"
    )
    assert loss == pytest.approx(weighted, rel=1e-5)
    assert values["loss"] == pytest.approx(loss)
    assert values["activation"] <= 0.0 and values["information_entropy"] <= 0.0
    assert values["batch_norm"] > 0.0 and values["intermediate"] > 0.0
    # The frozen teachers are unchanged by a training-mode pass (BatchNorm
    # statistics included).
    for teacher, before in zip((teacher_a, teacher_b), teacher_weights):
        for a, b in zip(before, teacher.model.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_gan_paper_loss_weights_terms(teacher_a, teacher_b):
    gan = keras_dfka.AmalgamGAN(
        [teacher_a, teacher_b], latent_dim=8, loss_weights="paper"
    )
    assert gan.loss_weights["batch_norm"] == 0.0
    assert "batch_norm" not in gan.loss_names
    assert "total_variation" not in gan.loss_names
    loss, logs = gan.compute_step_loss(_z(4, 8, seed=1))
    assert np.isfinite(float(_numpy(loss)))
    assert set(logs) == {
        "loss",
        "one_hot",
        "activation",
        "information_entropy",
        "discrete",
        "intermediate",
    }


def test_gan_config_round_trip(teacher_a, teacher_b):
    gan = keras_dfka.AmalgamGAN(
        [teacher_a, teacher_b],
        latent_dim=8,
        feature_widths=[8, 8, 12],
        loss_weights={"batch_norm": 0.5, "discrete": 0.0, "information_entropy": 5},
        name="round_trip",
    )
    restored = keras_dfka.AmalgamGAN.from_config(gan.get_config())
    assert restored.level_shapes == gan.level_shapes
    assert restored.level_shapes[1:] == [(8, 8, 8), (4, 4, 8), (2, 2, 12)]
    assert restored.latent_dim == 8
    assert restored.feature_widths == [8, 8, 12]
    assert restored.loss_weights == gan.loss_weights
    assert restored.loss_weights["batch_norm"] == 0.5
    assert restored.loss_weights["discrete"] == 0.0
    assert restored.loss_weights["information_entropy"] == 5.0
    assert restored.get_config()["loss_weights"] == gan.get_config()["loss_weights"]
    assert restored.name == "round_trip"
    assert [t.name for t in restored.teachers] == ["teacher_a", "teacher_b"]
    assert [t.level_shapes for t in restored.teachers] == [
        teacher_a.level_shapes,
        teacher_b.level_shapes,
    ]


# ---------------------------------------------------------------------------
# AmalgamGAN errors
# ---------------------------------------------------------------------------


def test_gan_teachers_with_different_block_counts(teacher_a, teacher_b2):
    with pytest.raises(ValueError, match="'teacher_a': 3, 'teacher_b2': 2"):
        keras_dfka.AmalgamGAN([teacher_a, teacher_b2], latent_dim=4)


def test_gan_teachers_with_different_input_shapes(teacher_b2):
    small = _teacher((4, 8), "small_input", input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="same input shape"):
        keras_dfka.AmalgamGAN([teacher_b2, small], latent_dim=4)


@pytest.mark.parametrize("latent_dim", [0, -1, 2.5, True, "8", None])
def test_gan_bad_latent_dim(teacher_a, latent_dim):
    with pytest.raises(ValueError, match="latent_dim"):
        keras_dfka.AmalgamGAN([teacher_a], latent_dim=latent_dim)


def test_gan_numpy_integer_latent_dim(teacher_a):
    gan = keras_dfka.AmalgamGAN([teacher_a], latent_dim=np.int64(8))
    assert gan.latent_dim == 8 and isinstance(gan.latent_dim, int)


def test_gan_unknown_loss_weight_key(teacher_a):
    with pytest.raises(ValueError, match="unknown term 'one_hot_loss'"):
        keras_dfka.AmalgamGAN(
            [teacher_a], latent_dim=4, loss_weights={"one_hot_loss": 1.0}
        )


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_gan_bad_loss_weight_value(teacher_a, value):
    with pytest.raises(ValueError, match="discrete"):
        keras_dfka.AmalgamGAN(
            [teacher_a], latent_dim=4, loss_weights={"discrete": value}
        )


def test_gan_unknown_loss_weights_name(teacher_a):
    with pytest.raises(ValueError, match="`loss_weights` must be one of"):
        keras_dfka.AmalgamGAN([teacher_a], latent_dim=4, loss_weights="fast")


def test_gan_config_saved_before_the_renames_loads(teacher_a):
    gan = keras_dfka.AmalgamGAN([teacher_a], latent_dim=4, loss_weights="paper")
    config = gan.get_config()
    config["width_multiplier"] = config.pop("feature_width_multiplier")
    config["preset"], config["loss_weights"] = "paper", {"discrete": 0.0}
    restored = keras_dfka.AmalgamGAN.from_config(config)
    assert restored.feature_width_multiplier == gan.feature_width_multiplier
    assert restored.loss_weights == {**gan.loss_weights, "discrete": 0.0}


@pytest.mark.parametrize("teachers", [[], None])
def test_gan_empty_teachers(teachers):
    with pytest.raises(ValueError, match="non-empty list"):
        keras_dfka.AmalgamGAN(teachers, latent_dim=4)


def test_gan_non_teacher_entry(teacher_a):
    with pytest.raises(ValueError, match=r"teachers\[1\]"):
        keras_dfka.AmalgamGAN([teacher_a, "teacher_b"], latent_dim=4)


def test_gan_duplicate_teacher_or_task_names(teacher_a):
    with pytest.raises(ValueError, match="Teacher names must be unique"):
        keras_dfka.AmalgamGAN([teacher_a, teacher_a], latent_dim=4)
    # Same network under another name, same task name.
    clash = keras_dfka.Teacher(
        teacher_a.model, teacher_a.blocks, tasks=teacher_a.tasks, name="clash"
    )
    with pytest.raises(ValueError, match="Task names must be unique"):
        keras_dfka.AmalgamGAN([teacher_a, clash], latent_dim=4)


@pytest.mark.parametrize(
    "sizes",
    [
        (224, 112, 56, 28, 14, 7),  # ResNet50 / MobileNetV2 at 224x224
        (96, 48, 24, 12, 6, 3),
        (150, 75, 38, 19, 10, 5),  # odd sizes: resizing, not upsampling
    ],
)
def test_generator_image_size_of_large_teachers(sizes):
    """5 blocks (the last ends at the smallest size): the generator makes
    levels 1..5 at the teacher's sizes, the image at full size."""
    shapes = [(sizes[0], sizes[0], 3)] + [(s, s, 8) for s in sizes[1:]]
    generator = build_group_stack_generator(shapes, latent_dim=4)
    assert [tuple(o.shape[1:]) for o in generator.outputs] == shapes[:-1]


def test_generator_grows_large_jumps_2x_at_a_time():
    # Levels 1/8 and 1/16 of the image (MobileNetV2's deepest stage ends):
    # the image group doubles 4 -> 8 -> 16 in intermediate groups, then 32.
    shapes = [(32, 32, 3), (4, 4, 16), (2, 2, 32)]
    generator = build_group_stack_generator(shapes, latent_dim=8)
    names = [la.name for la in generator.layers]
    assert [n for n in names if "_up" in n and n.endswith("_conv")] == [
        "group_2_up1_conv",
        "group_2_up2_conv",
    ]
    for layer in generator.layers:
        if isinstance(layer, layers.UpSampling2D):
            assert layer.size == (2, 2), layer.name
        if layer.name == "group_2_up1_conv":
            # Half the incoming width, never below the group's own (16).
            assert tuple(layer.output.shape[1:]) == (8, 8, 16)
        if layer.name == "group_2_up2_conv":
            assert tuple(layer.output.shape[1:]) == (16, 16, 16)
    outputs = generator(_z(2, 8), training=False)
    assert [tuple(o.shape) for o in outputs] == [(2, 32, 32, 3), (2, 4, 4, 16)]


def test_generator_non_integer_jump_ends_with_a_resize():
    shapes = [(30, 30, 3), (4, 4, 16), (2, 2, 16)]
    generator = build_group_stack_generator(shapes, latent_dim=8)
    names = [la.name for la in generator.layers]
    assert "group_2_up2_conv" in names and "group_2_up3_conv" not in names
    resize = generator.get_layer("group_2_upsample")
    assert isinstance(resize, layers.Resizing)
    assert tuple(resize.input.shape[1:3]) == (16, 16)
    image = generator(_z(2, 8), training=False)[0]
    assert tuple(image.shape) == (2, 30, 30, 3)


def test_generator_of_2x_levels_has_no_intermediate_groups(teacher_a):
    generator = build_group_stack_generator(
        shared_level_shapes([teacher_a]), latent_dim=8
    )
    assert not [
        la.name
        for la in generator.layers
        if "_up" in la.name and "_upsample" not in la.name
    ]
