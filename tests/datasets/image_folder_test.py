import numpy as np
import pytest
from PIL import Image

from keras_dfka.datasets import find_label_column
from keras_dfka.datasets import load_images
from keras_dfka.datasets import read_labels_csv


def test_find_label_column_matches_plain_and_qualified_names():
    assert find_label_column("Smiling", ["Male", "Smiling"]) == 1
    assert find_label_column("expr/Smiling", ["Male", "Smiling"]) == 1
    assert find_label_column("Bald", ["Male", "Smiling"]) is None


def test_read_labels_csv_in_the_requested_order(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("filename,Male,Smiling\na.png,1,0\nb.png,0,1\n")
    filenames, labels = read_labels_csv(str(path), ["Smiling", "expr/Male"])
    assert filenames == ["a.png", "b.png"]
    np.testing.assert_array_equal(labels, [[0, 1], [1, 0]])
    assert labels.dtype == np.float32


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("name,Male\n", "must start with 'filename'"),
        ("filename,Male\n", r"has no labels \['Smiling'\]"),
        ("filename,Smiling\n", "has no data rows"),
        ("filename,Smiling\na.png,1,0\n", "row 2 has 3 fields"),
        ("filename,Smiling\na.png,yes\n", "expected 0 or 1, received 'yes'"),
    ],
)
def test_read_labels_csv_errors_name_the_place(tmp_path, text, message):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_labels_csv(str(path), ["Smiling"])


def test_load_images_resizes_and_scales(tmp_path):
    pixels = np.zeros((4, 6, 3), dtype="uint8")
    pixels[..., 0] = 255
    Image.fromarray(pixels).save(tmp_path / "red.png")
    images = load_images(str(tmp_path), ["red.png"], (2, 3), channels=3)
    assert images.shape == (1, 2, 3, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images[0, :, :, 0], 1.0)
    np.testing.assert_allclose(images[0, :, :, 1:], 0.0)
    gray = load_images(str(tmp_path), ["red.png"], (2, 3), channels=1)
    assert gray.shape == (1, 2, 3, 1)
    with pytest.raises(ValueError, match="image file not found"):
        load_images(str(tmp_path), ["blue.png"], (2, 3))
    with pytest.raises(ValueError, match="`channels` must be 1, 3 or 4"):
        load_images(str(tmp_path), ["red.png"], (2, 3), channels=2)
