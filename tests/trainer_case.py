"""The round trip every trainer's tests run (tests/trainers/*_test.py).

`assert_round_trip(trainer, tmp_path, outputs)`: two steps of `fit()`, save
as `.keras`, load, and the loaded trainer is the same trainer: class,
config, compile arguments, every weight (the teachers' too), the seed
generators' states, the optimizer's variables and iteration counts, and
what it computes (`outputs`: generated images, student predictions); and
loading warns about nothing it could not load. It runs on the backend the
tests run on (`KERAS_BACKEND`). Import it as the tests import `conftest`:
`from trainer_case import assert_round_trip`.
"""

import warnings

import keras
import numpy as np

import keras_dfka

LATENT_BATCH_SIZE = 4
STEPS = 2


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def latent_dim_of(trainer):
    """The width of the latent vectors `trainer.fit()` takes."""
    gan = getattr(trainer, "amalgam_gan", trainer)
    return gan.latent_dim


def state_of(trainer):
    """`{name: array}`: every weight, the seed generators' states and the
    optimizer's variables (the MultiOptimizer's iterations and each inner
    optimizer's iterations and moments)."""
    state = {f"weight {v.path}": numpy(v) for v in trainer.weights}
    for i, generator in enumerate(trainer._saved_seed_generators()):
        state[f"seed generator {i}"] = numpy(generator.state)
    for i, variable in enumerate(trainer.optimizer.variables):
        state[f"optimizer variable {i} {variable.name}"] = numpy(variable)
    return state


def assert_same_arrays(expected, received, what, **tolerance):
    assert list(received) == list(expected), (what, list(received), list(expected))
    for name, value in expected.items():
        np.testing.assert_allclose(
            received[name], value, err_msg=f"{what}: {name}", **tolerance
        )


def assert_round_trip(trainer, tmp_path, outputs):
    """Fits, saves, loads and compares a compiled trainer (see the module).

    Args:
        trainer: a compiled trainer (`AmalgamGAN`, `DualGenerator`,
            `AdversarialAmalgamation`), never fitted.
        tmp_path: pytest's `tmp_path`.
        outputs: `outputs(trainer) -> {name: array or tensor}`, what the
            trainer computes from fixed inputs.

    Returns:
        The loaded trainer, for checks of the caller's own.
    """
    # Plain asserts: pytest rewrites those of test modules and conftest only.
    assert trainer.compiled, "compile() the trainer first"
    noise = keras_dfka.datasets.LatentNoise(
        latent_dim_of(trainer), LATENT_BATCH_SIZE, steps=STEPS, seed=0
    )
    history = trainer.fit(noise, shuffle=False, verbose=0)
    logs = history.history
    assert logs and set(logs) <= set(trainer.loss_names), (logs, trainer.loss_names)
    for name, values in logs.items():
        assert np.all(np.isfinite(values)), (name, values)
    iterations = int(numpy(trainer.optimizer.iterations))
    assert iterations == STEPS, iterations

    path = str(tmp_path / f"{trainer.name}.keras")
    trainer.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    # e.g. "Skipping variable loading for optimizer ...": state left behind.
    # (Not a DeprecationWarning of Keras's own code under some backend.)
    problems = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert not problems, problems

    assert type(loaded) is type(trainer), type(loaded)
    assert loaded.compiled, "not compiled after loading"
    assert loaded.get_config() == trainer.get_config(), "config differs"
    compile_config = loaded.get_compile_config()
    assert compile_config == trainer.get_compile_config(), compile_config
    assert loaded.loss_names == trainer.loss_names, loaded.loss_names
    assert_same_arrays(state_of(trainer), state_of(loaded), "state", rtol=0, atol=0)
    expected = {name: numpy(x) for name, x in outputs(trainer).items()}
    received = {name: numpy(x) for name, x in outputs(loaded).items()}
    assert_same_arrays(expected, received, "outputs", rtol=1e-5, atol=1e-6)
    return loaded
