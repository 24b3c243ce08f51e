"""keras_dfka.deployment.export_model and `keras-dfka export` on a tiny
TargetNet: every format answers like the Keras model within 1e-4."""

import importlib.util
import os

import keras
import numpy as np
import pytest
from conftest import BACKEND
from conftest import shared_data_dir

import keras_dfka
from keras_dfka.cli import main
from keras_dfka.deployment import export as export_module
from keras_dfka.deployment import export_model

HAS_ONNX = all(
    importlib.util.find_spec(m) for m in export_module.FORMAT_MODULES["onnx"]
)
ON_TENSORFLOW = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="litert and onnx export on TensorFlow only"
)
OUTPUTS = {"saved_model": "target", "litert": "target.tflite", "onnx": "target.onnx"}
# Keras exports these formats from TensorFlow and JAX; under torch every
# format is refused (`export_torch_test.py`).
pytestmark = pytest.mark.skipif(
    BACKEND not in ("tensorflow", "jax"),
    reason="export_model runs on the tensorflow and jax backends",
)


@pytest.fixture(scope="module")
def target_net(tiny_teachers):
    keras.utils.set_random_seed(1)
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=16)
    gan.compile()
    dual = keras_dfka.DualGenerator(gan, ["blue", "is_bright", "green_most"])
    dual.compile()
    return keras_dfka.TargetNet.from_dual(dual)


def _check_round_trip(target_net, tmp_path, format, images=None):
    output = str(tmp_path / OUTPUTS[format])
    result = export_model(target_net, output, format=format, images=images)
    assert result.path == output and result.format == format
    assert os.path.exists(output) and result.size_bytes > 0
    assert set(result.differences) == {"color", "bright", "dominant"}
    assert result.max_difference <= 1e-4 and result.latency_ms > 0
    print(format, result.summary())  # The numbers, with pytest -s.
    # Nothing but the artifact is left beside it.
    assert os.listdir(tmp_path) == [OUTPUTS[format]]
    return result


def test_saved_model_round_trip(target_net, tmp_path):
    result = _check_round_trip(target_net, tmp_path, "saved_model")
    assert result.num_images == 8
    # The artifact answers like the model, outputs keyed by task name.
    names = target_net.output_names
    run = export_module.load_artifact(result.path, "saved_model", names)
    x = np.random.default_rng(3).uniform(size=(2, 16, 16, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(target_net(x)["color"])
    np.testing.assert_allclose(run(x)["color"], expected, atol=1e-5)


@ON_TENSORFLOW
def test_litert_round_trip(target_net, tmp_path):
    _check_round_trip(target_net, tmp_path, "litert")


@ON_TENSORFLOW
@pytest.mark.skipif(
    not HAS_ONNX, reason="onnx, tf2onnx, onnxruntime missing: keras-dfka[onnx]"
)
def test_onnx_round_trip(target_net, tmp_path):
    _check_round_trip(target_net, tmp_path, "onnx")


@ON_TENSORFLOW
def test_onnx_without_its_packages_names_the_extra(tmp_path, monkeypatch):
    # As where they are not installed (whether they are here or not).
    monkeypatch.setattr(export_module, "_missing_modules", lambda f: ["tf2onnx"])
    with pytest.raises(ImportError, match=r'pip install "keras-dfka\[onnx\]"'):
        export_model(keras.Sequential(), str(tmp_path / "t.onnx"), format="onnx")
    assert not os.listdir(tmp_path)


@pytest.mark.skipif(BACKEND != "jax", reason="the JAX backend's refusals")
@pytest.mark.parametrize("format", ["litert", "onnx"])
def test_formats_refused_on_jax_name_the_backend(target_net, tmp_path, format):
    with pytest.raises(ValueError, match="'tensorflow' backend"):
        export_model(target_net, str(tmp_path / OUTPUTS[format]), format=format)
    assert not os.listdir(tmp_path)


def test_over_tolerance_is_refused_and_nothing_written(
    target_net, tmp_path, monkeypatch
):
    original = export_module.load_artifact

    def shifted(path, format, names):
        run = original(path, format, names)
        return lambda images: {k: v + 1e-3 for k, v in run(images).items()}

    monkeypatch.setattr(export_module, "load_artifact", shifted)
    output = str(tmp_path / "target")
    with pytest.raises(ValueError, match="format='saved_model'.*tolerance=0.0001"):
        export_model(target_net, output, format="saved_model")
    assert not os.listdir(tmp_path)
    # A larger tolerance lets it through.
    result = export_model(target_net, output, format="saved_model", tolerance=1e-2)
    assert 5e-4 < result.max_difference < 2e-3


def test_existing_output_refused_unless_overwrite(target_net, tmp_path):
    output = tmp_path / "target"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="already exists; pass overwrite=True"):
        export_model(target_net, str(output), format="saved_model")
    assert os.listdir(output) == ["keep.txt"]
    export_model(target_net, str(output), format="saved_model", overwrite=True)
    assert "keep.txt" not in os.listdir(output)
    assert "saved_model.pb" in os.listdir(output)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "tflite"}, r"`format` must be one of .* format='tflite'"),
        ({"format": "litert"}, r"`output` must end with '.tflite'"),
        ({"tolerance": -1.0}, r"`tolerance` must be a finite number >= 0"),
        ({"images": np.zeros((2, 8, 8, 3))}, r"`images` must have shape \(n, 16"),
        ({"num_images": 0}, r"`num_images` must be a positive int"),
    ],
)
def test_argument_errors(target_net, tmp_path, kwargs, message):
    if kwargs.get("format") == "litert" and BACKEND != "tensorflow":
        pytest.skip("litert is refused by backend first")
    with pytest.raises(ValueError, match=message):
        export_model(target_net, str(tmp_path / "out"), **kwargs)


def test_given_images_and_keras_path(target_net, tmp_path):
    path = str(tmp_path / "target.keras")
    target_net.save(path)
    images = np.random.default_rng(5).uniform(size=(3, 16, 16, 3))
    result = export_model(path, str(tmp_path / "out"), images=images)
    assert result.num_images == 3 and result.max_difference <= 1e-4


def test_output_names_matched_by_name_or_order():
    names = ["color", "bright"]
    a, b = np.zeros((1, 2)), np.ones((1, 1))
    by_name = export_module._as_named_outputs({"bright:0": b, "color:0": a}, names)
    by_order = export_module._as_named_outputs({"output_1": b, "output_0": a}, names)
    as_list = export_module._as_named_outputs([a, b], names)
    for outputs in (by_name, by_order, as_list):
        np.testing.assert_array_equal(outputs["color"], a)
        np.testing.assert_array_equal(outputs["bright"], b)
    with pytest.raises(ValueError, match="has 1 outputs"):
        export_module._as_named_outputs([a], names)


@ON_TENSORFLOW
def test_celeba_images_every_format(target_net, tmp_path):
    root = os.path.join(shared_data_dir(), "celeba")
    if not os.path.isfile(os.path.join(root, "list_attr_celeba.txt")):
        pytest.skip(f"CelebA not found at '{root}'")
    dataset = keras_dfka.datasets.CelebA(
        root,
        split="test",
        image_size=(16, 16),
        batch_size=16,
        max_images=16,
        shuffle=False,
        cache=False,
    )
    images, _ = dataset[0]
    formats = ["saved_model", "litert"] + (["onnx"] if HAS_ONNX else [])
    for format in formats:
        result = export_model(
            target_net, str(tmp_path / OUTPUTS[format]), format=format, images=images
        )
        assert result.num_images == 16 and result.max_difference <= 1e-4, format


def test_cli_export_end_to_end(target_net, tmp_path, capsys):
    from PIL import Image

    model = str(tmp_path / "target.keras")
    target_net.save(model)
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        pixels = (rng.uniform(size=(20, 24, 3)) * 255).astype("uint8")
        Image.fromarray(pixels).save(folder / f"{i}.png")
    format = "litert" if BACKEND == "tensorflow" else "saved_model"
    output = str(tmp_path / OUTPUTS[format])
    argv = ["export", "--model", model, "--format", format, "--output", output]
    assert main(argv + ["--images", str(folder)]) == 0
    printed = capsys.readouterr().out
    assert f"format: {format}" in printed and f"output: {output}" in printed
    assert "on 3 images (tolerance 0.0001)" in printed
    assert "bytes" in printed and "single-image latency" in printed
    # The output exists now: refused, as a usage error.
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(argv + ["--overwrite", "--tolerance", "0.001"]) == 0
