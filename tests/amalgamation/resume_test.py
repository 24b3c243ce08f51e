"""A trainer's whole training state survives saving: optimizer state in
`.keras` files, seed generators in weights files, and a pipeline run that
stops continues to the same result (docs/reliability.md, "Resume")."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_dfka
from keras_dfka.amalgamation.checkpoint import run_fingerprint
from keras_dfka.callbacks import LatentEpoch
from keras_dfka.cli import main
from keras_dfka.datasets import LatentNoise
from keras_dfka.models.teacher_zoo import block_names
from keras_dfka.models.teacher_zoo import small_cnn

SHAPE = (8, 8, 3)


def tiny_teacher(name="tiny"):
    keras.utils.set_random_seed(0)
    task = keras_dfka.LabelTask("attrs", ["a", "b"], "sigmoid")
    model = small_cnn(SHAPE, [task], widths=(4, 4), name=name)
    return keras_dfka.Teacher(model, block_names(model), labels=["a", "b"])


@pytest.fixture(scope="module")
def teacher():
    return tiny_teacher()


def make_trainer(kind, teacher):
    keras.utils.set_random_seed(1)
    gan = keras_dfka.AmalgamGAN([teacher], latent_dim=4, seed=3)
    if kind == "gan":
        model = gan
    else:
        dual = keras_dfka.DualGenerator(gan, ["a"], block_wise=False)
        if kind == "dual":
            model = dual
        else:
            model = keras_dfka.AdversarialAmalgamation(
                gan, dual, pool_size=16, adversarial_start=0, seed=4
            )
    model.compile(learning_rate=2e-3, jit_compile=False)
    return model


def state_of(model):
    """Every weight, the optimizer's variables and the seed states."""
    values = [keras.ops.convert_to_numpy(v) for v in model.weights]
    values += [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    values += [
        keras.ops.convert_to_numpy(g.state) for g in model._saved_seed_generators()
    ]
    return values


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("kind", ["gan", "dual", "adversarial"])
def test_a_saved_trainer_restores_its_optimizer_and_seeds(kind, teacher, tmp_path):
    model = make_trainer(kind, teacher)
    model.fit(LatentNoise(4, 2, 3, seed=0), shuffle=False, verbose=0)
    assert int(model.optimizer.iterations) == 3
    path = str(tmp_path / f"{kind}.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.compiled
    assert int(restored.optimizer.iterations) == 3
    assert restored.get_compile_config() == model.get_compile_config()
    assert_same(state_of(model), state_of(restored))
    # Both continue the same way.
    model.fit(LatentNoise(4, 2, 2, seed=1), shuffle=False, verbose=0)
    restored.fit(LatentNoise(4, 2, 2, seed=1), shuffle=False, verbose=0)
    assert_same(state_of(model), state_of(restored))


def test_seed_generator_states_are_in_the_weights_file(teacher, tmp_path):
    model = make_trainer("adversarial", teacher)
    model.fit(LatentNoise(4, 2, 2, seed=0), shuffle=False, verbose=0)
    path = str(tmp_path / "a.weights.h5")
    model.save_weights(path)
    other = make_trainer("adversarial", teacher)
    before = [
        keras.ops.convert_to_numpy(g.state) for g in other._saved_seed_generators()
    ]
    other.load_weights(path)
    after = [
        keras.ops.convert_to_numpy(g.state) for g in other._saved_seed_generators()
    ]
    expected = [
        keras.ops.convert_to_numpy(g.state) for g in model._saved_seed_generators()
    ]
    assert any((b != e).any() for b, e in zip(before, expected))
    assert_same(after, expected)


def test_compile_config_keeps_an_optimizer_instance(teacher, tmp_path):
    gan = keras_dfka.AmalgamGAN([teacher], latent_dim=4)
    gan.compile(generator_optimizer=keras.optimizers.SGD(0.05), jit_compile=False)
    gan.fit(LatentNoise(4, 2, 1), shuffle=False, verbose=0)
    path = str(tmp_path / "g.keras")
    gan.save(path)
    restored = keras.saving.load_model(path)
    config = restored.get_compile_config()
    assert config["generator_optimizer"]["class_name"] == "SGD"
    learning_rate = config["generator_optimizer"]["config"]["learning_rate"]
    assert learning_rate == pytest.approx(0.05)
    assert int(restored.optimizer.iterations) == 1


# ------------------------------------------------------------ resume a run
class Killed(Exception):
    pass


class KillAt(keras.callbacks.Callback):
    """Raises after `step` steps of the `segment`-th fit() of a run."""

    def __init__(self, segment, step):
        super().__init__()
        self.segment, self.step, self.fits = segment, step, -1

    def on_train_begin(self, logs=None):
        self.fits += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.fits == self.segment and batch + 1 == self.step:
            raise Killed()


def run_config(schedule, directory, **changes):
    values = dict(
        schedule=schedule,
        latent_dim=4,
        batch_size=2,
        gan_steps=4,
        dual_steps=6,
        pool_size=8,
        adversarial_start=0,
        alternate_steps=2,
        jit_compile=False,
        verbose=0,
        checkpoint_dir=str(directory),
        checkpoint_steps=2,
    )
    values.update(changes)
    return keras_dfka.AmalgamationConfig(**values)


def target_weights(result):
    return [keras.ops.convert_to_numpy(w) for w in result.target_net.weights]


@pytest.fixture(scope="module")
def whole_runs(teacher, tmp_path_factory):
    """`whole_runs(schedule)`: the uninterrupted run, once per schedule."""
    runs = {}

    def run(schedule):
        if schedule not in runs:
            directory = tmp_path_factory.mktemp(f"whole_{schedule}")
            config = run_config(schedule, directory)
            runs[schedule] = keras_dfka.amalgamate([teacher], ["a"], config)
        return runs[schedule]

    return run


@pytest.mark.parametrize(
    "schedule, segment, step",
    [
        ("adversarial", 0, 3),  # Killed in stage 1, one step after a save.
        ("adversarial", 1, 1),  # In the student's steps on the final pool.
        ("sequential", 1, 4),
        ("alternate", 3, 1),
    ],
)
def test_a_killed_run_resumes_to_the_same_target_net(
    schedule, segment, step, teacher, whole_runs, tmp_path
):
    whole = whole_runs(schedule)
    config = run_config(schedule, tmp_path / "killed")
    with pytest.raises(Killed):
        keras_dfka.amalgamate(
            [teacher], ["a"], config, callbacks=[KillAt(segment, step)]
        )
    resumed = keras_dfka.amalgamate([teacher], ["a"], config.replace(resume=True))
    assert_same(target_weights(whole), target_weights(resumed))
    # Resuming a finished run trains nothing and gives the same TargetNet.
    again = keras_dfka.amalgamate([teacher], ["a"], config.replace(resume=True))
    assert again.steps == {}
    assert_same(target_weights(whole), target_weights(again))


def test_a_checkpoint_is_not_overwritten_without_resume(teacher, tmp_path):
    config = run_config("sequential", tmp_path, gan_steps=2, dual_steps=2)
    keras_dfka.amalgamate([teacher], ["a"], config)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match="already holds a checkpoint.*resume=True"):
        keras_dfka.amalgamate([teacher], ["a"], config)
    assert sorted(os.listdir(tmp_path)) == before
    with pytest.raises(ValueError, match="different run: gan_steps|config.gan_steps"):
        keras_dfka.amalgamate(
            [teacher], ["a"], config.replace(resume=True, gan_steps=3, dual_steps=3)
        )


def test_resume_needs_a_checkpoint_dir():
    with pytest.raises(ValueError, match="`resume=True` needs a `checkpoint_dir`"):
        keras_dfka.AmalgamationConfig(resume=True)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="one backend is enough for the process test (three runs, one of "
    "them a new process); the in-process tests above run on every backend",
)
def test_the_command_line_resumes_a_killed_process(teacher, tmp_path):
    """Kills a real `keras-dfka amalgamate` process after its first
    checkpoints; `--resume` then ends with the uninterrupted TargetNet."""
    model_path = str(tmp_path / "tiny.keras")
    teacher.model.save(model_path)
    argv = ["amalgamate", "--teacher", model_path]
    argv += ["--blocks", ",".join(block_names(teacher.model)), "--labels", "a,b"]
    argv += ["--target-labels", "a", "--steps", "40", "--batch-size", "2"]
    argv += ["--latent-dim", "4", "--pool-size", "8", "--verbose", "0"]
    argv += ["--agreement-samples", "8", "--jit-compile", "false"]
    argv += ["--checkpoint-steps", "2"]
    killed_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "keras_dfka", *argv]
    command += ["--checkpoint-dir", str(killed_dir)]
    command += ["--output", str(tmp_path / "killed.keras")]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    state_path = killed_dir / "checkpoint.json"
    deadline = time.time() + 300
    step = 0
    while time.time() < deadline and process.poll() is None:
        try:
            step = json.loads(state_path.read_text())["step"]
        except (OSError, ValueError, KeyError):
            step = 0
        if step >= 4:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, stderr
    assert 4 <= step < 40
    assert not (tmp_path / "killed.keras").exists()

    resumed_path = tmp_path / "resumed.keras"
    resume = ["--checkpoint-dir", str(killed_dir), "--resume"]
    assert main(argv + resume + ["--output", str(resumed_path)]) == 0
    whole_path = tmp_path / "whole.keras"
    whole = ["--checkpoint-dir", str(tmp_path / "whole")]
    assert main(argv + whole + ["--output", str(whole_path)]) == 0
    resumed = keras.saving.load_model(resumed_path)
    uninterrupted = keras.saving.load_model(whole_path)
    assert_same(
        [keras.ops.convert_to_numpy(w) for w in uninterrupted.weights],
        [keras.ops.convert_to_numpy(w) for w in resumed.weights],
    )


class KillInEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            raise Killed()


@pytest.mark.parametrize("kind", ["gan", "adversarial"])
def test_backup_and_restore_with_latent_epoch_resumes_exactly(kind, teacher, tmp_path):
    def fit(model, callbacks):
        noise = LatentNoise(4, 2, 2, seed=7)
        model.fit(
            noise,
            epochs=3,
            shuffle=False,
            verbose=0,
            callbacks=[LatentEpoch(noise), *callbacks],
        )

    whole = make_trainer(kind, teacher)
    fit(whole, [])
    backup = str(tmp_path / "backup")
    killed = make_trainer(kind, teacher)
    with pytest.raises(Killed):
        fit(killed, [keras.callbacks.BackupAndRestore(backup), KillInEpoch(2)])
    resumed = make_trainer(kind, teacher)  # A new process would build it anew.
    fit(resumed, [keras.callbacks.BackupAndRestore(backup)])
    assert int(resumed.optimizer.iterations) == 6
    assert_same(state_of(whole), state_of(resumed))


def test_latent_epoch_needs_a_latent_dataset():
    with pytest.raises(ValueError, match="`dataset` must have a `set_epoch"):
        LatentEpoch(np.zeros((4, 4)))


def test_checkpoints_written_before_max_feature_width_still_resume():
    # At its default the field is left out of the fingerprint, as in the
    # checkpoints written before it existed; another value is checked.
    default = run_fingerprint(keras_dfka.AmalgamationConfig(), [], ["a"])["config"]
    assert "max_feature_width" not in default
    other = run_fingerprint(
        keras_dfka.AmalgamationConfig(max_feature_width=64), [], ["a"]
    )
    assert other["config"]["max_feature_width"] == 64
    # The same for the fields added after it.
    for name, value in (
        ("student_learning_rate_decay", "cosine"),
        ("student_mixup", True),
        ("min_hidden_width", 16),
    ):
        assert name not in default
        other = run_fingerprint(
            keras_dfka.AmalgamationConfig(**{name: value}), [], ["a"]
        )
        assert other["config"][name] == value
