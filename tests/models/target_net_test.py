import json
import os
import subprocess
import sys

import keras
import numpy as np
from conftest import make_color_data

import keras_dfka
from keras_dfka.evaluation import count_params

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
TARGETS = ["blue", "is_bright", "dominant/red_most", "red", "green_most"]


def _trained_pipeline(teachers, gan_steps, dual_steps):
    keras.utils.set_random_seed(1)
    gan = keras_dfka.AmalgamGAN(list(teachers), latent_dim=16)
    gan.compile()
    if gan_steps:
        gan.fit(keras_dfka.datasets.LatentNoise(16, 32, steps=gan_steps), verbose=0)
    dual = keras_dfka.DualGenerator(gan, TARGETS)
    dual.compile(student_optimizer=keras.optimizers.Adam(3e-3))
    untrained = keras_dfka.TargetNet.from_dual(dual)
    if dual_steps:
        dual.fit(
            keras_dfka.datasets.LatentNoise(16, 32, steps=dual_steps, seed=5),
            verbose=0,
        )
    return gan, dual, untrained, keras_dfka.TargetNet.from_dual(dual)


def test_end_to_end_agrees_with_teachers_better_than_untrained(tiny_teachers):
    gan, dual, untrained, target = _trained_pipeline(tiny_teachers, 60, 150)
    images = gan.generate(256, seed=99)  # fresh samples, not seen in training
    teacher = dual.label_plan.teacher_probabilities(dual.teachers, images)
    error_trained = np.mean(np.abs(target.predict_labels(images) - teacher))
    error_untrained = np.mean(np.abs(untrained.predict_labels(images) - teacher))
    assert error_trained < 0.6 * error_untrained, (error_trained, error_untrained)
    # Also on real-like images the teachers were trained on.
    x, *_ = make_color_data(256, seed=7)
    teacher_real = dual.label_plan.teacher_probabilities(dual.teachers, x)
    real_trained = np.mean(np.abs(target.predict_labels(x) - teacher_real))
    real_untrained = np.mean(np.abs(untrained.predict_labels(x) - teacher_real))
    assert real_trained < real_untrained


def test_structure_labels_and_independence(tiny_teachers):
    _, dual, _, target = _trained_pipeline(tiny_teachers, 0, 2)
    assert target.target_labels == TARGETS
    assert set(target.output_names) == {"color", "bright", "dominant"}
    x, *_ = make_color_data(8, seed=3)
    outputs = target.predict(x, verbose=0)
    assert outputs["color"].shape == (8, 2)  # blue, red (user order)
    assert outputs["dominant"].shape == (8, 2)  # red_most, green_most
    labels = target.predict_labels(x)
    assert labels.shape == (8, len(TARGETS))
    np.testing.assert_allclose(labels[:, 0], outputs["color"][:, 0])
    np.testing.assert_allclose(labels[:, 3], outputs["color"][:, 1])
    assert np.all((labels >= 0) & (labels <= 1))
    np.testing.assert_allclose(labels, keras.ops.convert_to_numpy(dual(x)), atol=1e-5)
    trainer_ids = {id(v) for v in dual.weights} | {
        id(v) for v in dual.amalgam_gan.weights
    }
    assert not trainer_ids & {id(v) for v in target.weights}
    assert count_params(target) < count_params([t.model for t in dual.teachers])


def test_save_load_reproduces_predictions(tiny_teachers, tmp_path):
    _, _, _, target = _trained_pipeline(tiny_teachers, 0, 2)
    path = str(tmp_path / "target.keras")
    target.save(path)
    # A plain functional model of Keras's own layers...
    plain = keras.saving.load_model(path)
    assert type(plain).__name__ == "Functional"
    modules = {type(layer).__module__ for layer in plain.layers}
    assert not [m for m in modules if m.startswith("keras_dfka")], modules
    # ... whose layer names carry the label plan.
    loaded = keras_dfka.TargetNet.load(path)
    assert isinstance(loaded, keras_dfka.TargetNet)
    assert loaded.target_labels == TARGETS
    assert loaded.label_plan == target.label_plan
    x, *_ = make_color_data(16, seed=4)
    np.testing.assert_array_equal(loaded.predict_labels(x), target.predict_labels(x))
    outputs = plain.predict(x, verbose=0)
    assert sorted(outputs) == ["bright", "color", "dominant"]
    np.testing.assert_array_equal(
        loaded.labels_from_outputs(outputs), target.predict_labels(x)
    )


def test_same_outputs_as_the_trainer_filters_and_label_select(tiny_teachers):
    """The TargetNet's built-in layers compute what the dual generator's
    FeatureFilter and task-level filter compute."""
    _, dual, _, target = _trained_pipeline(tiny_teachers, 0, 3)
    x, *_ = make_color_data(16, seed=8)
    np.testing.assert_allclose(
        target.predict_labels(x), keras.ops.convert_to_numpy(dual(x)), atol=1e-6
    )


def test_loads_where_keras_dfka_is_not_installed(tiny_teachers, tmp_path):
    """A fresh interpreter that cannot import keras_dfka (no site .pth files,
    only the installed packages' directory on its path) loads the file with
    plain `keras.saving.load_model` and gives the same outputs."""
    _, _, _, target = _trained_pipeline(tiny_teachers, 0, 2)
    path = str(tmp_path / "target.keras")
    target.save(path)
    x, *_ = make_color_data(8, seed=5)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import importlib.util, json, sys\n"
        "import numpy as np\n"
        "assert importlib.util.find_spec('keras_dfka') is None\n"
        "import keras\n"
        f"model = keras.saving.load_model({path!r})\n"
        f"outputs = model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)\n"
        f"np.savez({str(tmp_path / 'out.npz')!r}, **outputs)\n"
        "print(json.dumps([layer.name for layer in model.layers]))\n"
    )
    site_packages = os.path.dirname(os.path.dirname(keras.__file__))
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": site_packages},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = json.loads(result.stdout.strip().splitlines()[-1])
    assert any(name.startswith("label.") for name in names)
    outputs = dict(np.load(tmp_path / "out.npz"))
    expected = target.predict(x, verbose=0)
    assert sorted(outputs) == sorted(expected)
    for task in expected:
        np.testing.assert_allclose(outputs[task], expected[task], atol=1e-6)


def test_file_saved_by_version_0_2_still_loads():
    """`tests/data/target_net_0.2.keras` was saved by keras-dfka 0.2 (class
    TargetNet, FeatureFilter and LabelSelect layers), with the predictions
    it made then."""
    path = os.path.join(DATA, "target_net_0.2.keras")
    images = np.load(os.path.join(DATA, "target_net_0.2_images.npy"))
    expected = np.load(os.path.join(DATA, "target_net_0.2_labels.npy"))
    for loaded in (keras.saving.load_model(path), keras_dfka.TargetNet.load(path)):
        assert isinstance(loaded, keras_dfka.TargetNet)
        assert loaded.target_labels == TARGETS
        np.testing.assert_allclose(loaded.predict_labels(images), expected, atol=1e-5)


def test_config_saved_before_label_plans_loads(tiny_teachers):
    _, _, _, target = _trained_pipeline(tiny_teachers, 0, 0)
    config = target.get_config()
    del config["label_plan"]
    config["label_spec"] = {
        "target_labels": TARGETS,
        "columns": [list(c) for c in target.columns],
        "activations": target.activations,
    }
    legacy = keras_dfka.TargetNet.from_config(config)
    assert legacy.target_labels == TARGETS
    assert legacy.columns == target.columns
    assert legacy.activations == target.activations
