import keras
import numpy as np
import pytest
from keras import layers
from keras import ops

import keras_dfka
from keras_dfka.models import teacher_zoo

INPUT_SHAPE = (16, 16, 3)
ATTRS = keras_dfka.LabelTask("attrs", ["a", "b", "c"], "sigmoid")
DIGIT = keras_dfka.LabelTask("digit", ["0", "1", "2"], "softmax")


def _numpy(x):
    return ops.convert_to_numpy(x)


def _randomize_batch_norm(model, seed=0):
    """Gives every BatchNorm layer non-trivial statistics and affine weights."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            width = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.3, width).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2, width).astype("float32"))
            layer.gamma.assign(rng.uniform(0.5, 1.5, width).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, width).astype("float32"))
    return model


def _small_model(tasks=(ATTRS,), name="teacher", from_logits=False, widths=(4, 8)):
    model = teacher_zoo.small_cnn(
        INPUT_SHAPE, list(tasks), widths=widths, from_logits=from_logits, name=name
    )
    return _randomize_batch_norm(model)


def _images(n=3, seed=0):
    return (
        np.random.default_rng(seed).uniform(size=(n,) + INPUT_SHAPE).astype("float32")
    )


def _predict(model, x):
    """Eager inference pass (cheaper than `predict` for tiny tests under JAX)."""
    outputs = model(x, training=False)
    if isinstance(outputs, (list, tuple)):
        return [_numpy(o) for o in outputs]
    return _numpy(outputs)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


@pytest.fixture(scope="module")
def single():
    model = _small_model(name="single")
    teacher = keras_dfka.Teacher(
        model, teacher_zoo.block_names(model), labels=ATTRS.labels
    )
    return model, teacher


@pytest.fixture(scope="module")
def plain_model():
    return _small_model(name="plain")


@pytest.fixture(scope="module")
def multi_model():
    return _small_model(tasks=(ATTRS, DIGIT), name="multi")


@pytest.fixture(scope="module")
def logits_model():
    return _small_model(tasks=(ATTRS, DIGIT), name="logits", from_logits=True)


@pytest.fixture(scope="module")
def multi(multi_model):
    model = multi_model
    teacher = keras_dfka.Teacher(
        model, teacher_zoo.block_names(model), tasks=[ATTRS, DIGIT]
    )
    return model, teacher


# ---------------------------------------------------------------------------
# Shapes, freezing, weights
# ---------------------------------------------------------------------------


def test_level_shapes(single):
    _, teacher = single
    assert teacher.level_shapes == [(16, 16, 3), (8, 8, 4), (4, 4, 8)]
    assert teacher.num_blocks == 2
    assert teacher.blocks == ["single_block1", "single_block2"]
    assert teacher.label_names == ["a", "b", "c"]
    assert teacher.name == "single"


def test_cut_at_fewer_blocks(plain_model):
    teacher = keras_dfka.Teacher(plain_model, ["plain_block1"], tasks=[ATTRS])
    # Cutting at the first block layer only: B = 1, the head holds block 2.
    assert teacher.num_blocks == 1
    assert teacher.level_shapes == [(16, 16, 3), (8, 8, 4)]
    x = _images()
    features = teacher.image_pass(x)[1]
    np.testing.assert_allclose(
        _numpy(teacher.from_level(features[0], 2)[0]),
        _predict(plain_model, x),
        atol=1e-5,
    )


def test_user_model_is_not_modified():
    model = _small_model(name="user")
    before_weights = [w.copy() for w in model.get_weights()]
    before_flags = [layer.trainable for layer in model.layers]
    before_trainable_count = len(model.trainable_weights)
    teacher = keras_dfka.Teacher(
        model, teacher_zoo.block_names(model), labels=ATTRS.labels
    )
    assert model.trainable is True
    assert [layer.trainable for layer in model.layers] == before_flags
    assert all(before_flags)
    assert len(model.trainable_weights) == before_trainable_count > 0
    after = model.get_weights()
    assert len(after) == len(before_weights)
    for a, b in zip(before_weights, after):
        np.testing.assert_array_equal(a, b)
    # The teacher holds its own variables: changing them leaves the model alone.
    assert teacher.model is not model
    teacher_var = teacher.model.weights[0]
    teacher_var.assign(teacher_var + 1.0)
    np.testing.assert_array_equal(model.get_weights()[0], before_weights[0])


def test_teacher_is_frozen_and_weights_equal_model(single):
    model, teacher = single
    assert teacher.trainable is False
    assert teacher.trainable_weights == []
    assert teacher.model.trainable_weights == []
    model_weights = model.get_weights()
    teacher_weights = teacher.model.get_weights()
    assert len(teacher_weights) == len(model_weights)
    for a, b in zip(model_weights, teacher_weights):
        np.testing.assert_array_equal(a, b)
    # BatchNorm layers are found with their (non-trivial) statistics.
    user_bn = [la for la in model.layers if isinstance(la, layers.BatchNormalization)]
    assert len(teacher.batch_norm_layers) == len(user_bn) >= 2
    assert [la.name for la in teacher.batch_norm_layers] == [la.name for la in user_bn]
    for ours, theirs in zip(teacher.batch_norm_layers, user_bn):
        assert ours is not theirs
        np.testing.assert_array_equal(
            _numpy(ours.moving_mean), _numpy(theirs.moving_mean)
        )
        np.testing.assert_array_equal(
            _numpy(ours.moving_variance), _numpy(theirs.moving_variance)
        )


# ---------------------------------------------------------------------------
# Passes
# ---------------------------------------------------------------------------


def test_image_pass_matches_model(single):
    model, teacher = single
    x = _images()
    probabilities, features, bn_inputs = teacher.image_pass(x)
    expected = _predict(model, x)
    assert len(probabilities) == 1
    np.testing.assert_allclose(_numpy(probabilities[0]), expected, atol=1e-5)
    # Level 2 and 3 features equal the block layers' outputs.
    for index, block in enumerate(teacher.blocks):
        cut = keras.Model(model.input, model.get_layer(block).output)
        np.testing.assert_allclose(_numpy(features[index]), _predict(cut, x), atol=1e-5)
        assert tuple(features[index].shape[1:]) == teacher.level_shapes[index + 1]
    assert len(bn_inputs) == len(teacher.batch_norm_layers)
    # The first BatchNorm layer's input is the first convolution's output.
    first_conv = keras.Model(model.input, model.get_layer("single_b1_conv1").output)
    np.testing.assert_allclose(_numpy(bn_inputs[0]), _predict(first_conv, x), atol=1e-5)
    # Calling the layer returns the probabilities.
    np.testing.assert_allclose(_numpy(teacher(x)[0]), expected, atol=1e-5)


def test_from_level_equals_full_pass(single):
    model, teacher = single
    x = _images(seed=1)
    expected = _predict(model, x)
    probabilities, features, _ = teacher.image_pass(x)
    for level in (2, 3):
        out = teacher.from_level(features[level - 2], level)
        np.testing.assert_allclose(_numpy(out[0]), expected, atol=1e-5)
    # Level 1 is the image itself.
    np.testing.assert_allclose(_numpy(teacher.from_level(x, 1)[0]), expected, atol=1e-5)
    # The head is the model from level B + 1.
    head_out = _as_list(teacher.head(features[-1], training=False))
    np.testing.assert_allclose(_numpy(head_out[0]), expected, atol=1e-5)


def test_from_level_chain_on_other_features(single):
    # Level 2 features fed to from_level(., 2) equal running the user's layers.
    model, teacher = single
    rng = np.random.default_rng(3)
    level2 = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    x = level2
    started = False
    for layer in model.layers:
        if started:
            x = layer(x, training=False)
        if layer.name == "single_block1":
            started = True
    np.testing.assert_allclose(
        _numpy(teacher.from_level(level2, 2)[0]), _numpy(x), atol=1e-5
    )


@pytest.mark.parametrize("level", [0, 4])
def test_from_level_rejects_out_of_range_level(single, level):
    _, teacher = single
    features = np.zeros((1, 8, 8, 4), dtype="float32")
    with pytest.raises(ValueError, match="level"):
        teacher.from_level(features, level)


def test_multi_task_teacher(multi):
    model, teacher = multi
    x = _images(seed=2)
    expected = _predict(model, x)
    probabilities, features, _ = teacher.image_pass(x)
    assert [t.name for t in teacher.tasks] == ["attrs", "digit"]
    assert teacher.label_names == ["a", "b", "c", "0", "1", "2"]
    assert [tuple(p.shape) for p in probabilities] == [(3, 3), (3, 3)]
    for ours, theirs in zip(probabilities, expected):
        np.testing.assert_allclose(_numpy(ours), theirs, atol=1e-5)
    np.testing.assert_allclose(_numpy(probabilities[1]).sum(axis=-1), 1.0, atol=1e-5)
    for level in (2, 3):
        out = teacher.from_level(features[level - 2], level)
        assert len(out) == 2
        for ours, theirs in zip(out, expected):
            np.testing.assert_allclose(_numpy(ours), theirs, atol=1e-5)


def test_tasks_as_dicts_and_single_task(plain_model):
    model = plain_model
    teacher = keras_dfka.Teacher(
        model,
        teacher_zoo.block_names(model),
        tasks={"name": "attrs", "labels": ["a", "b", "c"], "activation": "sigmoid"},
    )
    assert teacher.tasks == [ATTRS]


# ---------------------------------------------------------------------------
# Logits and input range
# ---------------------------------------------------------------------------


def test_from_logits_applies_each_activation(logits_model):
    model = logits_model
    teacher = keras_dfka.Teacher(
        model, teacher_zoo.block_names(model), tasks=[ATTRS, DIGIT], from_logits=True
    )
    x = _images(seed=4)
    logits = _predict(model, x)
    probabilities = teacher.image_pass(x)[0]
    sigmoid = 1.0 / (1.0 + np.exp(-logits[0]))
    e = np.exp(logits[1] - logits[1].max(axis=-1, keepdims=True))
    softmax = e / e.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(_numpy(probabilities[0]), sigmoid, atol=1e-5)
    np.testing.assert_allclose(_numpy(probabilities[1]), softmax, atol=1e-5)
    # from_level converts too.
    features = teacher.image_pass(x)[1]
    out = teacher.from_level(features[0], 2)
    np.testing.assert_allclose(_numpy(out[1]), softmax, atol=1e-5)


def test_task_from_logits_overrides_teacher(logits_model):
    # Logits for the attributes, probabilities (a softmax layer) for the digit.
    attrs, digit = logits_model.outputs
    digit = layers.Softmax(name="digit_softmax")(digit)
    model = keras.Model(logits_model.input, [attrs, digit], name="mixed")
    raw_digit = keras_dfka.LabelTask(
        "digit", DIGIT.labels, "softmax", from_logits=False
    )
    teacher = keras_dfka.Teacher(
        model,
        teacher_zoo.block_names(logits_model),
        tasks=[ATTRS, raw_digit],
        from_logits=True,
    )
    x = _images(seed=5)
    outputs = _predict(model, x)
    probabilities = teacher.image_pass(x)[0]
    np.testing.assert_allclose(
        _numpy(probabilities[0]), 1.0 / (1.0 + np.exp(-outputs[0])), atol=1e-5
    )
    # The overriding task is passed through untouched.
    np.testing.assert_allclose(_numpy(probabilities[1]), outputs[1], atol=1e-5)


def test_to_probabilities_hand_values(logits_model):
    model = logits_model
    teacher = keras_dfka.Teacher(
        model, teacher_zoo.block_names(model), tasks=[ATTRS, DIGIT], from_logits=True
    )
    attrs = np.array([[0.0, 100.0, -100.0]], dtype="float32")
    digit = np.array([[0.0, 0.0, np.log(2.0)]], dtype="float32")
    out = teacher.to_probabilities([attrs, digit])
    np.testing.assert_allclose(_numpy(out[0]), [[0.5, 1.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(_numpy(out[1]), [[0.25, 0.25, 0.5]], atol=1e-6)
    with pytest.raises(ValueError, match="expected 2 outputs"):
        teacher.to_probabilities([attrs])


@pytest.mark.parametrize("input_range", [(-1.0, 1.0), (0.0, 255.0)])
def test_input_range_maps_images(plain_model, input_range):
    model = plain_model
    teacher = keras_dfka.Teacher(
        model,
        teacher_zoo.block_names(model),
        labels=ATTRS.labels,
        input_range=input_range,
    )
    low, high = input_range
    x = _images(seed=6)
    np.testing.assert_allclose(
        _numpy(teacher.preprocess(x)), low + (high - low) * x, atol=1e-5
    )
    expected = _predict(model, low + (high - low) * x)
    np.testing.assert_allclose(_numpy(teacher.image_pass(x)[0][0]), expected, atol=1e-4)
    # The mapping matters: the unmapped images give other predictions.
    unmapped = _predict(model, x)
    assert np.max(np.abs(unmapped - expected)) > 1e-4


def test_bad_input_range_raises(plain_model):
    model = plain_model
    with pytest.raises(ValueError, match="input_range"):
        keras_dfka.Teacher(
            model,
            teacher_zoo.block_names(model),
            labels=ATTRS.labels,
            input_range=(1.0, 1.0),
        )


def test_config_round_trip_keeps_structure(multi):
    _, teacher = multi
    restored = keras_dfka.Teacher.from_config(teacher.get_config())
    assert restored.level_shapes == teacher.level_shapes
    assert restored.blocks == teacher.blocks
    assert restored.tasks == teacher.tasks
    assert restored.input_range == teacher.input_range
    assert restored.from_logits == teacher.from_logits


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_unknown_block_names_the_layer(plain_model):
    with pytest.raises(ValueError, match="'not_a_layer'.*not in the model"):
        keras_dfka.Teacher(
            plain_model, ["plain_block1", "not_a_layer"], labels=ATTRS.labels
        )


def test_blocks_out_of_order(plain_model):
    with pytest.raises(ValueError, match="order"):
        keras_dfka.Teacher(
            plain_model, ["plain_block2", "plain_block1"], labels=ATTRS.labels
        )


def test_repeated_block(plain_model):
    with pytest.raises(ValueError, match="must not repeat"):
        keras_dfka.Teacher(
            plain_model, ["plain_block1", "plain_block1"], labels=ATTRS.labels
        )


@pytest.mark.parametrize("blocks", [[], "plain_block1", None])
def test_blocks_must_be_a_non_empty_list(plain_model, blocks):
    with pytest.raises(ValueError, match="blocks"):
        keras_dfka.Teacher(plain_model, blocks, labels=ATTRS.labels)


def test_task_count_must_match_outputs(plain_model):
    with pytest.raises(ValueError, match="one entry per model output"):
        keras_dfka.Teacher(
            plain_model, teacher_zoo.block_names(plain_model), tasks=[ATTRS, DIGIT]
        )


def test_label_count_must_match_output_width(plain_model):
    with pytest.raises(ValueError, match=r"has 2 labels.*expected \(batch, 2\)"):
        keras_dfka.Teacher(
            plain_model, teacher_zoo.block_names(plain_model), labels=["a", "b"]
        )


def test_duplicate_task_names(multi_model):
    model = multi_model
    twin = keras_dfka.LabelTask("attrs", DIGIT.labels, "softmax")
    with pytest.raises(ValueError, match="task names must be unique"):
        keras_dfka.Teacher(model, teacher_zoo.block_names(model), tasks=[ATTRS, twin])


def test_softmax_task_with_one_label(plain_model):
    with pytest.raises(ValueError, match="softmax task needs at least 2 labels"):
        keras_dfka.Teacher(
            plain_model,
            teacher_zoo.block_names(plain_model),
            labels=["x"],
            activation="softmax",
        )


def test_neither_tasks_nor_labels(plain_model):
    with pytest.raises(ValueError, match="Received neither"):
        keras_dfka.Teacher(plain_model, teacher_zoo.block_names(plain_model))


def test_both_tasks_and_labels(plain_model):
    with pytest.raises(ValueError, match="not both"):
        keras_dfka.Teacher(
            plain_model,
            teacher_zoo.block_names(plain_model),
            tasks=[ATTRS],
            labels=ATTRS.labels,
        )


def test_two_inputs():
    a = keras.Input((8, 8, 4))
    b = keras.Input((8, 8, 4))
    x = layers.Concatenate(name="block1")([a, b])
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model([a, b], layers.Dense(3, activation="sigmoid")(x))
    with pytest.raises(ValueError, match="exactly one image input.*2 inputs"):
        keras_dfka.Teacher(model, ["block1"], labels=ATTRS.labels)


def test_not_a_functional_model():
    with pytest.raises(ValueError, match="model"):
        keras_dfka.Teacher(layers.Dense(2), ["block1"], labels=["p", "q"])


def test_skip_connection_across_block_boundary():
    image = keras.Input((8, 8, 3))
    c1 = layers.Conv2D(4, 3, padding="same", name="c1")(image)
    block = layers.ReLU(name="block1")(c1)
    c2 = layers.BatchNormalization(name="c2")(block)
    skip = layers.Add(name="skip")([c1, c2])  # c1 skips over block1
    x = layers.MaxPooling2D(2, name="block2")(skip)
    x = layers.Conv2D(8, 3, padding="same", name="c3")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(image, layers.Dense(3, activation="sigmoid")(x))
    with pytest.raises(ValueError, match="skip connection.*'block1'|'block1'.*skip"):
        keras_dfka.Teacher(model, ["block1", "block2"], labels=ATTRS.labels)
    # Boundaries outside the skip are fine.
    teacher = keras_dfka.Teacher(model, ["skip", "block2"], labels=ATTRS.labels)
    assert teacher.level_shapes == [(8, 8, 3), (8, 8, 4), (4, 4, 4)]


def test_label_priors_validation_and_task_priors():
    tasks = [
        keras_dfka.LabelTask("attrs", ["a", "b"], "sigmoid"),
        keras_dfka.LabelTask("kind", ["x", "y", "z"], "softmax"),
    ]
    model = teacher_zoo.small_cnn(INPUT_SHAPE, tasks, widths=(4, 8), name="tp")
    names = teacher_zoo.block_names(model)
    teacher = keras_dfka.Teacher(
        model, names, tasks=tasks, label_priors={"a": 0.1, "x": 0.2, "y": 0.3, "z": 0.5}
    )
    assert teacher.task_priors() == [[0.1, 0.5], [0.2, 0.3, 0.5]]
    assert keras_dfka.Teacher(model, names, tasks=tasks).task_priors() == [None, None]
    with pytest.raises(ValueError, match="label_priors"):
        keras_dfka.Teacher(model, names, tasks=tasks, label_priors={"nope": 0.5})
    with pytest.raises(ValueError, match="label_priors"):
        keras_dfka.Teacher(model, names, tasks=tasks, label_priors={"a": 1.5})
    with pytest.raises(ValueError, match="all or none"):
        keras_dfka.Teacher(model, names, tasks=tasks, label_priors={"x": 0.5})
