import keras
import numpy as np
import pytest
from conftest import all_equal
from conftest import any_changed
from conftest import weights_of
from trainer_case import assert_round_trip

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


def test_paper_loss_weights_have_no_priors(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=4, loss_weights="paper")
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


def test_round_trip(tiny_teachers, tmp_path):
    gan = keras_dfka.AmalgamGAN(
        list(tiny_teachers), latent_dim=8, loss_weights={"total_variation": 0.5}
    )
    gan.compile(filter_optimizer=keras.optimizers.SGD(0.01))
    z = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    loaded = assert_round_trip(gan, tmp_path, lambda m: {"images": m.generate(z=z)})
    assert isinstance(loaded.optimizer.optimizers[0], keras.optimizers.SGD)


def test_without_intermediate_term_filters_are_frozen_and_fit_runs(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(
        list(tiny_teachers),
        latent_dim=4,
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


def _bucket_teacher(monkeypatch, teacher, gan, pool, quantiles):
    """Makes `teacher`'s softmax task ("dominant") one-hot in the bucket of
    each image's mean brightness; the bucket edges are the `quantiles` of the
    images of `pool`, so the classes' natural shares are known.

    The means of an untrained generator's images lie about 1e-4 apart, and
    regenerating an image in another batch moves its mean by up to about
    1e-7: an edge is the midpoint between two neighbouring means, and a
    quantile of 1 is no edge at all (infinity), so no image sits on one."""
    means = gan.generate(z=pool).mean(axis=(1, 2, 3))
    ranked = np.sort(means)
    edges = [
        np.inf if q >= 1 else (ranked[k - 1] + ranked[k]) / 2
        for q, k in ((q, round(q * len(ranked))) for q in quantiles)
    ]
    image_pass = teacher.image_pass

    def bucketed(images):
        probabilities, features, bn_inputs = image_pass(images)
        buckets = np.searchsorted(
            edges, keras.ops.convert_to_numpy(images).mean(axis=(1, 2, 3))
        )
        dominant = np.eye(3, dtype="float32")[buckets]
        return [probabilities[0], dominant], features, bn_inputs

    monkeypatch.setattr(teacher, "image_pass", bucketed)


def _dominant_counts(gan, teacher, z):
    probabilities = teacher.image_pass(gan.generate(z=z))[0][1]
    return np.bincount(np.argmax(probabilities, axis=-1), minlength=3).tolist()


def test_balanced_latents_spread_the_softmax_classes_evenly(tiny_teachers, monkeypatch):
    teacher_a, teacher_b = tiny_teachers
    gan = keras_dfka.AmalgamGAN([teacher_a, teacher_b], latent_dim=8)
    pool = np.random.default_rng(5).standard_normal((4 * 30, 8)).astype("float32")
    _bucket_teacher(monkeypatch, teacher_b, gan, pool, [0.6, 0.85])
    assert _dominant_counts(gan, teacher_b, pool) == [72, 30, 18]

    # The only softmax task of the two teachers is picked without naming it.
    z = gan.balanced_latents(30, pool_factor=4, seed=5)
    assert z.shape == (30, 8) and z.dtype == np.float32
    assert _dominant_counts(gan, teacher_b, z) == [10, 10, 10]
    # Every vector comes from the seeded N(0, 1) pool, each at most once.
    pool_rows = [row.tobytes() for row in pool]
    assert all(row.tobytes() in pool_rows for row in z)
    assert len({row.tobytes() for row in z}) == 30
    np.testing.assert_array_equal(z, gan.balanced_latents(30, seed=5, task="dominant"))
    assert not np.array_equal(z, gan.balanced_latents(30, seed=6))
    # A pool too small for a class's share repeats that class's vectors
    # (a pool of 60 has fewer than 20 of the rarer classes).
    small = gan.balanced_latents(60, pool_factor=1, seed=7)
    assert _dominant_counts(gan, teacher_b, small) == [20, 20, 20]
    assert len({row.tobytes() for row in small}) < 60


def test_balanced_latents_warn_about_a_class_no_image_reaches(
    tiny_teachers, monkeypatch
):
    _, teacher_b = tiny_teachers
    gan = keras_dfka.AmalgamGAN([teacher_b], latent_dim=8)
    pool = np.random.default_rng(1).standard_normal((4 * 21, 8)).astype("float32")
    # Edges above every image: all in class 0 but for the top 30% (class 1).
    _bucket_teacher(monkeypatch, teacher_b, gan, pool, [0.7, 1.0])
    with pytest.warns(UserWarning, match=r"classified as \['blue_most'\].*left out"):
        z = gan.balanced_latents(21, seed=1)
    # The missing class's share goes to the others: 11 + 10 (+ 0).
    assert _dominant_counts(gan, teacher_b, z) == [11, 10, 0]


def test_balanced_latents_reject_bad_arguments(tiny_teachers):
    teacher_a, teacher_b = tiny_teachers
    sigmoid_only = keras_dfka.AmalgamGAN([teacher_a], latent_dim=8)
    with pytest.raises(ValueError, match=r"have 0 softmax tasks: \[\]"):
        sigmoid_only.balanced_latents(10)
    gan = keras_dfka.AmalgamGAN([teacher_a, teacher_b], latent_dim=8)
    with pytest.raises(ValueError, match=r"softmax tasks \['dominant'\]. Received: "):
        gan.balanced_latents(10, task="color")
    for kwargs, name in (
        ({"num_samples": 0}, "num_samples"),
        ({"num_samples": 10, "pool_factor": 0}, "pool_factor"),
        ({"num_samples": 10, "batch_size": 2.5}, "batch_size"),
    ):
        with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 1"):
            gan.balanced_latents(**kwargs)
