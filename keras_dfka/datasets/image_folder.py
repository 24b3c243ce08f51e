"""Labelled images in a folder: a CSV of 0/1 labels and the image files.

The CSV's header is `filename,<label1>,<label2>,...`; each row names an image
file of the folder and gives a 0 or 1 per label. This is the layout the
`keras-dfka evaluate --images DIR --labels-csv FILE` command reads.
"""

import csv
import os

import numpy as np
from PIL import Image

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def find_label_column(label, available):
    """The position of `label` in `available`, or None.

    A qualified target label (`"task/label"`) also matches a column named by
    its plain label.
    """
    if label in available:
        return available.index(label)
    plain = label.rsplit("/", 1)[-1]
    if plain in available:
        return available.index(plain)
    return None


def read_labels_csv(path, label_names):
    """Reads the 0/1 labels of `label_names` from a labels CSV.

    Args:
        path: the CSV file, header `filename,<label1>,...`.
        label_names: the labels to read, in the order to return them
            (`"task/label"` also matches a column `label`).

    Returns:
        `(filenames, labels)`: the list of image file names and a float32
        array `(len(filenames), len(label_names))` of 0 and 1.

    Raises:
        ValueError: naming the file, the row and the column of what is wrong.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = [
                row for row in csv.reader(file) if any(cell.strip() for cell in row)
            ]
    except UnicodeDecodeError as error:
        raise ValueError(
            f"'{path}' is not a text CSV file: byte {error.start} is not UTF-8 "
            "text (a binary file?); expected a header 'filename,<label1>,...' and "
            "one row of 0/1 labels per image"
        ) from None
    except csv.Error as error:
        raise ValueError(
            f"'{path}' is not a text CSV file ({error}); expected a header "
            "'filename,<label1>,...' and one row of 0/1 labels per image"
        ) from None
    if not rows:
        raise ValueError(f"'{path}' is empty")
    header = [cell.strip() for cell in rows[0]]
    if header[0].lower() != "filename":
        raise ValueError(
            f"the header of '{path}' must start with 'filename'; received {header}"
        )
    available = header[1:]
    columns = [find_label_column(label, available) for label in label_names]
    missing = [label for label, c in zip(label_names, columns) if c is None]
    if missing:
        raise ValueError(
            f"'{path}' has no labels {missing} for the model's target labels; "
            f"available: {available}"
        )
    if len(rows) < 2:
        raise ValueError(f"'{path}' has no data rows")
    filenames, labels, seen = [], [], {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(
                f"'{path}' row {number} has {len(row)} fields, the header {len(header)}"
            )
        filename = row[0].strip()
        if filename in seen:
            raise ValueError(
                f"'{path}' lists the image '{filename}' twice (rows "
                f"{seen[filename]} and {number}); each image must have one row, "
                "or it would be counted twice"
            )
        seen[filename] = number
        values = []
        for c in columns:
            cell = row[c + 1].strip()
            try:
                value = float(cell)
            except ValueError:
                value = None
            if value not in (0.0, 1.0):
                raise ValueError(
                    f"'{path}' row {number}, column '{available[c]}': expected "
                    f"0 or 1, received {cell!r}"
                )
            values.append(value)
        filenames.append(filename)
        labels.append(values)
    return filenames, np.asarray(labels, dtype="float32")


def load_images(directory, filenames, image_size, channels=3):
    """Loads image files, resized, as float32 in `[0, 1]`.

    Args:
        directory: the folder of the images.
        filenames: file names relative to `directory`.
        image_size: `(height, width)` to resize to (bilinear).
        channels: 1, 3 or 4.

    Returns:
        A float32 array `(len(filenames), height, width, channels)`.

    Raises:
        ValueError: for another number of channels, a missing or unreadable
            file.
    """
    mode = _MODES.get(channels)
    if mode is None:
        raise ValueError(
            f"`channels` must be 1, 3 or 4. Received: channels={channels!r}"
        )
    height, width = image_size
    images = np.empty((len(filenames), height, width, channels), dtype="float32")
    for i, filename in enumerate(filenames):
        path = os.path.join(directory, filename)
        if not os.path.isfile(path):
            raise ValueError(f"image file not found: '{path}'")
        try:
            with Image.open(path) as image:
                array = _image_array(image, mode, (width, height))
        except OSError as error:
            raise ValueError(f"cannot read the image '{path}': {error}") from None
        images[i] = array.reshape(height, width, channels)
    return images


def _image_array(image, mode, size):
    """A PIL image as float32 in `[0, 1]`, resized to `size` (width,
    height), in `mode`. 16- and 32-bit grey images (PNG's 16-bit grey opens
    as mode `I;16` or `I`) are scaled by their bit depth, not clipped at
    255 as `convert()` would."""
    if image.mode.startswith("I;16") or image.mode == "I":
        depth = 65535.0 if image.mode.startswith("I;16") else None
        grey = np.asarray(image, dtype="float64")
        if depth is None:  # 32-bit integers: 16-bit data, unless larger.
            depth = 65535.0 if grey.max(initial=0) <= 65535 else 2.0**32 - 1
        grey = Image.fromarray((grey / depth).astype("float32"), mode="F")
        grey = np.asarray(grey.resize(size, Image.Resampling.BILINEAR), "float32")
        grey = np.clip(grey, 0.0, 1.0)[..., None]
        if mode == "L":
            return grey
        colour = np.repeat(grey, 3, axis=-1)
        if mode == "RGBA":
            colour = np.concatenate([colour, np.ones_like(grey)], axis=-1)
        return colour
    image = image.convert(mode).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype="float32") / 255.0
