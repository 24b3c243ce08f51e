import keras
import numpy as np
import pytest
from keras import ops

from keras_dfka.layers import FeatureFilter

# Shapes are shared between tests on purpose: under JAX every new weight shape
# compiles its own random initializer.


def _numpy(x):
    return ops.convert_to_numpy(x)


def _normal(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _randomize(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()]
    )


def _gate(layer, x):
    pooled = np.mean(x, axis=(1, 2)) if x.ndim == 4 else x
    return 2.0 * _numpy(ops.sigmoid(layer.excite(layer.squeeze(pooled))))


def test_identity_at_init_when_shapes_match():
    f = FeatureFilter(target_shape=(4, 4, 8))
    x = _normal((2, 4, 4, 8))
    y = _numpy(f(x))
    # The gate is exactly 2 * sigmoid(0) = 1: the output is the input.
    np.testing.assert_array_equal(y, x)
    assert f.resize is None and f.projection is None
    np.testing.assert_array_equal(_gate(f, x), np.ones((2, 8), dtype="float32"))
    # The gate is trainable: squeeze and excite kernels and biases.
    assert len(f.trainable_weights) == 4


def test_gate_is_learnable_and_bounded():
    f = FeatureFilter(target_shape=(4, 4, 8))
    x = np.abs(_normal((2, 4, 4, 8), seed=2))
    f(x)
    _randomize(f)
    gate = _gate(f, x)
    assert np.all((gate > 0) & (gate < 2))
    assert np.max(np.abs(gate - 1.0)) > 1e-3
    np.testing.assert_allclose(_numpy(f(x)), x * gate[:, None, None, :], atol=1e-5)


def test_projection_when_widths_differ():
    f = FeatureFilter(target_shape=(4, 4, 4), gate=False)
    x = _normal((2, 4, 4, 8))
    y = _numpy(f(x))
    assert y.shape == (2, 4, 4, 4)
    assert f.resize is None and f.projection is not None
    kernel, bias = f.projection.get_weights()
    assert kernel.shape == (1, 1, 8, 4)
    expected = np.einsum("bhwc,cd->bhwd", x, kernel[0, 0]) + bias
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_resize_when_spatial_sizes_differ():
    f = FeatureFilter(target_shape=(4, 4, 8), gate=False)
    x = _normal((2, 8, 8, 8))
    y = _numpy(f(x))
    assert y.shape == (2, 4, 4, 8)
    assert f.resize is not None and f.projection is None
    expected = _numpy(ops.image.resize(x, (4, 4), interpolation="bilinear"))
    np.testing.assert_allclose(y, expected, atol=1e-5)
    # A constant map stays constant under bilinear resizing.
    constant = np.full((2, 8, 8, 8), 0.25, dtype="float32")
    np.testing.assert_allclose(_numpy(f(constant)), 0.25, atol=1e-6)


def test_resize_and_project_with_gate():
    f = FeatureFilter(target_shape=(2, 2, 4))
    x = _normal((2, 4, 4, 8))
    y = _numpy(f(x))
    assert y.shape == (2, 2, 2, 4)
    assert f.compute_output_shape((None, 4, 4, 8)) == (None, 2, 2, 4)
    # At init the gate is 1: the output is the plain resize + projection.
    np.testing.assert_allclose(y, _numpy(f.projection(f.resize(x))), atol=1e-6)
    # With a trained gate, the gate scales the projected features.
    _randomize(f)
    projected = _numpy(f.projection(f.resize(x)))
    gate = _gate(f, projected)
    np.testing.assert_allclose(
        _numpy(f(x)), projected * gate[:, None, None, :], atol=1e-5
    )


def test_gate_false_has_no_gate_weights():
    f = FeatureFilter(target_shape=(4, 4, 8), gate=False)
    x = _normal((2, 4, 4, 8))
    np.testing.assert_array_equal(_numpy(f(x)), x)
    assert f.squeeze is None and f.excite is None
    assert f.weights == []
    g = FeatureFilter(target_shape=(4, 4, 4), gate=False)
    g(x)
    assert len(g.weights) == 2  # only the 1x1 projection


def test_rank_1_features():
    f = FeatureFilter(target_shape=(8,))
    x = _normal((2, 8))
    np.testing.assert_array_equal(_numpy(f(x)), x)
    np.testing.assert_array_equal(_gate(f, x), np.ones((2, 8), dtype="float32"))
    g = FeatureFilter(target_shape=(4,), gate=False)
    y = _numpy(g(x))
    assert y.shape == (2, 4)
    kernel, bias = g.projection.get_weights()
    np.testing.assert_allclose(y, x @ kernel + bias, atol=1e-5)
    h = FeatureFilter(target_shape=(4,))
    assert _numpy(h(x)).shape == (2, 4)
    assert h.compute_output_shape((None, 8)) == (None, 4)


def test_in_a_functional_model():
    inputs = keras.Input((8, 8, 8))
    outputs = FeatureFilter(target_shape=(4, 4, 4))(inputs)
    model = keras.Model(inputs, outputs)
    assert tuple(model.output_shape) == (None, 4, 4, 4)
    assert _numpy(model(_normal((2, 8, 8, 8)))).shape == (2, 4, 4, 4)


@pytest.mark.parametrize(
    "target_shape, input_shape, gate",
    [
        ((4, 4, 8), (2, 4, 4, 8), True),
        ((2, 2, 4), (2, 4, 4, 8), True),
        ((4,), (2, 8), True),
        ((2, 2, 4), (2, 4, 4, 8), False),
    ],
)
def test_config_round_trip(target_shape, input_shape, gate):
    f = FeatureFilter(target_shape=target_shape, reduction=2, gate=gate, name="f")
    x = _normal(input_shape, seed=3)
    f(x)
    if f.weights:
        _randomize(f)
    config = f.get_config()
    assert tuple(config["target_shape"]) == tuple(target_shape)
    assert config["reduction"] == 2 and config["gate"] is gate
    g = FeatureFilter.from_config(config)
    assert g.target_shape == tuple(target_shape)
    assert g.reduction == 2 and g.gate is gate
    g(x)
    g.set_weights(f.get_weights())
    np.testing.assert_allclose(_numpy(g(x)), _numpy(f(x)), atol=1e-6)
    assert g.name == "f"
    # Serialization through Keras's registry too.
    h = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(f))
    assert isinstance(h, FeatureFilter)
    assert h.target_shape == tuple(target_shape)


@pytest.mark.parametrize("target_shape", [(4, 4), (4, 4, 4, 4), (0, 4, 4), (4, 4, -1)])
def test_bad_target_shape(target_shape):
    with pytest.raises(ValueError, match="target_shape"):
        FeatureFilter(target_shape=target_shape)


@pytest.mark.parametrize("reduction", [0, 2.5, True, "4"])
def test_bad_reduction(reduction):
    # 2.5 used to be truncated to 2 without a word.
    with pytest.raises(ValueError, match="`reduction` must be an integer >= 1"):
        FeatureFilter(target_shape=(4, 4, 4), reduction=reduction)


def test_rank_mismatch_at_build():
    f = FeatureFilter(target_shape=(4, 4, 4))
    with pytest.raises(ValueError, match="rank 4"):
        f(_normal((2, 4)))
