import keras
import numpy as np
import pytest
from conftest import all_equal
from conftest import any_changed
from conftest import weights_of
from trainer_case import assert_round_trip

import keras_dfka
from keras_dfka.models.label_plan import LabelPlan

TARGETS = ["blue", "red", "dominant/green_most", "is_bright"]


def make_gan(teachers, steps=0):
    gan = keras_dfka.AmalgamGAN(list(teachers), latent_dim=8)
    gan.compile()
    if steps:
        gan.fit(keras_dfka.datasets.LatentNoise(8, 16, steps=steps), verbose=0)
    return gan


def test_fit_trains_student_and_filters_only(tiny_teachers):
    gan = make_gan(tiny_teachers)
    dual = keras_dfka.DualGenerator(gan, TARGETS)
    dual.compile()
    teachers_before = [weights_of(t) for t in tiny_teachers]
    generator_before = weights_of(dual.generator)
    gan_generator_before = weights_of(gan.generator)
    blocks_before = [weights_of(b) for b in dual.student_blocks]
    filters_before = [weights_of(f) for row in dual.filters for f in row if f]
    history = dual.fit(
        keras_dfka.datasets.LatentNoise(8, 16, steps=3), epochs=2, verbose=0
    )
    assert all(
        all_equal(b, weights_of(t)) for b, t in zip(teachers_before, tiny_teachers)
    )
    assert all_equal(generator_before, weights_of(dual.generator))
    assert all_equal(gan_generator_before, weights_of(gan.generator))
    for before, block in zip(blocks_before, dual.student_blocks):
        assert any_changed(before, weights_of(block))
    filters_after = [weights_of(f) for row in dual.filters for f in row if f]
    assert all(any_changed(b, a) for b, a in zip(filters_before, filters_after))
    assert int(keras.ops.convert_to_numpy(dual.optimizer.iterations)) == 6
    assert set(history.history) == {"loss", "block_1", "block_2", "block_3"}
    for values in history.history.values():
        assert np.all(np.isfinite(values))
    # The GAN's own variables are not part of the dual generator.
    gan_ids = {id(v) for v in gan.trainable_variables}
    assert not gan_ids & {id(v) for v in dual.trainable_variables}


def test_sequential_schedule_trains_one_block_at_a_time(tiny_teachers):
    gan = make_gan(tiny_teachers)
    dual = keras_dfka.DualGenerator(gan, ["red", "is_bright"])
    dual.compile()
    dual.set_active_blocks([2])
    before = [weights_of(b) for b in dual.student_blocks]
    history = dual.fit(keras_dfka.datasets.LatentNoise(8, 16, steps=2), verbose=0)
    assert set(history.history) == {"loss", "block_2"}
    after = [weights_of(b) for b in dual.student_blocks]
    assert all_equal(before[0], after[0])
    assert any_changed(before[1], after[1])
    assert all_equal(before[2], after[2])
    histories = dual.fit_sequential(
        keras_dfka.datasets.LatentNoise(8, 16, steps=2), verbose=0
    )
    assert [sorted(h.history) for h in histories] == [
        ["block_1", "loss"],
        ["block_2", "loss"],
        ["block_3", "loss"],
    ]
    assert dual.active_blocks == [1, 2, 3]
    with pytest.raises(ValueError, match="blocks"):
        dual.set_active_blocks([4])


def test_sequential_schedule_copies_an_optimizer_instance(tiny_teachers):
    # An instance is built for the variables it first saw; reusing it for
    # another block broke its EMA (matched to the variables by position).
    gan = make_gan(tiny_teachers)
    dual = keras_dfka.DualGenerator(gan, ["red", "is_bright"])
    optimizer = keras.optimizers.Adam(2e-3, beta_1=0.5, use_ema=True, ema_momentum=0.9)
    dual.compile(student_optimizer=optimizer)
    dual.set_active_blocks([2])
    dual.fit(keras_dfka.datasets.LatentNoise(8, 16, steps=2), verbose=0)
    student = dual.optimizer.optimizers[1]
    assert student is not optimizer
    assert isinstance(student, keras.optimizers.Adam)
    config = student.get_config()
    assert config["use_ema"] and config["ema_momentum"] == 0.9
    assert np.isclose(config["learning_rate"], 2e-3)
    assert int(keras.ops.convert_to_numpy(student.iterations)) == 2
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 0
    before = [weights_of(b) for b in dual.student_blocks]
    histories = dual.fit_sequential(
        keras_dfka.datasets.LatentNoise(8, 16, steps=2), verbose=0
    )
    assert len(histories) == 3
    for b, block in zip(before, dual.student_blocks):
        assert any_changed(b, weights_of(block))


@pytest.mark.parametrize(
    "targets, match",
    [
        (["nope"], "no teacher predicts"),
        (["red", "red"], "repeat"),
        ([], "non-empty"),
        ("red", "list"),
    ],
)
def test_bad_target_labels(tiny_teachers, targets, match):
    gan = make_gan(tiny_teachers)
    with pytest.raises(ValueError, match=match):
        keras_dfka.DualGenerator(gan, targets)


def test_bad_arguments(tiny_teachers):
    gan = make_gan(tiny_teachers)
    with pytest.raises(ValueError, match="amalgam_gan"):
        keras_dfka.DualGenerator("gan", ["red"])
    with pytest.raises(ValueError, match="stream_weights"):
        keras_dfka.DualGenerator(gan, ["red"], stream_weights=(0, 0))
    with pytest.raises(ValueError, match="temperature"):
        keras_dfka.DualGenerator(gan, ["red"], temperature=0)
    with pytest.raises(ValueError, match="blocks"):
        keras_dfka.DualGenerator(gan, ["red"], blocks=[keras.layers.Identity()])
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match="convs_per_block"):
            keras_dfka.DualGenerator(gan, ["red"], convs_per_block=bad)


def _conv_layers(block):
    return [layer for layer in block.layers if isinstance(layer, keras.layers.Conv2D)]


def test_default_blocks_have_a_stride_one_and_a_strided_convolution(tiny_teachers):
    gan = make_gan(tiny_teachers)
    dual = keras_dfka.DualGenerator(gan, ["red"])
    assert dual.convs_per_block == 2
    first = _conv_layers(dual.student_blocks[0])
    assert [c.strides for c in first] == [(1, 1), (2, 2)]
    single = keras_dfka.DualGenerator(gan, ["red"], convs_per_block=1)
    assert [c.strides for c in _conv_layers(single.student_blocks[0])] == [(2, 2)]
    wide = keras_dfka.DualGenerator(
        gan, ["red"], convs_per_block=3, hidden_width_multiplier=2.0
    )
    convs = _conv_layers(wide.student_blocks[0])
    out_width = gan.level_shapes[1][-1]
    assert [c.filters for c in convs] == [2 * out_width, 2 * out_width, out_width]
    assert single.count_params() < dual.count_params() < wide.count_params()


def test_min_hidden_width_floors_the_inner_convolutions(tiny_teachers):
    gan = make_gan(tiny_teachers)
    out_width = gan.level_shapes[1][-1]
    thin = keras_dfka.DualGenerator(gan, ["red"], hidden_width_multiplier=0.25)
    assert thin.min_hidden_width == 4
    assert _conv_layers(thin.student_blocks[0])[0].filters == max(
        4, round(out_width * 0.25)
    )
    floored = keras_dfka.DualGenerator(
        gan, ["red"], hidden_width_multiplier=0.25, min_hidden_width=24
    )
    for block in floored.student_blocks:
        assert _conv_layers(block)[0].filters >= 24
    assert floored.count_params() > thin.count_params()
    assert floored.get_config()["min_hidden_width"] == 24
    # The config passes it on; an old config without it gets the default.
    config = keras_dfka.AmalgamationConfig(min_hidden_width=24)
    assert config.dual_options()["min_hidden_width"] == 24
    assert keras_dfka.AmalgamationConfig().min_hidden_width == 4
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="min_hidden_width"):
            keras_dfka.DualGenerator(gan, ["red"], min_hidden_width=bad)
        with pytest.raises(ValueError, match="min_hidden_width"):
            keras_dfka.AmalgamationConfig(min_hidden_width=bad)


def test_one_stream_and_end_to_end_options(tiny_teachers):
    gan = make_gan(tiny_teachers)
    noise = keras_dfka.datasets.LatentNoise(8, 8, steps=1)
    single = keras_dfka.DualGenerator(gan, ["red"], stream_weights=(1.0, 0.0))
    single.compile()
    assert np.isfinite(single.fit(noise, verbose=0).history["loss"][0])
    end_to_end = keras_dfka.DualGenerator(gan, ["red"], block_wise=False)
    end_to_end.compile()
    history = end_to_end.fit(noise, verbose=0)
    assert list(history.history) == ["loss"]


def test_round_trip(tiny_teachers, tmp_path):
    gan = make_gan(tiny_teachers)
    dual = keras_dfka.DualGenerator(gan, TARGETS, stream_weights=(1.0, 0.5))
    dual.compile()
    images = gan.generate(3, seed=1)
    loaded = assert_round_trip(dual, tmp_path, lambda m: {"labels": m(images)})
    assert loaded.target_labels == TARGETS
    assert loaded.stream_weights == (1.0, 0.5)
    assert loaded.level_shapes == dual.level_shapes


def test_fine_tune_heads_trains_head_copies_that_the_target_net_keeps(tiny_teachers):
    gan = make_gan(tiny_teachers)
    teachers_before = [weights_of(t) for t in tiny_teachers]
    dual = keras_dfka.DualGenerator(gan, TARGETS, fine_tune_heads=True)
    dual.compile()
    heads_before = []
    for m in dual.active_teachers:
        head = dual.heads[m]
        assert head is dual.branch_head(m) and head.trainable_weights
        # A copy of the teacher's head, not the teacher's head itself.
        assert all_equal(weights_of(dual.teachers[m].head), weights_of(head))
        assert not {id(v) for v in head.weights} & {
            id(v) for v in dual.teachers[m].head.weights
        }
        heads_before.append(weights_of(head))
    # Trained with the last block only: frozen while block 3 is not active.
    dual.set_active_blocks([1, 2])
    dual.fit(keras_dfka.datasets.LatentNoise(8, 16, steps=2), verbose=0)
    for m, before in zip(dual.active_teachers, heads_before):
        assert all_equal(before, weights_of(dual.heads[m]))
    dual.set_active_blocks([1, 2, 3])
    dual.fit(keras_dfka.datasets.LatentNoise(8, 16, steps=3), verbose=0)
    for m, before in zip(dual.active_teachers, heads_before):
        assert any_changed(before, weights_of(dual.heads[m]))
    assert all(
        all_equal(b, weights_of(t)) for b, t in zip(teachers_before, tiny_teachers)
    )

    target = keras_dfka.TargetNet.from_dual(dual)
    for m in dual.active_teachers:
        branch = target.get_layer(f"branch_{dual.teachers[m].name}_head")
        assert all_equal(weights_of(dual.heads[m]), weights_of(branch))
    images = gan.generate(6, seed=3)
    np.testing.assert_allclose(
        target.predict_labels(images),
        keras.ops.convert_to_numpy(dual(images)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_heads_are_the_teachers_by_default(tiny_teachers):
    gan = make_gan(tiny_teachers)
    dual = keras_dfka.DualGenerator(gan, TARGETS)
    assert dual.heads == [None, None]
    for m in dual.active_teachers:
        assert dual.branch_head(m) is dual.teachers[m].head
    with pytest.raises(ValueError, match="`fine_tune_heads` must be True or False"):
        keras_dfka.DualGenerator(gan, TARGETS, fine_tune_heads="yes")
    config = keras_dfka.DualGenerator(gan, TARGETS, fine_tune_heads=True).get_config()
    assert config["fine_tune_heads"] is True
    clone = keras_dfka.DualGenerator.from_config(config)
    assert all(clone.heads[m] is not None for m in clone.active_teachers)


@pytest.mark.parametrize("softmax_labels", [3, 1])
def test_label_agreement_counts_softmax_decisions(
    tiny_teachers, monkeypatch, softmax_labels
):
    # The teachers' probabilities are made equal to the student's, except
    # that on the first half of the samples the softmax task's target columns
    # are rolled (its arg-max moves) or, with one such column, flipped
    # around 0.5: the sigmoid label always agrees, the softmax task on half.
    softmax = ["dominant/red_most", "dominant/green_most", "dominant/blue_most"]
    dual = keras_dfka.DualGenerator(
        make_gan(tiny_teachers), ["red"] + softmax[:softmax_labels]
    )

    def altered_student(plan, teachers, images, batch_size=128):
        p = keras.ops.convert_to_numpy(dual(images)).copy()
        half = len(p) // 2
        if softmax_labels == 1:
            p[:half, 1] = np.where(p[:half, 1] >= 0.5, 0.25, 0.75)
        else:
            p[:half, 1:] = np.roll(p[:half, 1:], 1, axis=-1)
        return p

    monkeypatch.setattr(LabelPlan, "teacher_probabilities", altered_student)
    result = dual.agreement(num_samples=64, seed=3)
    # 64 sigmoid decisions agree, 32 of the 64 softmax ones: 96 / 128.
    assert result["label_agreement"] == pytest.approx(0.75)
    assert result["mean_absolute_error"] > 0


def test_hard_latents_keep_the_largest_disagreements(tiny_teachers):
    dual = keras_dfka.DualGenerator(
        make_gan(tiny_teachers), ["red", "is_bright", "dominant/red_most"]
    )
    z = dual.hard_latents(10, pool_factor=3, seed=4)
    assert z.shape == (10, 8) and z.dtype == np.float32
    pool = np.random.default_rng(4).standard_normal((30, 8)).astype("float32")
    scores = dual.disagreement(pool)
    assert scores.shape == (30,) and np.all(scores >= 0)
    # The 10 pool vectors of largest disagreement, each once, in some order.
    expected = {pool[i].tobytes() for i in np.argsort(-scores)[:10]}
    assert {row.tobytes() for row in z} == expected
    np.testing.assert_array_equal(z, dual.hard_latents(10, pool_factor=3, seed=4))
    # Scored in chunks or not, a vector's disagreement is the same.
    np.testing.assert_allclose(
        dual.disagreement(pool[:7], batch_size=3), scores[:7], rtol=1e-4, atol=1e-6
    )


def test_disagreement_is_the_kl_divergence_per_decision(tiny_teachers, monkeypatch):
    labels = ["red", "dominant/red_most", "dominant/green_most", "dominant/blue_most"]
    dual = keras_dfka.DualGenerator(make_gan(tiny_teachers), labels)
    student = np.array([[0.5, 0.2, 0.3, 0.5], [0.9, 0.6, 0.2, 0.2]], "float32")
    teacher = np.array([[0.5, 0.2, 0.3, 0.5], [0.5, 0.2, 0.4, 0.4]], "float32")
    monkeypatch.setattr(
        dual, "_label_probabilities", lambda images, batch_size: (student, teacher)
    )
    scores = dual.disagreement(np.zeros((2, 8), "float32"))
    bernoulli = 0.5 * np.log(0.5 / 0.9) + 0.5 * np.log(0.5 / 0.1)
    categorical = 0.2 * np.log(0.2 / 0.6) + 2 * 0.4 * np.log(0.4 / 0.2)
    np.testing.assert_allclose(scores, [0.0, bernoulli + categorical], rtol=1e-5)


def test_hard_latents_reject_bad_arguments(tiny_teachers):
    dual = keras_dfka.DualGenerator(make_gan(tiny_teachers), ["red"])
    with pytest.raises(ValueError, match="`num_samples` must be an integer >= 1"):
        dual.hard_latents(0)
    with pytest.raises(ValueError, match="`pool_factor` must be an integer >= 1"):
        dual.hard_latents(4, pool_factor=0.5)
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1"):
        dual.disagreement(np.zeros((2, 8), "float32"), batch_size=0)
    with pytest.raises(ValueError, match=r"`z` must have shape \(n, 8\)"):
        dual.disagreement(np.zeros((2, 5), "float32"))
