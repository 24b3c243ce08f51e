import os

import keras
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator

import keras_dfka
from keras_dfka.callbacks import AmalgamationMonitor
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn

LATENT_DIM = 8
NUM_SAMPLES = 8
COLOR = keras_dfka.LabelTask("color", ["red", "green"], "sigmoid")
BRIGHT = keras_dfka.LabelTask("bright", ["is_bright"], "sigmoid")
DOMINANT = keras_dfka.LabelTask(
    "dominant", ["red_most", "green_most", "blue_most"], "softmax"
)
TEACHER_LABELS = {
    "mon_a": ["red", "green"],
    "mon_b": ["is_bright", "red_most", "green_most", "blue_most"],
}


def make_teachers():
    """Two tiny untrained teachers: one sigmoid task; sigmoid + softmax logits."""
    keras.utils.set_random_seed(0)
    model_a = small_cnn((16, 16, 3), [COLOR], widths=(4, 8), name="mon_a")
    model_b = small_cnn(
        (16, 16, 3), [BRIGHT, DOMINANT], widths=(4, 8), name="mon_b", from_logits=True
    )
    return [
        keras_dfka.Teacher(
            model_a,
            block_names(model_a),
            tasks=[COLOR],
            label_priors={"red": 0.3, "green": 0.6},
        ),
        keras_dfka.Teacher(
            model_b, block_names(model_b), tasks=[BRIGHT, DOMINANT], from_logits=True
        ),
    ]


def noise(steps=2):
    return keras_dfka.datasets.LatentNoise(LATENT_DIM, 8, steps=steps)


def read_events(log_dir):
    accumulator = event_accumulator.EventAccumulator(
        str(log_dir),
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.IMAGES: 0,
            event_accumulator.HISTOGRAMS: 0,
        },
    )
    accumulator.Reload()
    return accumulator


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """AmalgamGAN.fit and DualGenerator.fit, 2 epochs x 2 steps, monitored."""
    root = tmp_path_factory.mktemp("monitor")
    gan = keras_dfka.AmalgamGAN(make_teachers(), latent_dim=LATENT_DIM)
    gan.compile()
    gan_monitor = AmalgamationMonitor(
        root / "gan",
        num_samples=NUM_SAMPLES,
        declared_positive_rates={"red": 0.4, "dominant/green_most": 0.3},
    )
    gan_history = gan.fit(noise(), epochs=2, callbacks=[gan_monitor], verbose=0)
    dual = keras_dfka.DualGenerator(gan, ["green", "is_bright", "blue_most"])
    dual.compile()
    dual_monitor = AmalgamationMonitor(root / "dual", num_samples=NUM_SAMPLES)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="agreement_mae", mode="min", patience=5
    )
    dual_history = dual.fit(
        noise(), epochs=2, callbacks=[dual_monitor, early_stopping], verbose=0
    )
    return {
        "root": root,
        "gan": gan,
        "gan_history": gan_history.history,
        "gan_monitor": gan_monitor,
        "dual": dual,
        "dual_history": dual_history.history,
        "early_stopping": early_stopping,
    }


def check_two_finite_steps(events):
    steps = [e.step for e in events]
    assert steps == [1, 2]


def test_amalgam_gan_fit_writes_images_scalars_histograms(runs):
    log_dir = runs["root"] / "gan"
    events = read_events(log_dir)
    tags = events.Tags()
    expected_scalars = {f"loss/{name}" for name in runs["gan"].loss_names}
    for teacher, labels in TEACHER_LABELS.items():
        expected_scalars |= {f"positive_rate/{teacher}/{label}" for label in labels}
    expected_scalars |= {"declared_rate/red", "declared_rate/dominant/green_most"}
    assert set(tags["scalars"]) == expected_scalars
    for tag in tags["scalars"]:
        scalars = events.Scalars(tag)
        check_two_finite_steps(scalars)
        assert all(np.isfinite(e.value) for e in scalars)
    for tag in tags["scalars"]:
        if tag.startswith("positive_rate/"):
            assert all(0.0 <= e.value <= 1.0 for e in events.Scalars(tag))
    assert [e.value for e in events.Scalars("declared_rate/red")] == pytest.approx(
        [0.4, 0.4]
    )
    # The loss scalars are the epoch logs of fit().
    assert [e.value for e in events.Scalars("loss/loss")] == pytest.approx(
        runs["gan_history"]["loss"], rel=1e-5
    )

    assert set(tags["histograms"]) == {"confidence/mon_a", "confidence/mon_b"}
    for tag, per_sample in (("confidence/mon_a", 2), ("confidence/mon_b", 2)):
        histograms = events.Histograms(tag)
        check_two_finite_steps(histograms)
        for event in histograms:
            value = event.histogram_value
            assert value.num == NUM_SAMPLES * per_sample
            assert sum(value.bucket) == value.num
            assert 0.0 <= value.min <= value.max <= 1.0
            assert np.isfinite(value.sum)

    assert tags["images"] == ["samples"]
    images = events.Images("samples")
    check_two_finite_steps(images)
    for event in images:
        path = log_dir / f"samples_epoch_{event.step:04d}.png"
        assert path.exists()
        assert event.encoded_image_string == path.read_bytes()
        with Image.open(path) as png:
            assert png.size == (event.width, event.height)
            # 8 images of 16x16 in one row of 8, with 1 pixel of padding.
            assert png.size == (8 * 17 + 1, 18)
            assert np.all(np.isfinite(np.asarray(png, dtype="float32")))


def test_dual_fit_logs_agreement_for_early_stopping(runs):
    events = read_events(runs["root"] / "dual")
    tags = events.Tags()
    assert {"agreement/mean_absolute_error", "agreement/label_agreement"} <= set(
        tags["scalars"]
    )
    assert {"loss/loss", "loss/block_1", "loss/block_2"} <= set(tags["scalars"])
    assert "positive_rate/mon_b/blue_most" in tags["scalars"]
    # Each target label's coverage of the generated images.
    for label in ("green", "is_bright", "blue_most"):
        for side in ("positive", "boundary"):
            shares = events.Scalars(f"coverage/{label}/{side}")
            assert all(0.0 <= e.value <= 1.0 for e in shares)
    # Without `declared_positive_rates`, the teachers' label priors are shown.
    assert {t for t in tags["scalars"] if t.startswith("declared_rate/")} == {
        "declared_rate/red",
        "declared_rate/green",
    }
    assert events.Scalars("declared_rate/green")[0].value == pytest.approx(0.6)
    assert set(tags["histograms"]) == {"confidence/mon_a", "confidence/mon_b"}
    assert tags["images"] == ["samples"]
    for tag in tags["scalars"]:
        scalars = events.Scalars(tag)
        check_two_finite_steps(scalars)
        assert all(np.isfinite(e.value) for e in scalars)
    check_two_finite_steps(events.Images("samples"))
    for tag in tags["histograms"]:
        check_two_finite_steps(events.Histograms(tag))
    for step in (1, 2):
        assert (runs["root"] / "dual" / f"samples_epoch_{step:04d}.png").exists()

    # `agreement_mae` reached the logs: History and EarlyStopping saw it.
    mae = runs["dual_history"]["agreement_mae"]
    assert len(mae) == 2 and np.all(np.isfinite(mae))
    logged = [e.value for e in events.Scalars("agreement/mean_absolute_error")]
    assert logged == pytest.approx(mae, rel=1e-5)
    assert runs["early_stopping"].best == pytest.approx(min(mae), rel=1e-5)
    assert 0.0 <= min(mae) <= 1.0


def test_every_n_epochs_steps_across_fits_and_config(runs, tmp_path):
    gan = runs["gan"]
    monitor = AmalgamationMonitor(tmp_path, num_samples=4, every_n_epochs=2, seed=3)
    # Two fit() calls of 3 epochs, driven by hand: steps continue 1..6.
    monitor.set_model(gan)
    for _ in range(2):
        monitor.set_params({"epochs": 3, "steps": 1})
        monitor.on_train_begin()
        for epoch in range(3):
            monitor.on_epoch_end(epoch, {"loss": 1.0 + epoch})
        monitor.on_train_end()
    events = read_events(tmp_path)
    assert [e.step for e in events.Scalars("loss/loss")] == [2, 4, 6]
    assert [e.value for e in events.Scalars("loss/loss")] == [2.0, 1.0, 3.0]
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [f"samples_epoch_{s:04d}.png" for s in (2, 4, 6)]
    # The fixed latent batch: the same generator gives the same grid.
    assert (tmp_path / pngs[0]).read_bytes() == (tmp_path / pngs[1]).read_bytes()

    config = monitor.get_config()
    assert config == {
        "log_dir": os.fspath(tmp_path),
        "num_samples": 4,
        "every_n_epochs": 2,
        "declared_positive_rates": {},
        "seed": 3,
        "every_n_steps": None,
        "images_every_n_steps": None,
        "save_png": True,
    }
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(monitor)
    )
    assert isinstance(revived, AmalgamationMonitor)
    assert revived.get_config() == config


def test_refuses_to_overwrite_an_existing_png(runs, tmp_path):
    gan = runs["gan"]
    existing = tmp_path / "samples_epoch_0002.png"
    existing.write_bytes(b"not ours")
    iterations = int(keras.ops.convert_to_numpy(gan.optimizer.iterations))
    monitor = AmalgamationMonitor(tmp_path, num_samples=4)
    with pytest.raises(FileExistsError, match="samples_epoch_0002.png"):
        gan.fit(noise(1), epochs=2, callbacks=[monitor], verbose=0)
    # Refused before any training step, and the file is untouched.
    assert int(keras.ops.convert_to_numpy(gan.optimizer.iterations)) == iterations
    assert existing.read_bytes() == b"not ours"
    assert not (tmp_path / "samples_epoch_0001.png").exists()


def test_invalid_arguments(runs, tmp_path):
    with pytest.raises(ValueError, match="num_samples"):
        AmalgamationMonitor(tmp_path, num_samples=0)
    with pytest.raises(ValueError, match="every_n_epochs"):
        AmalgamationMonitor(tmp_path, every_n_epochs=1.5)
    with pytest.raises(ValueError, match="declared_positive_rates"):
        AmalgamationMonitor(tmp_path, declared_positive_rates={"red": 2.0})
    with pytest.raises(ValueError, match="amalgam_gan"):
        AmalgamationMonitor(tmp_path, amalgam_gan="gan")
    with pytest.raises(ValueError, match="dual"):
        AmalgamationMonitor(tmp_path, dual=runs["gan"])
    with pytest.raises(ValueError, match="log_dir"):
        AmalgamationMonitor("")
    monitor = AmalgamationMonitor(tmp_path, declared_positive_rates={"Blue": 0.5})
    monitor.set_model(runs["gan"])
    with pytest.raises(ValueError, match="unknown labels \\['Blue'\\]"):
        monitor.on_train_begin()
    monitor = AmalgamationMonitor(tmp_path)
    monitor.set_model(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="needs an `AmalgamGAN`"):
        monitor.on_train_begin()


def test_steps_mode_logs_within_epochs_of_adversarial_amalgamation(tmp_path):
    """`every_n_steps`: curves within one long epoch, grids less often, steps
    counted over fit() calls; the student of an AdversarialAmalgamation."""
    gan = keras_dfka.AmalgamGAN(make_teachers(), latent_dim=LATENT_DIM)
    dual = keras_dfka.DualGenerator(gan, ["green", "blue_most"], block_wise=False)
    trainer = keras_dfka.AdversarialAmalgamation(gan, dual, pool_size=64)
    trainer.compile()
    monitor = AmalgamationMonitor(
        tmp_path, num_samples=NUM_SAMPLES, every_n_steps=2, images_every_n_steps=4
    )
    trainer.fit(noise(steps=6), callbacks=[monitor], verbose=0)
    trainer.set_generator_training(False)
    trainer.fit(noise(steps=2), callbacks=[monitor], verbose=0)
    events = read_events(tmp_path)
    tags = set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss/student_loss")] == [2, 4, 6, 8]
    assert {"coverage/green/positive", "coverage/blue_most/boundary"} <= tags
    assert "agreement/mean_absolute_error" in tags
    assert [e.step for e in events.Images("samples")] == [4, 8]
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["samples_step_000004.png", "samples_step_000008.png"]
    assert monitor.get_config()["images_every_n_steps"] == 4
    with pytest.raises(ValueError, match="every_n_steps"):
        AmalgamationMonitor(tmp_path, every_n_steps=0)
    with pytest.raises(ValueError, match="images_every_n_steps"):
        AmalgamationMonitor(tmp_path, images_every_n_steps=10)
    # By default, a grid every 10 logs.
    assert AmalgamationMonitor(tmp_path, every_n_steps=25).images_every_n_steps == 250


def test_grids_without_png_files_and_a_settable_step(tmp_path):
    """`save_png=False`: grids only in the event file; `global_step` set
    (as `amalgamate` does for a resumed run) moves the curves on."""
    gan = keras_dfka.AmalgamGAN(make_teachers(), latent_dim=LATENT_DIM)
    gan.compile()
    monitor = AmalgamationMonitor(
        tmp_path,
        num_samples=NUM_SAMPLES,
        every_n_steps=1,
        images_every_n_steps=2,
        save_png=False,
    )
    monitor.global_step = 10
    gan.fit(noise(steps=2), callbacks=[monitor], verbose=0)
    events = read_events(tmp_path)
    assert [e.step for e in events.Scalars("loss/loss")] == [11, 12]
    assert [e.step for e in events.Images("samples")] == [12]
    assert not list(tmp_path.glob("*.png"))
    with pytest.raises(ValueError, match="global_step"):
        monitor.global_step = -1
    with pytest.raises(ValueError, match="save_png"):
        AmalgamationMonitor(tmp_path, save_png="no")
