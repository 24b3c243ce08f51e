"""Under the torch backend, `export_model` refuses every format up front,
naming the backends that export it."""

import keras
import pytest
from conftest import BACKEND

from keras_dfka.deployment import export_model

pytestmark = pytest.mark.skipif(BACKEND != "torch", reason="the torch refusals")


@pytest.mark.parametrize("format", ["saved_model", "litert", "onnx"])
def test_every_format_is_refused_naming_a_backend(tmp_path, format):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    output = tmp_path / ("target.onnx" if format == "onnx" else "target")
    if format == "litert":
        output = tmp_path / "target.tflite"
    with pytest.raises(ValueError, match="cannot be exported on the 'torch' backend"):
        export_model(model, str(output), format=format)
    assert not output.exists()
