import keras
import numpy as np
import pytest
from keras import ops

from keras_dfka.layers import LabelSelect


def _numpy(x):
    return ops.convert_to_numpy(x)


X = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8]], dtype="float32")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_selection_follows_the_given_order():
    select = LabelSelect([2, 0, 3])
    np.testing.assert_allclose(
        _numpy(select(X)), [[0.3, 0.1, 0.4], [0.7, 0.5, 0.8]], atol=1e-7
    )
    assert select.compute_output_shape((None, 4)) == (None, 3)


def test_probabilities_pass_through_without_from_logits():
    for activation in ("sigmoid", "softmax"):
        select = LabelSelect([1], activation, from_logits=False)
        np.testing.assert_allclose(_numpy(select(X)), X[:, [1]], atol=1e-7)


def test_sigmoid_from_logits():
    logits = np.array([[0.0, 2.0, -3.0]], dtype="float32")
    select = LabelSelect([2, 1], "sigmoid", from_logits=True)
    np.testing.assert_allclose(
        _numpy(select(logits)), _sigmoid(logits)[:, [2, 1]], atol=1e-6
    )
    np.testing.assert_allclose(
        _numpy(LabelSelect([0, 2], "sigmoid", True)(np.zeros((1, 3), "float32"))),
        [[0.5, 0.5]],
    )


def test_softmax_from_logits_normalizes_over_all_classes():
    logits = np.array([[0.0, 0.0, 0.0, np.log(3.0)]], dtype="float32")
    select = LabelSelect([3, 0], "softmax", from_logits=True)
    # Softmax over all four classes: (1/6, 1/6, 1/6, 1/2), then pick.
    np.testing.assert_allclose(_numpy(select(logits)), [[0.5, 1 / 6]], atol=1e-6)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5)).astype("float32")
    select = LabelSelect([4, 1], "softmax", from_logits=True)
    np.testing.assert_allclose(
        _numpy(select(logits)), _softmax(logits)[:, [4, 1]], atol=1e-6
    )


def test_config_round_trip():
    select = LabelSelect(
        [3, 1], "softmax", from_logits=True, labels=["d", "b"], name="pick"
    )
    config = select.get_config()
    assert config["indices"] == [3, 1]
    assert config["activation"] == "softmax"
    assert config["from_logits"] is True
    assert config["labels"] == ["d", "b"]
    restored = LabelSelect.from_config(config)
    assert restored.name == "pick"
    assert restored.labels == ["d", "b"]
    np.testing.assert_allclose(_numpy(restored(X)), _numpy(select(X)), atol=1e-7)
    np.testing.assert_allclose(_numpy(select(X)), _softmax(X)[:, [3, 1]], atol=1e-6)
    via_registry = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(select)
    )
    assert isinstance(via_registry, LabelSelect)
    assert via_registry.indices == [3, 1]


def test_in_a_functional_model():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, LabelSelect([1, 3], "sigmoid", True)(inputs))
    assert tuple(model.output_shape) == (None, 2)
    np.testing.assert_allclose(
        model.predict(X, verbose=0), _sigmoid(X)[:, [1, 3]], atol=1e-6
    )


@pytest.mark.parametrize("indices", [[], [0, -1]])
def test_bad_indices(indices):
    with pytest.raises(ValueError, match="indices"):
        LabelSelect(indices)


def test_bad_activation():
    with pytest.raises(ValueError, match="activation"):
        LabelSelect([0], "relu")


def test_labels_must_name_each_index():
    with pytest.raises(ValueError, match="2 labels for 1 indices"):
        LabelSelect([0], labels=["a", "b"])


def test_index_beyond_input_width_raises_value_error():
    select = LabelSelect([0, 4])
    with pytest.raises(ValueError, match="indices"):
        select(X)
