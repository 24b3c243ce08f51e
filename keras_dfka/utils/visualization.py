"""Image grids of generated samples."""

import os

import numpy as np


def image_grid(images, columns=8, padding=1):
    """Tiles images `(n, h, w, c)` in `[0, 1]` into one `uint8` array.

    Args:
        images: array of shape `(n, height, width, channels)`, values in
            `[0, 1]` (clipped).
        columns: int, images per row.
        padding: int, pixels between images.

    Returns:
        A `uint8` array `(rows * (h + p) + p, columns * (w + p) + p, c)`.
    """
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            "`images` must have shape (n, height, width, channels) with n > 0. "
            f"Received shape {images.shape}"
        )
    n, h, w, c = images.shape
    columns = max(1, min(int(columns), n))
    rows = -(-n // columns)
    grid = np.ones(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c),
        dtype="float32",
    )
    for i, image in enumerate(np.clip(images, 0.0, 1.0)):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[top : top + h, left : left + w] = image
    return np.round(grid * 255).astype("uint8")


def save_image_grid(images, path, columns=8, overwrite=True):
    """Writes `image_grid(images, columns)` as a PNG file; returns the path."""
    from PIL import Image

    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"Not overwriting existing file: {path}")
    grid = image_grid(images, columns)
    if grid.shape[-1] == 1:
        grid = grid[..., 0]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(grid).save(path)
    return path
