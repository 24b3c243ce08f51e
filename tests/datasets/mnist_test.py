import gzip
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_dir

from keras_dfka.datasets import load_mnist_idx


def _idx_bytes(magic, array):
    header = magic.to_bytes(4, "big") + b"".join(
        d.to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype("uint8").tobytes()


def _write(path, data, compress):
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        Path(path).write_bytes(data)


def _make_mnist(root, n=3, compress=True, kind="t10k", image_magic=2051):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype="uint8")
    labels = np.arange(n, dtype="uint8") % 10
    root.mkdir(parents=True, exist_ok=True)
    _write(
        root / f"{kind}-images-idx3-ubyte", _idx_bytes(image_magic, images), compress
    )
    _write(root / f"{kind}-labels-idx1-ubyte", _idx_bytes(2049, labels), compress)
    return images, labels


@pytest.mark.parametrize("compress", [True, False])
def test_reads_tiny_idx_files(tmp_path, compress):
    images, labels = _make_mnist(tmp_path, compress=compress)
    x, y = load_mnist_idx(tmp_path)
    assert x.dtype == np.uint8 and y.dtype == np.uint8
    assert x.shape == (3, 28, 28) and y.shape == (3,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    x[0, 0, 0] = 7  # Returned arrays are writable copies.


def test_kind_selects_the_file_prefix(tmp_path):
    _make_mnist(tmp_path, n=5, kind="train")
    x, y = load_mnist_idx(tmp_path, kind="train")
    assert x.shape == (5, 28, 28) and y.shape == (5,)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist_idx(tmp_path)


def test_bad_magic_number(tmp_path):
    _make_mnist(tmp_path, image_magic=2049)
    with pytest.raises(ValueError, match="expected magic number 2051"):
        load_mnist_idx(tmp_path)


def test_truncated_file(tmp_path):
    _make_mnist(tmp_path)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(path, "rb") as f:
        data = f.read()
    with gzip.open(path, "wb") as f:
        f.write(data[:-1])
    with pytest.raises(ValueError, match="header announces shape"):
        load_mnist_idx(tmp_path)


def test_images_and_labels_disagree(tmp_path):
    _make_mnist(tmp_path, n=3)
    labels = np.zeros(4, dtype="uint8")
    _write(tmp_path / "t10k-labels-idx1-ubyte", _idx_bytes(2049, labels), True)
    with pytest.raises(ValueError, match="holds 3 images but"):
        load_mnist_idx(tmp_path)


def test_not_gzip(tmp_path):
    _make_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not a gzip file")
    with pytest.raises(ValueError, match="Could not read the MNIST file"):
        load_mnist_idx(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist_idx(tmp_path)


def test_real_mnist():
    root = Path(shared_data_dir()) / "mnist"
    if not root.is_dir():
        pytest.skip(f"Real MNIST data not found at '{root}'.")
    x, y = load_mnist_idx(root)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.uint8
    assert set(np.unique(y)) == set(range(10))
    assert 20 < x.mean() < 50
