"""A reader for MNIST in its original IDX format (plain or gzip)."""

import gzip
from pathlib import Path

import numpy as np

_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions.
_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension.


def _find_idx_file(data_dir, name):
    """Returns the path of `name` or `name.gz` in `data_dir`."""
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"MNIST file not found: '{data_dir / name}' (or '{data_dir / name}.gz')."
    )


def _read_bytes(path):
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as error:
        raise ValueError(
            f"Could not read the MNIST file '{path}': expected a plain or gzip "
            f"IDX file. Received error: {error}"
        ) from error


def _parse_idx(path, expected_magic, num_dims):
    """Parses an unsigned-byte IDX file into a uint8 array."""
    data = _read_bytes(path)
    header_size = 4 * (1 + num_dims)
    if len(data) < header_size:
        raise ValueError(
            f"Malformed IDX file '{path}': expected a header of {header_size} "
            f"bytes. Received a file of {len(data)} bytes."
        )
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise ValueError(
            f"Malformed IDX file '{path}': expected magic number "
            f"{expected_magic} (0x{expected_magic:08x}). "
            f"Received: {magic} (0x{magic:08x})"
        )
    shape = tuple(
        int.from_bytes(data[4 * (1 + i) : 4 * (2 + i)], "big") for i in range(num_dims)
    )
    size = int(np.prod(shape))
    if len(data) - header_size != size:
        raise ValueError(
            f"Malformed IDX file '{path}': the header announces shape {shape}, "
            f"i.e. {size} bytes of data. Received {len(data) - header_size} "
            "bytes of data."
        )
    return np.frombuffer(data, dtype="uint8", offset=header_size).reshape(shape)


def load_mnist_idx(data_dir, kind="t10k"):
    """Loads MNIST digits from the original IDX files.

    Reads `{kind}-images-idx3-ubyte` and `{kind}-labels-idx1-ubyte` from
    `data_dir`, each either plain or gzip-compressed (with a `.gz` suffix).

    Args:
        data_dir: str or `pathlib.Path`, the directory holding the files.
        kind: str, the file prefix: `"train"` or `"t10k"`.

    Returns:
        A tuple `(images, labels)`: uint8 arrays of shape `(n, 28, 28)` (in
        general `(n, rows, cols)` as given by the header) and `(n,)`.

    Raises:
        FileNotFoundError: if either file is missing.
        ValueError: if a file has a wrong magic number, a size that does not
            match its header, or if images and labels differ in count.

    Example:

    ```python
    x_test, y_test = keras_dfka.datasets.load_mnist_idx("data/mnist")
    x_test.shape  # (10000, 28, 28)
    ```
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(
            f"`kind` must be a non-empty string such as 't10k' or 'train'. "
            f"Received: kind={kind!r}"
        )
    data_dir = Path(data_dir)
    images_path = _find_idx_file(data_dir, f"{kind}-images-idx3-ubyte")
    labels_path = _find_idx_file(data_dir, f"{kind}-labels-idx1-ubyte")
    images = _parse_idx(images_path, _IMAGES_MAGIC, 3)
    labels = _parse_idx(labels_path, _LABELS_MAGIC, 1)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(
            f"MNIST files disagree: '{images_path}' holds {images.shape[0]} "
            f"images but '{labels_path}' holds {labels.shape[0]} labels."
        )
    return images.copy(), labels.copy()
