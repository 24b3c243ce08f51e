import numpy as np
from conftest import weights_of

import keras_dfka
from examples import references


def test_label_model_starts_from_teacher_heads_and_trains_everything(tiny_teachers):
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    dual = keras_dfka.DualGenerator(
        gan, ["blue", "is_bright", "green_most"], fine_tune_heads=True
    )
    dual.compile()
    dual.fit(keras_dfka.datasets.LatentNoise(8, 8, steps=2), verbose=0)
    target = keras_dfka.TargetNet.from_dual(dual)
    student = references.label_model(target, list(tiny_teachers))

    assert student.output.shape == (None, 3)
    heads = [layer for layer in student.layers if layer.name.endswith("_head")]
    assert len(heads) == 2
    by_name = {f"branch_{t.name}_head": t for t in tiny_teachers}
    for head in heads:
        # The teacher's own weights, not the TargetNet's fine-tuned ones, and
        # trainable (the TargetNet's copy is frozen).
        expected = weights_of(by_name[head.name].head)
        assert all(np.array_equal(a, b) for a, b in zip(weights_of(head), expected))
        tuned = weights_of(target.get_layer(head.name))
        assert any(not np.array_equal(a, b) for a, b in zip(tuned, expected))
        assert head.trainable and len(head.trainable_weights) == len(head.weights)
    trunk = student.get_layer("trunk_block_1")
    assert trunk.trainable_weights
    # The trunk is re-initialized, not copied.
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(weights_of(trunk), weights_of(target.get_layer(trunk.name)))
    )
    # Same predictions as a model with the same labels: one column per label.
    x = np.random.default_rng(0).uniform(size=(4, 16, 16, 3)).astype("float32")
    assert student.predict(x, verbose=0).shape == (4, 3)


def test_reference_students_train_one_model_per_image_set(tiny_teachers):
    config = keras_dfka.AmalgamationConfig(batch_size=8, verbose=0)
    targets = ["blue", "is_bright"]
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    dual = keras_dfka.DualGenerator(gan, targets)
    target = keras_dfka.TargetNet.from_dual(dual)
    x_train = np.random.default_rng(1).uniform(size=(16, 16, 16, 3)).astype("float32")

    inputs = references.reference_inputs(x_train, seed=3)
    assert list(inputs) == ["data_student", "noise_student"]
    assert inputs["data_student"] is x_train
    noise = inputs["noise_student"]
    assert noise.shape == x_train.shape and noise.dtype == np.float32
    assert 0.0 <= noise.min() and noise.max() < 1.0
    np.testing.assert_array_equal(
        noise, references.reference_inputs(x_train, seed=3)["noise_student"]
    )
    assert not np.array_equal(
        noise, references.reference_inputs(x_train, seed=4)["noise_student"]
    )

    students, seconds = references.train_reference_students(
        target, list(tiny_teachers), targets, inputs, 3, config
    )
    assert list(students) == list(seconds) == ["data_student", "noise_student"]
    assert all(s >= 0.0 for s in seconds.values())
    for student in students.values():
        # 3 steps of batch 8 over 16 images: rounded to 2 epochs of 2 steps.
        assert int(student.optimizer.iterations.numpy()) == 4
        assert student.predict(x_train, verbose=0).shape == (16, 2)
    # Trained on different images, the two students differ.
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            weights_of(students["data_student"]), weights_of(students["noise_student"])
        )
    )


def test_reference_students_follow_the_student_learning_rate_decay(tiny_teachers):
    # The references learn with the same learning rate schedule as the
    # data-free student: cosine decay to 0 over all of their updates.
    targets = ["blue", "is_bright"]
    gan = keras_dfka.AmalgamGAN(list(tiny_teachers), latent_dim=8)
    target = keras_dfka.TargetNet.from_dual(keras_dfka.DualGenerator(gan, targets))
    x_train = np.random.default_rng(1).uniform(size=(16, 16, 16, 3)).astype("float32")
    labels = references.teacher_soft_labels(list(tiny_teachers), targets, x_train)
    rates = {}
    for decay in ("none", "cosine"):
        config = keras_dfka.AmalgamationConfig(
            batch_size=8,
            verbose=0,
            learning_rate=0.01,
            student_learning_rate_decay=decay,
        )
        student = references.train_reference_student(
            target, list(tiny_teachers), x_train, labels, 3, config
        )
        assert int(student.optimizer.iterations.numpy()) == 4
        rates[decay] = float(student.optimizer.learning_rate)
    assert rates["none"] == np.float32(0.01)
    assert rates["cosine"] == 0.0
