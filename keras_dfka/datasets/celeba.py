"""A streaming `PyDataset` over a CelebA-layout directory of face images.

Over 500 lines: one loader with the readers and the checks of CelebA's two
list files (each bad row named by its line), kept beside the dataset that
uses them.
"""

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from keras_dfka.utils.validation import check_int

_SPLITS = {"train": 0, "validation": 1, "test": 2}
_ATTR_FILE = "list_attr_celeba.txt"
_PARTITION_FILE = "list_eval_partition.txt"
_IMAGE_DIR = "img_align_celeba"
_AUTO_CACHE_LIMIT = 20000


def read_celeba_attribute_names(path):
    """The attribute names of a CelebA `list_attr_celeba.txt` (its line 2),
    without reading the rows."""
    try:
        with open(path, encoding="utf-8") as file:
            file.readline()  # The number of images.
            return file.readline().split()
    except UnicodeDecodeError as error:
        raise _not_text(path, error) from None


def _not_text(path, error):
    return ValueError(
        f"Malformed attribute file '{path}': byte {error.start} is not UTF-8 "
        "text (a binary file?); expected the CelebA 'list_attr_celeba.txt' "
        "layout (the image count, the attribute names, one row per image)."
    )


def read_celeba_attributes(path):
    """Reads a CelebA `list_attr_celeba.txt` attribute file.

    The file holds the number of images on line 1, the attribute names on
    line 2, then one row per image: the file name followed by one `1` or `-1`
    per attribute. Fields may be separated by any run of whitespace; blank
    lines are ignored.

    Args:
        path: str or `pathlib.Path`, the attribute file.

    Returns:
        A tuple `(names, filenames, values)`: the list of attribute names, the
        list of image file names (in file order) and an int8 array of shape
        `(len(filenames), len(names))` holding +1 / -1.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the file is malformed (bad image count, wrong number of
            values on a row, a value other than 1 / -1, an image with two
            rows, a row count that differs from the count on line 1, or bytes
            that are not text). The message gives the line number.

    Example:

    ```python
    names, files, values = keras_dfka.datasets.read_celeba_attributes(
        "celeba/list_attr_celeba.txt")
    smiling = values[:, names.index("Smiling")] > 0
    ```
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CelebA attribute file not found: '{path}'.")
    try:
        with open(path, encoding="utf-8") as f:
            numbered = [
                (number, line.split())
                for number, line in enumerate(f, start=1)
                if line.strip()
            ]
    except UnicodeDecodeError as error:
        raise _not_text(path, error) from None
    if len(numbered) < 2:
        raise ValueError(
            f"Malformed attribute file '{path}': expected an image count on "
            "line 1 and attribute names on line 2. "
            f"Received {len(numbered)} non-empty line(s)."
        )
    count_line, count_fields = numbered[0]
    if len(count_fields) != 1 or not count_fields[0].isdigit():
        raise ValueError(
            f"Malformed attribute file '{path}', line {count_line}: expected "
            f"the number of images. Received: {' '.join(count_fields)!r}"
        )
    count = int(count_fields[0])
    names = numbered[1][1]
    if len(set(names)) != len(names):
        raise ValueError(
            f"Malformed attribute file '{path}', line {numbered[1][0]}: "
            f"attribute names must be unique. Received: {names}"
        )
    num_attributes = len(names)
    rows = numbered[2:]
    if len(rows) != count:
        raise ValueError(
            f"Malformed attribute file '{path}': line {count_line} announces "
            f"{count} images but the file has {len(rows)} image rows."
        )
    filenames = []
    first_line = {}
    values = np.empty((count, num_attributes), dtype="int8")
    for i, (number, fields) in enumerate(rows):
        if fields[0] in first_line:
            raise ValueError(
                f"Malformed attribute file '{path}', line {number}: image "
                f"'{fields[0]}' already has a row (line {first_line[fields[0]]}); "
                "each image must have exactly one row."
            )
        first_line[fields[0]] = number
        if len(fields) != num_attributes + 1:
            raise ValueError(
                f"Malformed attribute file '{path}', line {number}: expected a "
                f"file name and {num_attributes} values. Received "
                f"{len(fields) - 1} value(s)."
            )
        try:
            row = [int(v) for v in fields[1:]]
        except ValueError:
            row = None
        if row is None or any(v not in (1, -1) for v in row):
            raise ValueError(
                f"Malformed attribute file '{path}', line {number}: values "
                f"must be 1 or -1. Received: {' '.join(fields[1:])!r}"
            )
        filenames.append(fields[0])
        values[i] = row
    return list(names), filenames, values


def _read_partition(path):
    """Reads `list_eval_partition.txt` into a dict `{file name: split id}`."""
    partition = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ValueError(
                    f"Malformed partition file '{path}', line {number}: "
                    "expected '<file name> 0|1|2'. "
                    f"Received: {line.strip()!r}"
                )
            if fields[0] in partition:
                raise ValueError(
                    f"Malformed partition file '{path}', line {number}: image "
                    f"'{fields[0]}' is listed twice; each image must have "
                    "exactly one split."
                )
            partition[fields[0]] = int(fields[1])
    return partition


def _normalize_image_size(image_size):
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        not isinstance(image_size, (tuple, list))
        or len(image_size) != 2
        or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
            for s in image_size
        )
    ):
        raise ValueError(
            "`image_size` must be a positive int or a tuple `(height, width)` "
            f"of positive ints. Received: image_size={image_size!r}"
        )
    return int(image_size[0]), int(image_size[1])


def _crop_box(width, height, crop, target_hw):
    """Returns the central crop box `(left, top, right, bottom)`."""
    if crop is None:
        return (0.0, 0.0, float(width), float(height))
    fraction = 1.0 if crop == "square" else float(crop)
    target_h, target_w = target_hw
    # Largest centred box with the target aspect ratio (a square for square
    # targets), scaled by `fraction`.
    scale = min(width / target_w, height / target_h) * fraction
    box_w, box_h = target_w * scale, target_h * scale
    left, top = (width - box_w) / 2.0, (height - box_h) / 2.0
    return (left, top, left + box_w, top + box_h)


def _decode_image(path, image_size, crop):
    """Decodes, crops and resizes one image to a uint8 `(h, w, 3)` array."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            box = _crop_box(image.width, image.height, crop, image_size)
            image = image.resize(
                (image_size[1], image_size[0]), Image.Resampling.BILINEAR, box=box
            )
            return np.asarray(image, dtype="uint8")
    except FileNotFoundError:
        raise FileNotFoundError(f"CelebA image file not found: '{path}'.") from None
    except OSError as error:
        raise ValueError(
            f"Could not decode the CelebA image '{path}': expected a readable "
            f"image file. Received error: {error}"
        ) from error


class CelebA(keras.utils.PyDataset):
    """Batches of `(images, labels)` from a CelebA-layout directory.

    The directory follows CelebA's own layout: `img_align_celeba/*.jpg`,
    `list_attr_celeba.txt` and (for the train / validation / test splits)
    `list_eval_partition.txt`. Images of any resolution are centre cropped,
    resized with bilinear filtering and returned as float32 RGB in `[0, 1]`,
    NHWC. Labels are float32 0 / 1 arrays of shape `(batch, len(attributes))`.

    Images are streamed from disk: `dataset[i]` decodes only the files of
    batch `i`, unless `cache` is on, in which case the whole split is decoded
    once (as uint8) on first use and served from memory afterwards.

    Args:
        data_dir: str or `pathlib.Path`, the CelebA directory.
        split: one of `"train"`, `"validation"`, `"test"` or `"all"`. The
            first three need `list_eval_partition.txt`.
        attributes: list of attribute names to use as labels, in the given
            order. Defaults to all attributes in file order.
        image_size: int or tuple `(height, width)`, the output image size.
        batch_size: int > 0, the number of images per batch.
        shuffle: bool, whether to shuffle the order of images each epoch.
            Defaults to `True` for `"train"` and `False` otherwise.
        seed: int, seed of the shuffling; the order of epoch `e` is a pure
            function of `(seed, e)`.
        max_images: optional int > 0, keep only the first `max_images` images
            of the split (in file order).
        crop: `"square"` (the central square of side `min(h, w)`), a float in
            `(0, 1]` (the central square of that fraction of `min(h, w)`), or
            `None` (no crop). For a non-square `image_size` the crop has the
            target's aspect ratio instead of being square.
        cache: bool, whether to keep the decoded split in memory. Defaults to
            `True` when the split has at most 20,000 images.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`,
            `use_multiprocessing`, `max_queue_size`).

    Example:

    ```python
    train = keras_dfka.datasets.CelebA(
        "data/celeba", split="train", attributes=["Smiling", "Male"],
        image_size=64, batch_size=64)
    images, labels = train[0]  # (64, 64, 64, 3) and (64, 2), float32
    model.fit(train, epochs=3)
    ```
    """

    def __init__(
        self,
        data_dir,
        split="train",
        attributes=None,
        image_size=64,
        batch_size=64,
        shuffle=None,
        seed=0,
        max_images=None,
        crop="square",
        cache=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if split not in ("train", "validation", "test", "all"):
            raise ValueError(
                "`split` must be one of 'train', 'validation', 'test' or 'all'. "
                f"Received: split={split!r}"
            )
        self.image_size = _normalize_image_size(image_size)
        check_int(batch_size, "batch_size", 1)
        if max_images is not None and (
            not isinstance(max_images, (int, np.integer))
            or isinstance(max_images, bool)
            or max_images <= 0
        ):
            raise ValueError(
                "`max_images` must be None or a positive integer. "
                f"Received: max_images={max_images!r}"
            )
        if not (
            crop is None
            or crop == "square"
            or (
                isinstance(crop, (float, int, np.floating, np.integer))
                and not isinstance(crop, bool)
                and 0.0 < float(crop) <= 1.0
            )
        ):
            raise ValueError(
                "`crop` must be 'square', a float in (0, 1] or None. "
                f"Received: crop={crop!r}"
            )
        if cache is not None and not isinstance(cache, bool):
            raise ValueError(
                f"`cache` must be None, True or False. Received: cache={cache!r}"
            )
        if shuffle is not None and not isinstance(shuffle, bool):
            raise ValueError(
                f"`shuffle` must be None, True or False. Received: shuffle={shuffle!r}"
            )

        self.data_dir = Path(data_dir)
        if not self.data_dir.is_dir():
            raise FileNotFoundError(
                f"`data_dir` is not a directory: '{self.data_dir}'."
            )
        self.split = split
        self.batch_size = int(batch_size)
        self.crop = crop
        self.seed = int(seed)
        self.shuffle = (split == "train") if shuffle is None else shuffle

        names, filenames, values = read_celeba_attributes(self.data_dir / _ATTR_FILE)
        if attributes is None:
            attributes = list(names)
        elif isinstance(attributes, str):
            raise ValueError(
                "`attributes` must be a list of attribute names, not a string. "
                f"Received: attributes={attributes!r}"
            )
        attributes = list(attributes)
        if not attributes:
            raise ValueError(
                "`attributes` must name at least one attribute. "
                f"Received: attributes={attributes!r}"
            )
        for name in attributes:
            if name not in names:
                raise ValueError(
                    f"`attributes` contains {name!r}, which is not in "
                    f"{_ATTR_FILE}; available: {names}"
                )
        duplicates = sorted({a for a in attributes if attributes.count(a) > 1})
        if duplicates:
            raise ValueError(
                "`attributes` must not contain duplicates. "
                f"Received duplicates {duplicates} in attributes={attributes}"
            )

        rows = np.arange(len(filenames))
        if split != "all":
            partition_path = self.data_dir / _PARTITION_FILE
            if not partition_path.is_file():
                raise ValueError(
                    f"`split`={split!r} needs the partition file "
                    f"'{partition_path}', which does not exist. Use "
                    "split='all' to read every image without a partition."
                )
            partition = _read_partition(partition_path)
            split_id = _SPLITS[split]
            rows = np.array(
                [i for i, f in enumerate(filenames) if partition.get(f) == split_id],
                dtype="int64",
            )
        if max_images is not None:
            rows = rows[: int(max_images)]
        if rows.size == 0:
            raise ValueError(f"`split`={split!r} of '{self.data_dir}' holds no images.")

        columns = [names.index(a) for a in attributes]
        self._attributes = attributes
        self._filenames = [filenames[i] for i in rows]
        self._labels = (values[rows][:, columns] > 0).astype("float32")
        self.cache = (len(rows) <= _AUTO_CACHE_LIMIT) if cache is None else cache
        self._cache = None
        self._lock = threading.Lock()
        self._epoch = 0
        self._order = self._make_order()

    # ------------------------------------------------------------------ info
    @property
    def attributes(self):
        """List of the attribute names, in label column order."""
        return list(self._attributes)

    @property
    def num_images(self):
        """The number of images in the split."""
        return len(self._filenames)

    @property
    def filenames(self):
        """List of the image file names of the split, in file order."""
        return list(self._filenames)

    @property
    def labels(self):
        """float32 0 / 1 array `(num_images, len(attributes))`, file order."""
        return self._labels.copy()

    def positive_rates(self):
        """Returns the fraction of positive labels of each attribute.

        Returns:
            A float32 array of shape `(len(attributes),)`.

        Example:

        ```python
        rates = dict(zip(dataset.attributes, dataset.positive_rates()))
        ```
        """
        return self._labels.mean(axis=0).astype("float32")

    # -------------------------------------------------------------- decoding
    def _path(self, index):
        return self.data_dir / _IMAGE_DIR / self._filenames[index]

    def _decode(self, indices):
        images = np.empty((len(indices), *self.image_size, 3), dtype="uint8")

        def decode_one(k):
            images[k] = _decode_image(
                self._path(indices[k]), self.image_size, self.crop
            )

        if len(indices) >= 256:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(decode_one, range(len(indices))))
        else:
            for k in range(len(indices)):
                decode_one(k)
        return images

    def _get_cache(self):
        with self._lock:
            if self._cache is None:
                self._cache = self._decode(np.arange(self.num_images))
            return self._cache

    def load(self, max_images=None):
        """Loads the whole split (or its first images) in file order.

        Uses, and fills, the in-memory cache when `cache` is on.

        Args:
            max_images: optional int > 0, load only the first `max_images`.

        Returns:
            A tuple `(images, labels)`: float32 `(n, h, w, 3)` in `[0, 1]` and
            float32 0 / 1 `(n, len(attributes))`.

        Example:

        ```python
        x_test, y_test = keras_dfka.datasets.CelebA(
            "data/celeba", split="test").load()
        ```
        """
        n = self.num_images
        if max_images is not None:
            if (
                not isinstance(max_images, (int, np.integer))
                or isinstance(max_images, bool)
                or max_images <= 0
            ):
                raise ValueError(
                    "`max_images` must be None or a positive integer. "
                    f"Received: max_images={max_images!r}"
                )
            n = min(n, int(max_images))
        if self.cache and (self._cache is not None or n == self.num_images):
            images = self._get_cache()[:n]
        else:
            images = self._decode(np.arange(n))
        return images.astype("float32") / 255.0, self._labels[:n].copy()

    # ------------------------------------------------------------ PyDataset
    def _make_order(self):
        if not self.shuffle:
            return np.arange(self.num_images)
        rng = np.random.default_rng((self.seed, self._epoch))
        return rng.permutation(self.num_images)

    def __len__(self):
        return math.ceil(self.num_images / self.batch_size)

    def __getitem__(self, index):
        if index < 0 or index >= len(self):
            raise IndexError(f"Batch index {index} out of range [0, {len(self)}).")
        start = int(index) * self.batch_size
        indices = self._order[start : start + self.batch_size]
        if self.cache:
            images = self._get_cache()[indices]
        else:
            images = self._decode(indices)
        return images.astype("float32") / 255.0, self._labels[indices]

    def on_epoch_end(self):
        self._epoch += 1
        self._order = self._make_order()

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()
