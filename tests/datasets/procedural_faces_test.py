import numpy as np
import pytest

from keras_dfka.datasets import ProceduralFaces
from keras_dfka.datasets import draw_face

EXPECTED_ATTRIBUTES = [
    "Smiling",
    "Mouth_Slightly_Open",
    "Eyeglasses",
    "Wearing_Hat",
    "Goatee",
    "Bangs",
    "Black_Hair",
    "Blond_Hair",
    "Pale_Skin",
    "Male",
    "Heavy_Makeup",
    "Young",
]


@pytest.fixture(scope="module")
def many_labels():
    faces = ProceduralFaces(num_images=4000, seed=0)
    return dict(zip(faces.attributes, faces.labels.T.astype(bool)))


def test_load_shapes_dtypes_and_ranges():
    faces = ProceduralFaces(num_images=10, image_size=32, seed=0)
    assert faces.attributes == EXPECTED_ATTRIBUTES
    images, labels = faces.load()
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.float32
    assert labels.shape == (10, 12) and labels.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert images.std() > 0.1
    assert set(np.unique(labels)) <= {0.0, 1.0}
    np.testing.assert_array_equal(labels, faces.labels)


def test_deterministic_per_seed():
    a = ProceduralFaces(num_images=6, image_size=32, seed=0).load()
    b = ProceduralFaces(num_images=6, image_size=32, seed=0).load()
    c = ProceduralFaces(num_images=6, image_size=32, seed=1).load()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_face_depends_only_on_seed_and_index():
    images, labels = ProceduralFaces(num_images=70, image_size=24, seed=5).load()
    prefix, _ = ProceduralFaces(num_images=3, image_size=24, seed=5).load()
    np.testing.assert_array_equal(images[:3], prefix)
    i = 66  # In the second drawing chunk.
    attributes = dict(zip(EXPECTED_ATTRIBUTES, labels[i].astype(bool)))
    face = draw_face(attributes, image_size=24, rng=np.random.default_rng((5, i)))
    np.testing.assert_allclose(face, images[i], atol=1e-6)


@pytest.mark.parametrize("name", EXPECTED_ATTRIBUTES)
def test_each_attribute_changes_the_pixels(name):
    base = {"Young": True}
    for seed in range(3):
        before = draw_face(base, rng=np.random.default_rng(seed))
        after = draw_face(
            {**base, name: not base.get(name, False)}, rng=np.random.default_rng(seed)
        )
        changed = np.abs(after - before).max(axis=-1) > 0.1
        assert changed.sum() >= 4, (name, seed, changed.sum())


def test_draw_face_is_deterministic_given_rng():
    a = draw_face({"Smiling": True}, image_size=40, rng=np.random.default_rng(3))
    b = draw_face({"Smiling": True}, image_size=40, rng=3)
    assert a.shape == (40, 40, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)


def test_label_rates(many_labels):
    for name, values in many_labels.items():
        assert 0.1 < values.mean() < 0.9, (name, values.mean())


def test_correlations(many_labels):
    y = many_labels

    def p(a, given):
        return y[a][given].mean()

    assert p("Goatee", y["Male"]) > p("Goatee", ~y["Male"]) + 0.2
    assert p("Heavy_Makeup", y["Male"]) < p("Heavy_Makeup", ~y["Male"]) - 0.3
    smiling = y["Smiling"]
    assert p("Mouth_Slightly_Open", smiling) > p("Mouth_Slightly_Open", ~smiling) + 0.3
    assert p("Eyeglasses", ~y["Young"]) > p("Eyeglasses", y["Young"]) + 0.1
    assert p("Pale_Skin", y["Blond_Hair"]) > p("Pale_Skin", ~y["Blond_Hair"]) + 0.1
    assert not np.any(y["Black_Hair"] & y["Blond_Hair"])


def test_split():
    faces = ProceduralFaces(num_images=40, image_size=16, seed=0)
    splits = faces.split()
    assert {k: len(v[0]) for k, v in splits.items()} == {
        "train": 30,
        "validation": 5,
        "test": 5,
    }
    images, labels = faces.load()
    x = np.concatenate([splits[k][0] for k in ("train", "validation", "test")])
    y = np.concatenate([splits[k][1] for k in ("train", "validation", "test")])
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    custom = faces.split((0.5, 0.0, 0.5))
    assert [len(custom[k][1]) for k in ("train", "validation", "test")] == [20, 0, 20]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ProceduralFaces(num_images=0), "`num_images` must be"),
        (lambda: ProceduralFaces(image_size=4), "`image_size` must be"),
        (lambda: ProceduralFaces(10).split((0.5, 0.5)), "`fractions` must be"),
        (lambda: ProceduralFaces(10).split((0.9, 0.2, -0.1)), "`fractions` must"),
        (lambda: draw_face({"Moustache": True}), "'Moustache'.*available"),
        (
            lambda: draw_face({"Black_Hair": True, "Blond_Hair": True}),
            "both 'Black_Hair' and 'Blond_Hair'",
        ),
        (lambda: draw_face(["Smiling"]), "`attributes` must be a dict"),
        (lambda: draw_face({}, rng="seed"), "`rng` must be"),
    ],
)
def test_invalid_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
