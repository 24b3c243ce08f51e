"""Teachers built on `keras.applications` models (nested in the user's
model), `propose_blocks`, and teachers of different architectures in one
amalgamation. Tiny inputs (32x32) and untrained weights (`weights=None`)."""

import keras
import numpy as np
import pytest
from conftest import BACKEND
from keras import layers
from keras import ops

import keras_dfka
from keras_dfka.models.model_graph import flatten_model
from keras_dfka.models.model_graph import has_nested_models

SHAPE = (32, 32, 3)
LABELS = ["a", "b", "c"]
# Each architecture, and the pixel range its model takes (the models with
# their preprocessing inside take [0, 255]; MobileNetV2 and ResNet50 are
# fed as the user's preprocessing would leave them).
APPLICATIONS = {
    "mobilenet_v2": (
        lambda: keras.applications.MobileNetV2(
            weights=None, include_top=False, input_shape=SHAPE, alpha=0.35
        ),
        (-1.0, 1.0),
    ),
    "mobilenet_v3_small": (
        lambda: keras.applications.MobileNetV3Small(
            weights=None, include_top=False, input_shape=SHAPE, alpha=0.75
        ),
        (0.0, 255.0),
    ),
    "resnet50": (
        lambda: keras.applications.ResNet50(
            weights=None, include_top=False, input_shape=SHAPE
        ),
        (-1.0, 1.0),
    ),
    "efficientnet_b0": (
        lambda: keras.applications.EfficientNetB0(
            weights=None, include_top=False, input_shape=SHAPE
        ),
        (0.0, 255.0),
    ),
}
EXPECTED_BLOCKS = {
    "mobilenet_v2": [
        "block_1_expand_relu",
        "block_3_expand_relu",
        "block_6_expand_relu",
        "block_13_expand_relu",
        "out_relu",
    ],
    "resnet50": [
        "conv1_relu",
        "conv2_block3_out",
        "conv3_block4_out",
        "conv4_block6_out",
        "conv5_block3_out",
    ],
    "efficientnet_b0": [
        "block2a_expand_activation",
        "block3a_expand_activation",
        "block4a_expand_activation",
        "block6a_expand_activation",
        "top_activation",
    ],
}


def _randomize_batch_norm(model, seed=0):
    """Non-trivial BatchNorm statistics, so copying them is checked."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            width = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.1, width).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.8, 1.2, width).astype("float32"))


def classifier(name, seed=0):
    """The user's model: a keras.applications base called as a layer."""
    keras.utils.set_random_seed(seed)
    build, _ = APPLICATIONS[name]
    base = build()
    _randomize_batch_norm(base, seed)
    inputs = keras.Input(SHAPE, name=f"{name}_image")
    x = base(inputs)
    x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    outputs = layers.Dense(len(LABELS), activation="sigmoid", name=f"{name}_out")(x)
    return keras.Model(inputs, outputs, name=name)


def _images(n=2, seed=0):
    return np.random.default_rng(seed).uniform(size=(n,) + SHAPE).astype("float32")


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


# Under JAX, eager calls of these large graphs run op by op (each op
# compiled on first use): minutes per architecture, so JAX checks one.
CHECKED = ["mobilenet_v2"] if BACKEND == "jax" else sorted(APPLICATIONS)


@pytest.fixture(scope="module", params=CHECKED)
def application(request):
    """`(name, model, teacher)` with the last 3 proposed blocks."""
    name = request.param
    model = classifier(name)
    blocks = keras_dfka.propose_blocks(model, num_blocks=3)
    teacher = keras_dfka.Teacher(
        model, blocks, labels=LABELS, input_range=APPLICATIONS[name][1]
    )
    return name, model, teacher


def test_teacher_on_a_nested_application_matches_the_model(application):
    name, model, teacher = application
    assert has_nested_models(model)
    assert not has_nested_models(teacher.model)
    low, high = teacher.input_range
    images = _images()
    expected = _numpy(model(low + (high - low) * images, training=False))
    probabilities = _numpy(teacher(images)[0])
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    # Each block boundary is a cut: the rest of the network from it gives
    # the same outputs.
    _, features, _ = teacher.image_pass(images)
    for level, feature in enumerate(features, start=2):
        from_level = _numpy(teacher.from_level(feature, level)[0])
        np.testing.assert_allclose(from_level, expected, atol=1e-5)
    # The user's model is left as it was (its layers called once more: no).
    assert all(len(layer._inbound_nodes) == 1 for layer in model.layers)


def test_proposed_blocks_are_the_stage_ends(application):
    name, model, teacher = application
    proposed = keras_dfka.propose_blocks(model)
    if name in EXPECTED_BLOCKS:
        assert proposed == EXPECTED_BLOCKS[name]
    assert teacher.blocks == proposed[-3:]
    # Each stage end is smaller than the one before it.
    sizes = [shape[0] for shape in teacher.level_shapes]
    assert sizes == sorted(sizes, reverse=True)
    assert len(set(sizes)) == len(sizes)


def test_nested_teacher_config_round_trip(application):
    name, _, teacher = application
    # EfficientNetB0 has preprocessing layers inside; one is enough.
    if name != ("efficientnet_b0" if "efficientnet_b0" in CHECKED else CHECKED[0]):
        pytest.skip("checked on one architecture")
    restored = keras_dfka.Teacher.from_config(teacher.get_config())
    assert restored.blocks == teacher.blocks
    assert restored.level_shapes == teacher.level_shapes
    # The config holds the architecture; the weights travel as a layer's do.
    restored.set_weights(teacher.get_weights())
    images = _images(seed=1)
    np.testing.assert_allclose(
        _numpy(restored(images)[0]), _numpy(teacher(images)[0]), atol=1e-6
    )


def _tiny_base(name="base"):
    image = keras.Input((16, 16, 3), name=f"{name}_image")
    x = layers.Rescaling(1 / 127.5, offset=-1, name="rescaling")(image)
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv_a")(x)
    skip = x
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_b")(x)
    x = layers.Add(name="add")([x, skip])
    inner = keras.Sequential(
        [layers.Conv2D(8, 3, strides=2, padding="same"), layers.ReLU(name="relu")],
        name="inner",
    )
    x = inner(x)
    return keras.Model(image, x, name=name)


def test_flatten_names_paths_and_preprocessing_in_front():
    """A user's Rescaling in front of a base that has its own `rescaling`:
    the inner copy is renamed, and its path names it."""
    base = _tiny_base()
    inputs = keras.Input((16, 16, 3))
    x = layers.Rescaling(255.0, name="rescaling")(inputs)
    x = base(x)
    x = layers.Conv2D(8, 3, strides=2, padding="same", name="top")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, layers.Dense(2, name="out")(x), name="user")
    flat, paths = flatten_model(model)
    names = [layer.name for layer in flat.layers]
    assert "rescaling" in names and "base_rescaling" in names
    assert paths["base/rescaling"] == "base_rescaling"
    assert paths["base/inner/relu"] == "relu"
    assert all(len(layer._inbound_nodes) == 1 for layer in flat.layers)
    images = _images(seed=2)[:, :16, :16]
    np.testing.assert_allclose(
        _numpy(flat(images)), _numpy(model(images)), rtol=1e-5, atol=1e-5
    )
    assert keras_dfka.propose_blocks(model) == ["add", "relu", "top"]
    teacher = keras_dfka.Teacher(
        model, ["base/add", "base/inner/relu"], labels=["p", "q"], from_logits=True
    )
    assert teacher.blocks == ["add", "relu"]
    assert teacher.level_shapes[1:] == [(8, 8, 4), (4, 4, 8)]


def test_a_skip_connection_is_never_a_proposed_cut():
    base = _tiny_base()
    flat, _ = flatten_model(base, copy_weights=False)
    # `conv_a` is at 8x8 but its output is read again by `add`.
    assert "conv_a" not in keras_dfka.propose_blocks(flat)


def test_unknown_nested_block_names_the_path_form():
    base = _tiny_base()
    inputs = keras.Input((16, 16, 3))
    x = layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, layers.Dense(2, activation="sigmoid")(x))
    with pytest.raises(ValueError, match="'<model>/<layer>'.*'nope'|'nope'.*path"):
        keras_dfka.Teacher(model, ["nope"], labels=["p", "q"])


@pytest.mark.parametrize(
    "num_blocks, message",
    [
        (0, "`num_blocks` must be None or an integer >= 1. Received: num_blocks=0"),
        (2.0, "Received: num_blocks=2.0"),
        (9, "`num_blocks` must be at most 2: .* Received: num_blocks=9"),
    ],
)
def test_propose_blocks_refuses_bad_num_blocks(num_blocks, message):
    base = _tiny_base()
    inputs = keras.Input((16, 16, 3))
    x = layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, layers.Dense(2)(x))
    with pytest.raises(ValueError, match=message):
        keras_dfka.propose_blocks(model, num_blocks=num_blocks)


def test_propose_blocks_without_stage_ends():
    inputs = keras.Input((8,))
    model = keras.Model(inputs, layers.Dense(2)(layers.Dense(4)(inputs)))
    with pytest.raises(ValueError, match="no stage end to propose"):
        keras_dfka.propose_blocks(model)
    with pytest.raises(ValueError, match="`model` must be a functional"):
        keras_dfka.propose_blocks("model")


@pytest.mark.skipif(
    BACKEND == "jax", reason="minutes under JAX (compiling ResNet50's gradient)"
)
def test_two_architectures_in_one_amalgamation():
    """A MobileNetV2 and a ResNet50 teacher (3 blocks each) in one
    AmalgamGAN: the filters resize and project per teacher, the shared
    widths are capped, and a few steps give finite losses."""
    teachers = []
    for name in ("mobilenet_v2", "resnet50"):
        model = classifier(name)
        blocks = keras_dfka.propose_blocks(model, num_blocks=3)
        teachers.append(
            keras_dfka.Teacher(
                model,
                blocks,
                labels=[f"{name}_{label}" for label in LABELS],
                input_range=APPLICATIONS[name][1],
                name=name,
            )
        )
    assert [t.level_shapes[1][-1] for t in teachers] == [96, 512]
    gan = keras_dfka.AmalgamGAN(teachers, latent_dim=8, max_feature_width=64)
    # ResNet50's 512, 1024 and 2048 channels, halved and capped.
    assert gan.level_shapes == [SHAPE, (4, 4, 64), (2, 2, 64), (1, 1, 64)]
    # Eager steps cost less than tracing these graphs, but under JAX.
    gan.compile(jit_compile=False, run_eagerly=BACKEND != "jax")
    noise = keras_dfka.datasets.LatentNoise(8, batch_size=4, steps=2)
    history = gan.fit(noise, epochs=1, verbose=0)
    for name, values in history.history.items():
        assert np.all(np.isfinite(values)), name
    assert gan.generate(2).shape == (2,) + SHAPE


@pytest.mark.slow  # Minutes on a 2-core CPU (both stages trace two large teachers).
@pytest.mark.skipif(BACKEND != "tensorflow", reason="one backend is enough")
def test_two_architectures_through_the_pipeline():
    """`keras_dfka.amalgamate` from a MobileNetV2 and an EfficientNetB0
    teacher to a TargetNet, a couple of steps."""
    teachers = []
    for name in ("mobilenet_v2", "efficientnet_b0"):
        model = classifier(name)
        teachers.append(
            keras_dfka.Teacher(
                model,
                keras_dfka.propose_blocks(model, num_blocks=2),
                labels=[f"{name}_{label}" for label in LABELS],
                input_range=APPLICATIONS[name][1],
                name=name,
            )
        )
    config = keras_dfka.AmalgamationConfig(
        schedule="sequential",
        gan_steps=2,
        dual_steps=2,
        batch_size=4,
        latent_dim=8,
        max_feature_width=32,
        verbose=0,
        jit_compile=False,
    )
    result = keras_dfka.amalgamate(
        teachers, ["mobilenet_v2_a", "efficientnet_b0_c"], config
    )
    labels = result.target_net.predict_labels(_images())
    assert labels.shape == (2, 2) and np.all(np.isfinite(labels))


def test_nested_teacher_with_adapted_normalization_saves_and_loads(tmp_path):
    """An adapted `Normalization` inside the nested model: its statistics are
    copied into the flat graph, and survive a `.keras` round trip."""
    rng = np.random.default_rng(3)
    image = keras.Input((16, 16, 3))
    normalization = layers.Normalization(name="normalization")
    normalization.adapt(rng.uniform(0, 255, (8, 16, 16, 3)).astype("float32"))
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv")(
        normalization(image)
    )
    base = keras.Model(image, layers.ReLU(name="relu")(x), name="base")
    inputs = keras.Input((16, 16, 3))
    x = layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, layers.Dense(2, activation="sigmoid")(x))
    teacher = keras_dfka.Teacher(
        model, ["relu"], labels=["p", "q"], input_range=(0.0, 255.0)
    )
    images = _images(seed=4)[:, :16, :16]
    expected = _numpy(model(255.0 * images))
    np.testing.assert_allclose(_numpy(teacher(images)[0]), expected, atol=1e-5)
    wrapper_input = keras.Input((16, 16, 3))
    wrapper = keras.Model(wrapper_input, teacher(wrapper_input))
    wrapper.save(tmp_path / "teacher.keras")
    loaded = keras.saving.load_model(tmp_path / "teacher.keras")
    np.testing.assert_allclose(
        _numpy(keras_dfka.utils.as_list(loaded(images))[0]), expected, atol=1e-5
    )


def test_shared_top_level_layer_and_sequential_user_model():
    """A top-level layer called twice gets one copy per call; a Sequential
    user model around a nested base is inlined too."""
    x = _images(seed=5)[:, :16, :16]
    base = _tiny_base()
    shared = layers.Conv2D(8, 1, name="shared")
    inputs = keras.Input((16, 16, 3))
    y = shared(shared(base(inputs)))
    y = layers.GlobalAveragePooling2D()(y)
    model = keras.Model(inputs, layers.Dense(2, activation="sigmoid")(y))
    teacher = keras_dfka.Teacher(model, ["add"], labels=["p", "q"])
    names = [layer.name for layer in teacher.model.layers]
    assert "shared" in names and "shared_2" in names
    np.testing.assert_allclose(
        _numpy(teacher(x)[0]), _numpy(model(x)), rtol=1e-5, atol=1e-5
    )
    sequential = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            base,
            layers.GlobalAveragePooling2D(),
            layers.Dense(2, activation="sigmoid"),
        ]
    )
    teacher = keras_dfka.Teacher(sequential, ["add", "relu"], labels=["p", "q"])
    np.testing.assert_allclose(
        _numpy(teacher(x)[0]), _numpy(sequential(x)), rtol=1e-5, atol=1e-5
    )
