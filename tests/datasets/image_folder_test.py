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
        (
            "filename,Smiling\na.png,1\nb.png,0\na.png,1\n",
            r"lists the image 'a.png' twice \(rows 2 and 4\)",
        ),
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


def test_load_images_scales_16_bit_grey_by_its_depth(tmp_path):
    """A 16-bit grey PNG is scaled by 65535, not clipped at 255."""
    pixels = np.full((4, 6), 30000, dtype="uint16")
    pixels[:, 3:] = 65535
    Image.fromarray(pixels).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode in ("I;16", "I")  # What PNG's 16-bit grey opens as.
    for channels in (1, 3, 4):
        images = load_images(str(tmp_path), ["deep.png"], (4, 6), channels=channels)
        assert images.shape == (1, 4, 6, channels)
        np.testing.assert_allclose(images[0, :, :3, :3], 30000 / 65535, rtol=1e-5)
        np.testing.assert_allclose(images[0, :, 3:, :3], 1.0, rtol=1e-5)
    np.testing.assert_allclose(images[0, ..., 3], 1.0)  # RGBA: opaque
