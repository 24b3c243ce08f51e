import keras
import numpy as np
from conftest import all_equal
from conftest import any_changed
from conftest import weights_of

import keras_dfka


def test_fit_trains_generator_and_filters_only(tiny_teachers):
    teacher_a, teacher_b = tiny_teachers
    gan = keras_dfka.AmalgamGAN([teacher_a, teacher_b], latent_dim=8)
    gan.compile()
    teachers_before = weights_of(teacher_a) + weights_of(teacher_b)
    bn_before = [
        weights_of(layer)
        for t in (teacher_a, teacher_b)
        for layer in t.batch_norm_layers
    ]
    generator_before = weights_of(gan.generator)
    filters_before = [weights_of(f) for row in gan.filters for f in row]
    noise = keras_dfka.datasets.LatentNoise(8, batch_size=16, steps=3)
    history = gan.fit(noise, epochs=2, verbose=0)

    assert all_equal(teachers_before, weights_of(teacher_a) + weights_of(teacher_b))
    bn_after = [
        weights_of(layer)
        for t in (teacher_a, teacher_b)
        for layer in t.batch_norm_layers
    ]
    assert all(all_equal(b, a) for b, a in zip(bn_before, bn_after))
    assert any_changed(generator_before, weights_of(gan.generator))
    filters_after = [weights_of(f) for row in gan.filters for f in row]
    assert all(any_changed(b, a) for b, a in zip(filters_before, filters_after))
    assert int(keras.ops.convert_to_numpy(gan.optimizer.iterations)) == 6
    for inner in gan.optimizer.optimizers:
        assert int(keras.ops.convert_to_numpy(inner.iterations)) == 6
    assert sorted(history.history) == sorted(gan.loss_names)
    assert len(set(history.history)) == len(history.history)
    for name, values in history.history.items():
        assert len(values) == 2
        assert np.all(np.isfinite(values)), name
    expected = {
        "loss",
        "one_hot",
        "activation",
        "information_entropy",
        "discrete",
        "intermediate",
        "batch_norm",
    }
    assert set(history.history) == expected


def test_teachers_are_frozen_and_called_in_inference_mode(tiny_teachers):
    teacher_a, _ = tiny_teachers
    assert not teacher_a.trainable
    assert teacher_a.trainable_weights == []
    gan = keras_dfka.AmalgamGAN([teacher_a], latent_dim=4)
    teacher_ids = {id(v) for v in teacher_a.weights}
    assert not teacher_ids & {id(v) for v in gan.trainable_variables}


def test_paper_preset_has_no_priors(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=4, preset="paper")
    assert gan.loss_weights["batch_norm"] == 0
    assert gan.loss_weights["total_variation"] == 0
    assert "batch_norm" not in gan.loss_names
    custom = keras_dfka.AmalgamGAN(
        list(tiny_teachers), latent_dim=4, loss_weights={"total_variation": 0.5}
    )
    assert custom.loss_weights["total_variation"] == 0.5
    assert "total_variation" in custom.loss_names


def test_generate_shapes_range_and_determinism(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=4)
    images = gan.generate(5, seed=3)
    assert images.shape == (5, 16, 16, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, gan.generate(5, seed=3))
    images, features = gan.generate(z=np.zeros((2, 4)), return_features=True)
    assert [f.shape[1:] for f in features] == [
        tuple(s) for s in gan.level_shapes[1 : gan.num_blocks]
    ]


def test_generate_rejects_bad_noise(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=4)
    import pytest

    with pytest.raises(ValueError, match="z"):
        gan.generate(z=np.zeros((2, 5)))
    with pytest.raises(ValueError, match="num_samples"):
        gan.generate()


def test_compile_rejects_loss_argument(tiny_teachers):
    import pytest

    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=4)
    with pytest.raises(ValueError, match="loss"):
        gan.compile(loss="mse")


def test_generator_saves_and_loads(tiny_teachers, tmp_path):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=4)
    path = str(tmp_path / "generator.keras")
    gan.generator.save(path)
    loaded = keras.saving.load_model(path)
    z = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(z)[0]),
        keras.ops.convert_to_numpy(gan.generator(z)[0]),
        atol=1e-6,
    )


def test_without_intermediate_term_filters_are_frozen_and_fit_runs(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(
        list(tiny_teachers),
        latent_dim=4,
        preset="paper",
        loss_weights={"intermediate": 0.0, "discrete": 0.0},
    )
    gan.compile()
    assert "intermediate" not in gan.loss_names
    assert all(not f.trainable for row in gan.filters for f in row)
    history = gan.fit(keras_dfka.datasets.LatentNoise(4, 8, steps=2), verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_rejects_non_integer_sizes(tiny_teachers):
    import pytest

    for kwargs, name in (
        (dict(latent_dim=0), "latent_dim"),
        (dict(latent_dim=8.0), "latent_dim"),
        (dict(latent_dim=True), "latent_dim"),
        (dict(latent_dim=8, filter_reduction=2.5), "filter_reduction"),
        (dict(latent_dim=8, filter_reduction=0), "filter_reduction"),
    ):
        with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 1"):
            keras_dfka.AmalgamGAN(list(tiny_teachers), **kwargs)
