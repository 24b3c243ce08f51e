import re
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import shared_data_dir
from PIL import Image

from keras_dfka.datasets import CelebA
from keras_dfka.datasets import read_celeba_attributes

NAMES = ["Smiling", "Male", "Young"]
# Five images with distinct label rows, so label sequences identify orders.
ROWS = {
    "000001.jpg": (1, -1, 1),
    "000002.jpg": (-1, 1, 1),
    "000003.jpg": (1, 1, -1),
    "000004.jpg": (-1, -1, -1),
    "000005.jpg": (1, 1, 1),
}
PARTITION = {
    "000001.jpg": 0,
    "000002.jpg": 0,
    "000003.jpg": 0,
    "000004.jpg": 1,
    "000005.jpg": 2,
}
COLORS = {
    "000001.jpg": (200, 30, 30),
    "000002.jpg": (30, 200, 30),
    "000003.jpg": (30, 30, 200),
    "000004.jpg": (220, 220, 40),
    "000005.jpg": (90, 90, 90),
}


def _write_attributes(path, names, rows, count=None):
    lines = [str(len(rows) if count is None else count), "  ".join(names) + " "]
    for name, values in rows.items():
        # Irregular spacing, as in the real file.
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values))
    path.write_text("\n".join(lines) + "\n")


def _make_celeba(root, partition=True, sizes=None):
    """Writes a tiny CelebA directory with solid-colour JPEGs."""
    image_dir = root / "img_align_celeba"
    image_dir.mkdir(parents=True)
    for i, (name, color) in enumerate(COLORS.items()):
        width, height = (sizes or {}).get(name, (30 + 4 * i, 40 + 2 * i))
        Image.new("RGB", (width, height), color).save(image_dir / name, quality=95)
    _write_attributes(root / "list_attr_celeba.txt", NAMES, ROWS)
    if partition:
        (root / "list_eval_partition.txt").write_text(
            "".join(f"{name} {split}\n" for name, split in PARTITION.items())
        )
    return root


@pytest.fixture
def celeba_dir(tmp_path):
    return _make_celeba(tmp_path / "celeba")


def _label_rows(names, attributes=NAMES):
    columns = [NAMES.index(a) for a in attributes]
    return np.array(
        [[(ROWS[n][c] + 1) / 2 for c in columns] for n in names], dtype="float32"
    )


def test_read_celeba_attributes(celeba_dir):
    names, files, values = read_celeba_attributes(celeba_dir / "list_attr_celeba.txt")
    assert names == NAMES
    assert files == list(ROWS)
    assert values.dtype == np.int8
    np.testing.assert_array_equal(values, np.array(list(ROWS.values())))


def test_batches_shapes_dtypes_and_ranges(celeba_dir):
    dataset = CelebA(celeba_dir, split="all", image_size=16, batch_size=2)
    assert len(dataset) == 3
    assert dataset.num_images == 5
    assert dataset.attributes == NAMES
    sizes = []
    for i in range(len(dataset)):
        images, labels = dataset[i]
        assert images.dtype == np.float32 and labels.dtype == np.float32
        assert images.shape[1:] == (16, 16, 3)
        assert labels.shape == (images.shape[0], 3)
        assert 0.0 <= images.min() and images.max() <= 1.0
        assert set(np.unique(labels)) <= {0.0, 1.0}
        sizes.append(images.shape[0])
    assert sizes == [2, 2, 1]
    with pytest.raises(IndexError):
        dataset[3]


def test_labels_follow_requested_attributes(celeba_dir):
    dataset = CelebA(celeba_dir, split="all", attributes=["Young", "Smiling"])
    assert dataset.attributes == ["Young", "Smiling"]
    expected = _label_rows(ROWS, ["Young", "Smiling"])
    np.testing.assert_array_equal(dataset.labels, expected)
    np.testing.assert_allclose(dataset.positive_rates(), expected.mean(axis=0))
    _, labels = dataset[0]
    np.testing.assert_array_equal(labels, expected)


def test_images_have_source_colours(celeba_dir):
    dataset = CelebA(celeba_dir, split="all", image_size=(8, 12), shuffle=False)
    images, _ = dataset.load()
    assert images.shape == (5, 8, 12, 3)
    expected = np.array(list(COLORS.values()), dtype="float32") / 255.0
    np.testing.assert_allclose(images.mean(axis=(1, 2)), expected, atol=0.03)


def test_splits(celeba_dir):
    counts = {}
    for split in ("train", "validation", "test"):
        dataset = CelebA(celeba_dir, split=split)
        counts[split] = dataset.num_images
        expected = [
            n
            for n, s in PARTITION.items()
            if s == ("train", "validation", "test").index(split)
        ]
        assert dataset.filenames == expected
    assert counts == {"train": 3, "validation": 1, "test": 1}
    assert CelebA(celeba_dir, split="train").shuffle is True
    assert CelebA(celeba_dir, split="test").shuffle is False


def test_split_without_partition_file(tmp_path):
    root = _make_celeba(tmp_path / "celeba", partition=False)
    assert CelebA(root, split="all").num_images == 5
    with pytest.raises(ValueError, match="list_eval_partition.txt"):
        CelebA(root, split="train")


def test_centre_crop(tmp_path):
    root = tmp_path / "celeba"
    _make_celeba(root)
    # A wide image: red sides, a green central square of side 20.
    image = np.zeros((20, 60, 3), dtype="uint8")
    image[:] = (255, 0, 0)
    image[:, 20:40] = (0, 255, 0)
    Image.fromarray(image).save(root / "img_align_celeba" / "000001.jpg", quality=95)
    green = np.array([0.0, 1.0, 0.0])

    def first(crop):
        dataset = CelebA(root, split="all", image_size=8, crop=crop, max_images=1)
        return dataset.load()[0][0]

    np.testing.assert_allclose(
        first("square")[1:-1, 1:-1], np.ones((6, 6, 1)) * green, atol=0.1
    )
    np.testing.assert_allclose(first(0.5), np.ones((8, 8, 1)) * green, atol=0.1)
    no_crop = first(None)
    assert no_crop[:, 0, 0].mean() > 0.8  # Red sides are kept without a crop.


def test_shuffle_is_deterministic_per_seed_and_epoch(celeba_dir):
    def order(dataset):
        return np.concatenate([dataset[i][1] for i in range(len(dataset))])

    a = CelebA(celeba_dir, split="all", shuffle=True, seed=3, batch_size=2)
    b = CelebA(celeba_dir, split="all", shuffle=True, seed=3, batch_size=2)
    np.testing.assert_array_equal(order(a), order(b))
    seeds = [
        order(CelebA(celeba_dir, split="all", shuffle=True, seed=s)) for s in range(6)
    ]
    assert any(not np.array_equal(seeds[0], o) for o in seeds[1:])
    # Every epoch is a permutation of the same images, and epochs differ.
    epochs = []
    for _ in range(6):
        epochs.append(order(a))
        a.on_epoch_end()
    for o in epochs:
        np.testing.assert_array_equal(
            np.sort(o.view("V12").ravel()), np.sort(epochs[0].view("V12").ravel())
        )
    assert any(not np.array_equal(epochs[0], o) for o in epochs[1:])
    # No shuffling: file order.
    plain = CelebA(celeba_dir, split="all", shuffle=False, batch_size=2)
    np.testing.assert_array_equal(order(plain), _label_rows(ROWS))


def test_cache_on_and_off_are_equal(celeba_dir):
    kwargs = dict(split="all", image_size=12, batch_size=2, shuffle=True, seed=1)
    cached = CelebA(celeba_dir, cache=True, **kwargs)
    streamed = CelebA(celeba_dir, cache=False, **kwargs)
    assert CelebA(celeba_dir).cache is True  # Small splits cache by default.
    for i in range(len(cached)):
        for x, y in zip(cached[i], streamed[i]):
            np.testing.assert_array_equal(x, y)
    for x, y in zip(cached.load(), streamed.load()):
        np.testing.assert_array_equal(x, y)


def test_max_images_and_load(celeba_dir):
    dataset = CelebA(celeba_dir, split="all", max_images=3, image_size=8)
    assert dataset.num_images == 3
    assert dataset.filenames == list(ROWS)[:3]
    images, labels = dataset.load()
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, _label_rows(list(ROWS)[:3]))
    images, labels = dataset.load(max_images=2)
    assert images.shape == (2, 8, 8, 3) and labels.shape == (2, 3)


def test_unknown_attribute(celeba_dir):
    with pytest.raises(ValueError, match="'Foo', which is not in list_attr"):
        CelebA(celeba_dir, attributes=["Smiling", "Foo"])


def test_duplicate_attributes(celeba_dir):
    with pytest.raises(ValueError, match="duplicates.*Male"):
        CelebA(celeba_dir, attributes=["Male", "Smiling", "Male"])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(split="training"), "`split` must be one of"),
        (dict(batch_size=0), "`batch_size` must be an integer >= 1"),
        (dict(image_size=(8,)), "`image_size` must be"),
        (dict(crop=1.5), "`crop` must be"),
        (dict(max_images=0), "`max_images` must be"),
        (dict(attributes="Male"), "list of attribute names"),
    ],
)
def test_invalid_arguments(celeba_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CelebA(celeba_dir, **kwargs)


@pytest.mark.parametrize("cache", [True, False])
def test_missing_image(celeba_dir, cache):
    (celeba_dir / "img_align_celeba" / "000002.jpg").unlink()
    dataset = CelebA(celeba_dir, split="all", batch_size=1, cache=cache)
    if not cache:
        dataset[0]  # Other batches still load when streaming.
    with pytest.raises(FileNotFoundError, match="000002.jpg"):
        dataset[1]


@pytest.mark.parametrize(
    "text, match",
    [
        ("2\nA B\nx.jpg 1 -1\ny.jpg 1\n", "line 4: expected a file name and 2"),
        ("2\nA B\nx.jpg 1 -1\ny.jpg 1 0\n", "line 4: values must be 1 or -1"),
        ("2\nA B\nx.jpg 1 -1\ny.jpg 1 yes\n", "line 4: values must be 1 or -1"),
        ("3\nA B\nx.jpg 1 -1\ny.jpg 1 1\n", "line 1 announces 3 images"),
        ("two\nA B\n", "line 1: expected the number of images"),
    ],
)
def test_malformed_attribute_file(tmp_path, text, match):
    path = tmp_path / "list_attr_celeba.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_celeba_attributes(path)


def test_malformed_partition_file(celeba_dir):
    (celeba_dir / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg\n")
    match = re.escape("line 2: expected '<file name> 0|1|2'")
    with pytest.raises(ValueError, match=match):
        CelebA(celeba_dir, split="train")


def test_missing_attribute_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="list_attr_celeba.txt"):
        CelebA(tmp_path)


def test_fit_accepts_the_dataset(celeba_dir):
    dataset = CelebA(celeba_dir, split="all", image_size=8, batch_size=2)
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    model.compile(optimizer="sgd", loss=keras.losses.BinaryCrossentropy(True))
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_real_celeba():
    root = Path(shared_data_dir()) / "celeba"
    if not (root / "list_attr_celeba.txt").is_file():
        pytest.skip(f"Real CelebA data not found at '{root}'.")
    sizes = {
        split: CelebA(root, split=split, cache=False).num_images
        for split in ("train", "validation", "test")
    }
    assert sizes == {"train": 6000, "validation": 1000, "test": 1000}
    dataset = CelebA(root, split="train", attributes=["Smiling", "Male"], cache=False)
    assert len(dataset) == 94
    images, labels = dataset[0]
    assert images.shape == (64, 64, 64, 3) and images.dtype == np.float32
    assert labels.shape == (64, 2) and labels.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    rates = dataset.positive_rates()
    assert np.all((rates > 0.2) & (rates < 0.8))
