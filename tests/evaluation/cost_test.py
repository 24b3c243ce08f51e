import math

import keras
import numpy as np
import pytest

from keras_dfka import evaluation


def _tiny_model(name=None):
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3),  # 4 * 3 + 3 = 15
            keras.layers.BatchNormalization(),  # 4 * 3 = 12 (6 non-trainable)
            keras.layers.Dense(2),  # 3 * 2 + 2 = 8
        ],
        name=name,
    )


def test_count_params_single_model():
    assert evaluation.count_params(_tiny_model()) == 35


def test_count_params_list_and_shared_variables():
    a = _tiny_model("a")
    b = _tiny_model("b")
    assert evaluation.count_params([a, b]) == 70
    # A model sharing all of `a`'s layers adds nothing.
    inputs = keras.Input((4,))
    shared = keras.Model(inputs, a(inputs))
    assert evaluation.count_params([a, shared]) == 35
    assert evaluation.count_params((a, b, shared)) == 70


def test_count_params_rejects_bad_inputs():
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="`model_or_models` must contain only built"):
        evaluation.count_params(unbuilt)
    with pytest.raises(ValueError, match="`model_or_models`.*received an empty list"):
        evaluation.count_params([])
    with pytest.raises(ValueError, match="`model_or_models`.*received str"):
        evaluation.count_params("model")


# ---------------------------------------------------------------------------
# inference_time
# ---------------------------------------------------------------------------


def test_inference_time_on_model():
    calls = []

    class RecordingModel(keras.Sequential):
        def predict(self, x, batch_size=None, verbose="auto", **kwargs):
            calls.append((len(x), batch_size, verbose))
            return super().predict(x, batch_size=batch_size, verbose=verbose)

    model = RecordingModel([keras.Input((4,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).random((10, 4)).astype("float32")
    timing = evaluation.inference_time(model, x, batch_size=4, repeats=2, warmup=1)

    assert set(timing) == {"seconds_per_image", "images_per_second"}
    assert 0 < timing["seconds_per_image"] < 10
    assert math.isfinite(timing["images_per_second"])
    assert timing["images_per_second"] * timing["seconds_per_image"] == (
        pytest.approx(1.0)
    )
    # One warmup pass and two timed passes over all of `x`.
    assert calls == [(10, 4, 0)] * 3


def test_inference_time_on_callable_batches_input():
    batch_sizes = []

    def predict_fn(batch):
        batch_sizes.append(len(batch))
        return keras.ops.sum(batch, axis=1)

    x = np.ones((10, 3), dtype="float32")
    timing = evaluation.inference_time(predict_fn, x, batch_size=4, repeats=3)
    assert timing["seconds_per_image"] > 0
    assert timing["images_per_second"] > 0
    # (1 warmup + 3 timed passes) x batches of 4, 4, 2.
    assert batch_sizes == [4, 4, 2] * 4


def test_inference_time_rejects_bad_arguments():
    x = np.ones((4, 2))
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1"):
        evaluation.inference_time(lambda b: b, x, batch_size=0)
    with pytest.raises(ValueError, match="`repeats` must be an integer >= 1"):
        evaluation.inference_time(lambda b: b, x, repeats=1.5)
    with pytest.raises(ValueError, match="`x` must be an array with at least one"):
        evaluation.inference_time(lambda b: b, np.ones((0, 2)))
    with pytest.raises(ValueError, match="`model_or_callable`"):
        evaluation.inference_time("model", x)


# ---------------------------------------------------------------------------
# format_table
# ---------------------------------------------------------------------------
