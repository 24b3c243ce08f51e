"""Bad inputs and diverging runs: each gets a clear error, before any work
where possible, and nothing non-finite is saved (docs/reliability.md lists
them; keep the two in step)."""

import math
import os
import re

import keras
import numpy as np
import pytest
from keras import layers

import keras_dfka
from keras_dfka.amalgamation import schedules
from keras_dfka.callbacks import NonFiniteError
from keras_dfka.callbacks import TerminateOnNonFinite
from keras_dfka.cli import main
from keras_dfka.cli.commands import undefined_auc_notes
from keras_dfka.datasets import LatentNoise
from keras_dfka.datasets import LatentSet
from keras_dfka.datasets import read_celeba_attributes
from keras_dfka.datasets import read_labels_csv
from keras_dfka.evaluation import binary_report
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn

SHAPE = (8, 8, 3)
NAN, INF = float("nan"), float("inf")
# One eager step is faster than tracing it (and XLA) under TensorFlow; under
# JAX only the compiled step is fast.
EAGER = keras.backend.backend() != "jax"


def tiny_model(name="tiny", from_logits=False, activation="sigmoid"):
    keras.utils.set_random_seed(0)
    labels = ["a", "b", "c"] if activation == "softmax" else ["a", "b"]
    task = keras_dfka.LabelTask("attrs", labels, activation)
    return small_cnn(SHAPE, [task], widths=(4, 4), from_logits=from_logits, name=name)


def tiny_teacher(name="tiny", **kwargs):
    model = tiny_model(name)
    return keras_dfka.Teacher(model, block_names(model), labels=["a", "b"], **kwargs)


@pytest.fixture(scope="module")
def teacher():
    return tiny_teacher()


@pytest.fixture(scope="module")
def gan(teacher):
    return keras_dfka.AmalgamGAN([teacher], latent_dim=4)


def nan_batches(batches=3, nan_batch=1, batch_size=2, latent_dim=4):
    """Latent vectors whose batch `nan_batch` (0-based) is NaN."""
    z = np.random.default_rng(0).standard_normal((batches * batch_size, latent_dim))
    z[nan_batch * batch_size : (nan_batch + 1) * batch_size] = np.nan
    return z.astype("float32")


class BatchRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(batch)


# ------------------------------------------------------------- the NaN guard
def test_amalgam_gan_stops_at_the_first_non_finite_loss_unless_told(teacher):
    gan = keras_dfka.AmalgamGAN([teacher], latent_dim=4)
    gan.compile()
    recorder = BatchRecorder()
    with pytest.raises(NonFiniteError) as error:
        gan.fit(
            nan_batches(), batch_size=2, shuffle=False, verbose=0, callbacks=[recorder]
        )
    message = str(error.value)
    assert "AmalgamGAN 'amalgam_gan': non-finite loss at step 2" in message
    assert "(epoch 1, batch 2)" in message
    assert "one_hot=nan" in message and "loss=nan" in message
    assert "check_finite=False" in message
    # The guard runs first: no other callback saw the non-finite step.
    assert recorder.batches == [0]
    # Turned off, training goes on (`compile(check_finite=False)` sets the
    # flag; set directly here to reuse the traced step).
    with pytest.raises(ValueError, match="`check_finite` must be True or False"):
        gan.compile(check_finite="no")
    gan.check_finite = False
    history = gan.fit(nan_batches(), batch_size=2, shuffle=False, verbose=0)
    assert math.isnan(history.history["loss"][-1])


def test_compile_sets_the_flag_of_the_guard(gan):
    dual = keras_dfka.DualGenerator(gan, ["a"])
    for trainer in (keras_dfka.AmalgamGAN(gan.teachers, latent_dim=4), dual):
        trainer.compile(check_finite=False)
        assert trainer.check_finite is False
        trainer.compile()
        assert trainer.check_finite is True


def test_dual_generator_names_its_block_terms(gan):
    dual = keras_dfka.DualGenerator(gan, ["a"])
    dual.compile(run_eagerly=EAGER)
    with pytest.raises(
        NonFiniteError, match=r"DualGenerator 'dual_generator': .* step 1 .*block_.=nan"
    ):
        dual.fit(nan_batches(nan_batch=0), batch_size=2, shuffle=False, verbose=0)


def test_adversarial_amalgamation_is_guarded(teacher):
    gan = keras_dfka.AmalgamGAN([teacher], latent_dim=4)
    dual = keras_dfka.DualGenerator(gan, ["a"], block_wise=False)
    trainer = keras_dfka.AdversarialAmalgamation(gan, dual, pool_size=8)
    trainer.compile(run_eagerly=EAGER)
    with pytest.raises(NonFiniteError, match="AdversarialAmalgamation .*generator_"):
        trainer.fit(nan_batches(nan_batch=0), batch_size=2, shuffle=False, verbose=0)


class _Dummy(keras.Model):
    def __init__(self):
        super().__init__(name="dummy")
        self.w = self.add_weight(shape=(2,), initializer="zeros", name="w")


def test_an_overflowing_weighted_sum_is_explained():
    guard = TerminateOnNonFinite()
    guard.set_model(_Dummy())
    guard.on_train_begin()
    guard.on_epoch_begin(0)
    guard.on_train_batch_end(0, {"loss": 1.0, "batch_norm": 2.0})
    with pytest.raises(NonFiniteError, match="step 2 .*loss=inf.*loss weight"):
        guard.on_train_batch_end(1, {"loss": INF, "batch_norm": 2.0})


def test_the_guard_names_the_learning_rate_or_the_temperature():
    """Non-finite terms: the guard says what it can tell of the cause."""
    model = _Dummy()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.25))
    guard = TerminateOnNonFinite()
    guard.set_model(model)
    guard.on_train_begin()
    guard.on_epoch_begin(0)
    # Finite weights: the batch's loss itself, with the current learning rate.
    with pytest.raises(NonFiniteError, match=r"weights are still finite.*now 0\.25"):
        guard.on_train_batch_end(0, {"loss": NAN, "one_hot": NAN})
    # Weights already non-finite: an update diverged.
    model.w.assign([NAN, 0.0])
    with pytest.raises(
        NonFiniteError, match=r"already non-finite .*dummy/w.*learning rate \(now 0"
    ):
        guard.on_train_batch_end(1, {"loss": NAN, "one_hot": NAN})
    model.w.assign([0.0, 0.0])
    model.temperature = 1e-30
    with pytest.raises(NonFiniteError, match="temperature is 1e-30.*raise it"):
        guard.on_train_batch_end(2, {"loss": INF, "distillation": INF})


def test_weights_made_non_finite_by_the_last_step_are_caught():
    model = _Dummy()
    guard = TerminateOnNonFinite()
    guard.set_model(model)
    guard.on_train_end()
    model.w.assign([0.0, NAN])
    with pytest.raises(NonFiniteError, match="not finite after training.*dummy/w"):
        guard.on_train_end()


class _NaNNoise(LatentNoise):
    def __getitem__(self, index):
        return np.full((self.batch_size, self.latent_dim), np.nan, "float32")


@pytest.mark.parametrize(
    "schedule, trainer",
    [("adversarial", "AdversarialAmalgamation"), ("sequential", "AmalgamGAN")],
)
def test_amalgamate_stops_in_stage_one(teacher, monkeypatch, schedule, trainer):
    monkeypatch.setattr(schedules, "LatentNoise", _NaNNoise)
    config = keras_dfka.AmalgamationConfig(
        schedule=schedule,
        latent_dim=4,
        batch_size=2,
        gan_steps=3,
        dual_steps=3,
        jit_compile=False,
        verbose=0,
    )
    with pytest.raises(NonFiniteError, match=f"{trainer} .* at step 1 "):
        keras_dfka.amalgamate([teacher], ["a"], config)


def test_cli_writes_nothing_after_a_non_finite_loss(tmp_path, monkeypatch, capsys):
    model_path = str(tmp_path / "t.keras")
    tiny_model().save(model_path)
    monkeypatch.setattr(schedules, "LatentNoise", _NaNNoise)
    output = tmp_path / "out" / "target.keras"
    argv = ["amalgamate", "--teacher", model_path]
    argv += ["--blocks", "tiny_block1,tiny_block2", "--labels", "a,b"]
    argv += ["--target-labels", "a", "--steps", "2"]
    argv += ["--batch-size", "2", "--latent-dim", "4", "--verbose", "0"]
    capsys.readouterr()
    assert main(argv + ["--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert "non-finite loss at step 1" in err and "Traceback" not in err
    # No model or summary; the run's TensorBoard logs stay (where it diverged).
    written = os.listdir(output.parent) if output.parent.exists() else []
    assert written in ([], ["target.logs"]), written


# ------------------------------------------------------ non-finite teachers
@pytest.mark.parametrize("value", [NAN, INF])
def test_a_teacher_with_non_finite_weights_is_refused(value):
    model = tiny_model()
    kernel = model.get_layer("tiny_b1_conv1").kernel
    values = np.full(kernel.shape, 0.1, "float32")
    values.flat[3] = value
    kernel.assign(values)
    with pytest.raises(ValueError, match="non-finite weights .*tiny_b1_conv1/kernel"):
        keras_dfka.Teacher(model, block_names(model), labels=["a", "b"])


# -------------------------------------------------- floats and booleans
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": NAN}, "`temperature` must be a finite number > 0. "),
        ({"temperature": INF}, "Received: temperature=inf"),
        ({"teacher_weights": [NAN]}, "`teacher_weights[0]` must be a finite number"),
        ({"stream_weights": (1.0, NAN)}, "`stream_weights[1]` must be a finite"),
        ({"stream_weights": (1.0, 1e38)}, r"<= 1e\+06. Received: stream_weights"),
        ({"hidden_width_multiplier": NAN}, "`hidden_width_multiplier` must be"),
        ({"block_wise": "no"}, "`block_wise` must be True or False. Received: "),
        ({"fine_tune_heads": 1}, "`fine_tune_heads` must be True or False"),
    ],
)
def test_dual_generator_refuses(gan, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        keras_dfka.DualGenerator(gan, ["a"], **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"feature_width_multiplier": NAN}, "`feature_width_multiplier` must be"),
        ({"latent_target_sharpness": INF}, "`latent_target_sharpness` must be"),
        ({"loss_weights": {"batch_norm": NAN}}, "must be a finite number >= 0.0"),
        ({"loss_weights": {"batch_norm": 1e38}}, r"<= 1e\+06. Received: loss"),
        ({"loss_weights": {"one_hot": "1"}}, "`loss_weights\\['one_hot'\\]` must be"),
        ({"use_filters": "no"}, "`use_filters` must be True or False"),
        ({"augment": "no"}, "`augment` must be True, False or None"),
    ],
)
def test_amalgam_gan_refuses(teacher, kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_dfka.AmalgamGAN([teacher], latent_dim=4, **kwargs)


def test_trainers_refuse_non_finite_learning_rates_and_weights(gan):
    with pytest.raises(ValueError, match="`learning_rate` must be a finite number"):
        keras_dfka.AmalgamGAN(gan.teachers, latent_dim=4).compile(learning_rate=NAN)
    dual = keras_dfka.DualGenerator(gan, ["a"], block_wise=False)
    with pytest.raises(ValueError, match="Received: learning_rate=inf"):
        dual.compile(learning_rate=INF)
    for weight in (INF, 1e38):
        with pytest.raises(ValueError, match="`adversarial_weight` must be"):
            keras_dfka.AdversarialAmalgamation(gan, dual, adversarial_weight=weight)
    with pytest.raises(ValueError, match="`student_augment` must be True or False"):
        keras_dfka.AdversarialAmalgamation(gan, dual, student_augment="no")
    with pytest.raises(ValueError, match="`student_mixup` must be True or False"):
        keras_dfka.AdversarialAmalgamation(gan, dual, student_mixup="no")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"learning_rate": NAN}, "`learning_rate` must be a finite number > 0. "),
        ({"temperature": INF}, "Received: temperature=inf"),
        ({"feature_width_multiplier": NAN}, "`feature_width_multiplier` must be"),
        ({"stream_weights": (NAN, 1.0)}, "`stream_weights\\[0\\]` must be a finite"),
        ({"teacher_weights": [1.0, INF]}, "`teacher_weights\\[1\\]` must be"),
        ({"loss_weights": {"batch_norm": 1e38}}, "`loss_weights\\['batch_norm'\\]`"),
        ({"adversarial_weight": NAN}, "`adversarial_weight` must be a finite"),
        ({"feature_widths": [8, NAN]}, "`feature_widths\\[1\\]` must be an integer"),
        ({"block_wise": "no"}, "`block_wise` must be True or False. Received: "),
        ({"augment": 0}, "`augment` must be True or False"),
        ({"check_finite": "yes"}, "`check_finite` must be True or False"),
    ],
)
def test_config_refuses(changes, message):
    with pytest.raises(ValueError, match=message):
        keras_dfka.AmalgamationConfig(**changes)


def test_teacher_refuses_bad_floats_and_booleans():
    model = tiny_model()
    blocks = block_names(model)
    with pytest.raises(ValueError, match="`from_logits` must be True or False"):
        keras_dfka.Teacher(model, blocks, labels=["a", "b"], from_logits="no")
    with pytest.raises(ValueError, match="Received: input_range\\[1\\]=inf"):
        keras_dfka.Teacher(model, blocks, labels=["a", "b"], input_range=(0, INF))
    with pytest.raises(ValueError, match="`from_logits` of task 'attrs' must be"):
        keras_dfka.LabelTask("attrs", ["a", "b"], from_logits=1)


def test_cli_names_the_option_of_a_non_finite_value(tmp_path, capsys):
    argv = ["amalgamate", "--teacher", "t.keras", "--blocks", "b1", "--labels", "a"]
    argv += ["--target-labels", "a", "--output", str(tmp_path / "t.keras")]
    for option, value in (
        ("--temperature", "nan"),
        ("--loss-weights", '{"batch_norm": 1e38}'),
    ):
        capsys.readouterr()
        assert main(argv + [option, value]) == 2
        assert f"argument {option}" in capsys.readouterr().err


# ---------------------------------------------- logits and probabilities
@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_logits_declared_on_an_activated_output(activation):
    model = tiny_model(activation=activation)
    labels = ["a", "b", "c"] if activation == "softmax" else ["a", "b"]
    with pytest.raises(
        ValueError,
        match=f"declared as logits .*'tiny_attrs' ends in a {activation} activation"
        ".*from_logits=False",
    ):
        keras_dfka.Teacher(
            model,
            block_names(model),
            labels=labels,
            activation=activation,
            from_logits=True,
        )


def test_logits_declared_on_a_softmax_layer():
    base = tiny_model(activation="softmax", from_logits=True)
    outputs = layers.Softmax(name="probabilities")(base.outputs[0])
    model = keras.Model(base.input, outputs)
    task = keras_dfka.LabelTask("attrs", ["a", "b", "c"], "softmax", from_logits=True)
    with pytest.raises(ValueError, match="'probabilities' ends in a softmax"):
        keras_dfka.Teacher(model, block_names(base), tasks=[task])


def test_probabilities_declared_on_logits():
    model = tiny_model(from_logits=True)
    model.get_layer("tiny_attrs").bias.assign([4.0, -4.0])
    with pytest.raises(
        ValueError,
        match=r"declared as probabilities .*outside \[0, 1\].*from_logits=True",
    ):
        keras_dfka.Teacher(model, block_names(model), labels=["a", "b"])
    # Declared right, it is accepted.
    keras_dfka.Teacher(model, block_names(model), labels=["a", "b"], from_logits=True)


def test_cli_names_from_logits(tmp_path, capsys):
    path = str(tmp_path / "t.keras")
    tiny_model().save(path)
    argv = ["amalgamate", "--teacher", path, "--blocks", "tiny_block1,tiny_block2"]
    argv += ["--labels", "a,b", "--from-logits", "--target-labels", "a"]
    capsys.readouterr()
    assert main(argv + ["--output", str(tmp_path / "out.keras")]) == 2
    err = capsys.readouterr().err
    assert "argument --from-logits" in err and "ends in a sigmoid" in err


# ------------------------------------------------------- CLI output paths
def _cli_argv(tmp_path, output):
    path = str(tmp_path / "t.keras")
    tiny_model().save(path)
    argv = ["amalgamate", "--teacher", path, "--blocks", "tiny_block1,tiny_block2"]
    return argv + ["--labels", "a,b", "--target-labels", "a", "--output", output]


def test_output_under_a_file_fails_at_once(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    argv = _cli_argv(tmp_path, str(tmp_path / "afile" / "sub" / "target.keras"))
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "argument --output" in err and "is a file, not a directory" in err
    model = argv[2]
    for other in (
        ["sample", "--generator", model, "--output", str(tmp_path / "afile/g.png")],
        ["evaluate", "--model", model, "--images", str(tmp_path)]
        + ["--labels-csv", "x.csv", "--output", str(tmp_path / "afile" / "r.json")],
    ):
        assert main(other) == 2
        assert "argument --output" in capsys.readouterr().err


def test_unwritable_output_directory_fails_at_once(tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    argv = _cli_argv(tmp_path, str(tmp_path / "target.keras"))
    monkeypatch.setattr("keras_dfka.cli.common.tempfile.mkstemp", refuse)
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "argument --output" in err and "is not writable (Permission denied)" in err


def test_a_missing_output_directory_is_checked_not_made(tmp_path):
    from keras_dfka.cli.common import check_writable

    check_writable(str(tmp_path / "new" / "sub" / "target.keras"), "--output")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------ misleading messages
def test_truncated_keras_file(tmp_path, capsys):
    path = tmp_path / "t.keras"
    tiny_model().save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    capsys.readouterr()
    assert main(["inspect", "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not a valid .keras file" in err and "truncated" in err
    assert "not found" not in err


def test_block_at_the_output_layer():
    model = tiny_model()
    with pytest.raises(ValueError, match="'tiny_attrs' is an output layer") as error:
        keras_dfka.Teacher(model, ["tiny_block1", "tiny_attrs"], labels=["a", "b"])
    assert "skip connection" not in str(error.value)


def test_input_layer_as_a_block():
    model = tiny_model()
    with pytest.raises(ValueError, match="'tiny_image' is the model's input layer"):
        keras_dfka.Teacher(model, ["tiny_image", "tiny_block1"], labels=["a", "b"])


def test_teacher_without_batch_norm_warns():
    image = keras.Input(SHAPE)
    x = layers.Conv2D(4, 3, padding="same", name="c1")(image)
    x = layers.MaxPooling2D(2, name="block1")(x)
    x = layers.Conv2D(4, 3, padding="same", name="c2")(x)
    x = layers.MaxPooling2D(2, name="block2")(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(image, layers.Dense(2, activation="sigmoid")(x), name="nobn")
    plain = keras_dfka.Teacher(model, ["block1", "block2"], labels=["c", "d"])
    with pytest.warns(UserWarning, match=r"no BatchNormalization layer .*\['nobn'\]"):
        keras_dfka.AmalgamGAN([plain], latent_dim=4)
    with pytest.warns(UserWarning, match="through the other teachers only"):
        keras_dfka.AmalgamGAN([plain, tiny_teacher()], latent_dim=4)


def test_binary_labels_csv(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 4)
    with pytest.raises(ValueError, match="is not a text CSV file: byte"):
        read_labels_csv(str(path), ["a"])


def test_auc_of_a_single_class_label_says_why():
    y_true = np.array([[1, 0], [1, 1], [1, 0]], "float32")
    report = binary_report(y_true, np.full((3, 2), 0.5), ["always", "mixed"])
    notes = undefined_auc_notes(report, 3)
    assert notes == [
        "ROC-AUC of 'always' is undefined (nan): all 3 images have label 1 "
        "(positive), so there is no positive-negative pair to rank; the mean "
        "ROC-AUC leaves it out"
    ]


def test_celeba_attribute_file_with_a_duplicate_row(tmp_path):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text("3\nSmiling Male\na.jpg 1 -1\nb.jpg -1 1\na.jpg 1 -1\n")
    with pytest.raises(ValueError, match="line 5: image 'a.jpg' already has a row"):
        read_celeba_attributes(path)


def test_negative_latent_seed_fails_at_construction():
    with pytest.raises(ValueError, match="`seed` must be an integer >= 0. Received"):
        LatentNoise(4, seed=-1)
    with pytest.raises(ValueError, match="`seed` must be an integer >= 0"):
        LatentSet(np.zeros((4, 2)), seed=-1)


def test_generate_with_batch_size_zero(gan):
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1"):
        gan.generate(4, batch_size=0)
    with pytest.raises(ValueError, match="`num_samples` must be an integer >= 1"):
        gan.generate(2.5)


# ------------------------------------------------------- inputs at inference
@pytest.fixture(scope="module")
def target_net(gan):
    dual = keras_dfka.DualGenerator(gan, ["a", "b"])
    return keras_dfka.TargetNet.from_dual(dual)


def test_target_net_refuses_images_of_another_range_or_size(target_net):
    x = np.random.default_rng(0).random((4, *SHAPE), dtype="float32")
    with pytest.raises(ValueError, match=r"values in \[0, 1\] \(divide 0..255"):
        target_net.predict_labels(x * 255.0)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]. Received"):
        target_net.predict_labels(x - 0.5)
    with pytest.raises(ValueError, match=r"shape \(n, 8, 8, 3\)"):
        target_net.predict_labels(x[:, :4, :4])
    assert target_net.predict_labels(x).shape == (4, 2)


def test_evaluate_refuses_a_csv_listing_an_image_twice_and_bad_thresholds(
    target_net, tmp_path, capsys
):
    path = tmp_path / "labels.csv"
    path.write_text("filename,a\nx.png,1\ny.png,0\nx.png,1\n")
    with pytest.raises(ValueError, match=r"lists the image 'x.png' twice \(rows 2"):
        read_labels_csv(str(path), ["a"])
    model = tmp_path / "target.keras"
    target_net.save(model)
    argv = ["evaluate", "--model", str(model), "--images", str(tmp_path)]
    argv += ["--labels-csv", str(path)]
    assert main(argv) == 2
    assert "argument --labels-csv" in capsys.readouterr().err
    for threshold in ("7", "0", "nan"):
        assert main([*argv, "--threshold", threshold]) == 2
        assert "strictly between 0 and 1" in capsys.readouterr().err


def test_16_bit_grey_png_is_scaled_not_saturated(tmp_path):
    from PIL import Image

    from keras_dfka.datasets import load_images

    pixels = np.full((4, 6), 30000, dtype="uint16")
    pixels[:, 3:] = 65535
    Image.fromarray(pixels).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode in ("I;16", "I")  # What PNG's 16-bit grey opens as.
    for channels in (1, 3, 4):
        images = load_images(str(tmp_path), ["deep.png"], (4, 6), channels=channels)
        assert images.shape == (1, 4, 6, channels)
        np.testing.assert_allclose(images[0, :, :3, :3], 30000 / 65535, rtol=1e-5)
        np.testing.assert_allclose(images[0, :, 3:, :3], 1.0, rtol=1e-5)
    np.testing.assert_allclose(images[0, ..., 3], 1.0)  # RGBA: opaque


# ---------------------------------------------------------------- the docs
def test_the_docs_table_names_exactly_these_tests():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "reliability.md"), encoding="utf-8") as f:
        named = set(re.findall(r"`(test_\w+)`", f.read()))
    here = {name for name in globals() if name.startswith("test_")}
    here.discard("test_the_docs_table_names_exactly_these_tests")
    # The refusals of training on several devices (run in a subprocess).
    with open(
        os.path.join(root, "tests", "distribution_test.py"), encoding="utf-8"
    ) as f:
        here |= set(re.findall(r"^def (test_refuses_\w+)\(", f.read(), re.M))
    assert named == here


def nested_model():
    """A classifier calling a small functional base (2 stage ends)."""
    keras.utils.set_random_seed(0)
    image = keras.Input(SHAPE, name="base_image")
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv1")(image)
    x = layers.ReLU(name="relu1")(x)
    x = layers.Conv2D(4, 3, strides=2, padding="same", name="conv2")(x)
    base = keras.Model(image, layers.ReLU(name="relu2")(x), name="base")
    inputs = keras.Input(SHAPE)
    x = layers.GlobalAveragePooling2D()(base(inputs))
    return keras.Model(inputs, layers.Dense(2, activation="sigmoid")(x), name="outer")


def test_propose_blocks_refuses():
    model = nested_model()
    assert keras_dfka.propose_blocks(model) == ["relu1", "relu2"]
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match=r"`num_blocks` must be None or an int"):
            keras_dfka.propose_blocks(model, num_blocks=bad)
    with pytest.raises(
        ValueError, match=r"`num_blocks` must be at most 2: .*Received: num_blocks=3"
    ):
        keras_dfka.propose_blocks(model, num_blocks=3)
    inputs = keras.Input(SHAPE)
    flat = keras.Model(inputs, layers.Dense(2)(layers.GlobalAveragePooling2D()(inputs)))
    with pytest.raises(ValueError, match="has no stage end to propose"):
        keras_dfka.propose_blocks(flat)


def test_unknown_block_of_a_nested_model():
    with pytest.raises(ValueError, match=r"'nope', .*path '<model>/<layer>'"):
        keras_dfka.Teacher(nested_model(), ["nope"], labels=["a", "b"])


def test_max_feature_width_refuses(teacher):
    message = r"`max_feature_width` must be None or an integer >= 8"
    with pytest.raises(ValueError, match=message + r".*max_feature_width=4"):
        keras_dfka.AmalgamGAN([teacher], latent_dim=4, max_feature_width=4)
    with pytest.raises(ValueError, match=message + r".*max_feature_width=2.5"):
        keras_dfka.AmalgamationConfig(max_feature_width=2.5)


def test_cli_teacher_without_blocks_that_cannot_be_proposed(tmp_path, capsys):
    nested, plain = str(tmp_path / "nested.keras"), str(tmp_path / "plain.keras")
    nested_model().save(nested)
    inputs = keras.Input(SHAPE)
    x = layers.GlobalAveragePooling2D()(inputs)
    keras.Model(inputs, layers.Dense(2, activation="sigmoid")(x)).save(plain)
    output = str(tmp_path / "out" / "t.keras")
    common = ["--target-labels", "a", "--output", output]
    capsys.readouterr()
    argv = ["amalgamate", "--teacher", plain, "--labels", "a,b", *common]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument --blocks: missing for --teacher {plain} (teacher 1)" in err
    assert "none can be proposed" in err and "no stage end" in err
    # Fewer stage ends than the blocks given to another teacher.
    argv = [
        "amalgamate",
        *["--teacher", nested, "--labels", "a,b"],
        *["--teacher", nested, "--blocks", "relu1,relu2,conv2", "--labels", "c,d"],
        *common,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "whose 2 stage ends ['relu1', 'relu2'] are fewer than the 3 blocks" in err
    assert not os.path.exists(os.path.dirname(output))
