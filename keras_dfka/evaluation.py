"""Evaluation metrics, cost measurements and report writing.

Everything here works on NumPy arrays (convert backend tensors with
`keras.ops.convert_to_numpy` first) so results are identical on every Keras
backend. The helpers cover the numbers a knowledge-amalgamation experiment
reports: per-label binary metrics of a multi-label student, top-1 accuracy of
a multi-class student, how much of the gap between a baseline and the
teachers the student closes, parameter counts and inference speed, plus
writing the results as JSON and Markdown.
"""

import importlib.metadata
import json
import math
import os
import platform
import time
from collections.abc import Mapping

import keras
import numpy as np

from keras_dfka.validation import check_int

_BACKEND_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "jax": ("jax",),
    "torch": ("torch",),
    "numpy": ("numpy",),
    "openvino": ("openvino",),
}


# ---------------------------------------------------------------------------
# Input validation helpers.
# ---------------------------------------------------------------------------


def _as_numeric_array(value, name):
    try:
        array = np.asarray(value)
    except Exception as error:  # Ragged nested lists and similar.
        raise ValueError(
            f"`{name}` must be convertible to a numeric array; received "
            f"{type(value).__name__} ({error})"
        ) from error
    if array.dtype == bool:
        return array.astype("float64")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"`{name}` must be a numeric or boolean array; received dtype {array.dtype}"
        )
    return array.astype("float64")


def _binary_pair(y_true, y_score, score_name):
    """Validates a `(y_true, scores)` pair of identical 1-D or 2-D shape."""
    y_true = _as_numeric_array(y_true, "y_true")
    y_score = _as_numeric_array(y_score, score_name)
    if y_true.ndim not in (1, 2):
        raise ValueError(
            "`y_true` must be a 1-D array (n,) or a 2-D array (n, k); received "
            f"shape {y_true.shape}"
        )
    if y_true.shape != y_score.shape:
        raise ValueError(
            f"`y_true` must have the same shape as `{score_name}`; received "
            f"{y_true.shape} and {y_score.shape}"
        )
    if not np.all((y_true == 0) | (y_true == 1)):
        bad = np.unique(y_true[(y_true != 0) & (y_true != 1)])[:5]
        raise ValueError(
            f"`y_true` must contain only binary labels 0 and 1; received values "
            f"including {bad.tolist()}"
        )
    if not np.all(np.isfinite(y_score)):
        raise ValueError(
            f"`{score_name}` must contain only finite values; received "
            f"{int(np.sum(~np.isfinite(y_score)))} NaN or infinite entries"
        )
    return y_true.astype(bool), y_score


def _check_threshold(threshold):
    if (
        isinstance(threshold, (bool, np.bool_))
        or not isinstance(threshold, (int, float, np.integer, np.floating))
        or not math.isfinite(float(threshold))
    ):
        raise ValueError(
            f"`threshold` must be a finite real number; received {threshold!r}"
        )
    return float(threshold)


def _per_column(function, *arrays):
    """Applies a 1-D metric per column of 2-D arrays, or once to 1-D arrays."""
    if arrays[0].ndim == 1:
        return function(*arrays)
    return np.array(
        [function(*(a[:, j] for a in arrays)) for j in range(arrays[0].shape[1])],
        dtype="float64",
    )


def _nanmean(values):
    values = np.asarray(values, dtype="float64")
    finite = values[~np.isnan(values)]
    return float(np.mean(finite)) if finite.size else float("nan")


# ---------------------------------------------------------------------------
# Metrics.
# ---------------------------------------------------------------------------


def _average_ranks(x):
    """1-based ranks of `x`, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts).astype("float64")
    mean_rank = last_rank - (counts - 1) / 2.0
    return mean_rank[inverse.reshape(-1)]


def _roc_auc_1d(y_true, y_score):
    n_pos = int(np.sum(y_true))
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(y_score)
    rank_sum = float(np.sum(ranks[y_true]))
    u_statistic = rank_sum - n_pos * (n_pos + 1) / 2.0
    return float(u_statistic / (n_pos * n_neg))


def roc_auc(y_true, y_score):
    """Area under the ROC curve of binary labels, per column.

    Uses the rank (Mann-Whitney U) formula: the AUC is the probability that a
    random positive scores higher than a random negative, ties counting one
    half. Tied scores receive the average of their ranks, so the result equals
    the trapezoidal area under the ROC curve.

    Args:
        y_true: array of 0/1 (or boolean) labels, shape `(n,)` or `(n, k)`.
        y_score: array of real scores (probabilities or logits) with the same
            shape as `y_true`; higher means "more positive".

    Returns:
        A float for 1-D inputs, or a float64 array of shape `(k,)` for 2-D
        inputs (one AUC per column). The AUC is NaN when a column contains
        only one class (including an empty column).

    Example:

    ```python
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    ```
    """
    y_true, y_score = _binary_pair(y_true, y_score, "y_score")
    return _per_column(_roc_auc_1d, y_true, y_score)


def _balanced_accuracy_1d(y_true, y_pred):
    rates = []
    if np.any(y_true):
        rates.append(np.mean(y_pred[y_true]))
    if np.any(~y_true):
        rates.append(np.mean(~y_pred[~y_true]))
    return float(np.mean(rates)) if rates else float("nan")


def balanced_accuracy(y_true, y_prob, threshold=0.5):
    """Mean of the true positive and true negative rates, per column.

    A sample is predicted positive when `y_prob >= threshold`. When a column
    has no positives (or no negatives), the rate of the class that is present
    is returned on its own instead of NaN.

    Args:
        y_true: array of 0/1 (or boolean) labels, shape `(n,)` or `(n, k)`.
        y_prob: array of probabilities with the same shape as `y_true`.
        threshold: float, the decision threshold. Defaults to `0.5`.

    Returns:
        A float for 1-D inputs, or a float64 array of shape `(k,)` for 2-D
        inputs. NaN only for an empty column.

    Example:

    ```python
    >>> balanced_accuracy([1, 1, 0, 0, 0, 0], [0.9, 0.2, 0.1, 0.1, 0.1, 0.7])
    0.625
    ```
    """
    threshold = _check_threshold(threshold)
    y_true, y_prob = _binary_pair(y_true, y_prob, "y_prob")
    return _per_column(_balanced_accuracy_1d, y_true, y_prob >= threshold)


def _accuracy_1d(y_true, y_pred):
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def accuracy(y_true, y_prob, threshold=0.5):
    """Binary accuracy per column, predicting positive when `y_prob >= threshold`.

    Args:
        y_true: array of 0/1 (or boolean) labels, shape `(n,)` or `(n, k)`.
        y_prob: array of probabilities with the same shape as `y_true`.
        threshold: float, the decision threshold. Defaults to `0.5`.

    Returns:
        A float for 1-D inputs, or a float64 array of shape `(k,)` for 2-D
        inputs. NaN for an empty column.

    Example:

    ```python
    >>> accuracy([1, 0, 1, 0], [0.9, 0.6, 0.5, 0.1])
    0.75
    ```
    """
    threshold = _check_threshold(threshold)
    y_true, y_prob = _binary_pair(y_true, y_prob, "y_prob")
    return _per_column(_accuracy_1d, y_true, y_prob >= threshold)


def top1_accuracy(y_true_int, probs):
    """Fraction of samples whose highest-scoring class is the true class.

    Ties between the top scores are broken towards the lowest class index
    (`np.argmax`).

    Args:
        y_true_int: integer class indices, shape `(n,)` (or `(n, 1)`), each in
            `[0, k)`.
        probs: class probabilities or logits, shape `(n, k)`.

    Returns:
        A float in `[0, 1]`, or NaN when `n == 0`.

    Example:

    ```python
    >>> top1_accuracy([0, 2], [[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]])
    0.5
    ```
    """
    labels = np.asarray(y_true_int)
    probs = _as_numeric_array(probs, "probs")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(
            "`y_true_int` must be a 1-D array of class indices (n,); received "
            f"shape {labels.shape}"
        )
    if probs.ndim != 2:
        raise ValueError(
            f"`probs` must be a 2-D array (n, k); received shape {probs.shape}"
        )
    if labels.shape[0] != probs.shape[0]:
        raise ValueError(
            "`y_true_int` must have one label per row of `probs`; received "
            f"{labels.shape[0]} labels and {probs.shape[0]} rows"
        )
    is_integral = np.issubdtype(labels.dtype, np.integer) or (
        np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels))
    )
    if labels.size and not is_integral:
        raise ValueError(
            "`y_true_int` must contain integer class indices; received "
            f"dtype {labels.dtype}"
        )
    num_classes = probs.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`y_true_int` must contain class indices in [0, {num_classes}); "
            f"received values in [{labels.min()}, {labels.max()}]"
        )
    if labels.size == 0:
        return float("nan")
    if num_classes == 0:
        raise ValueError("`probs` must have at least one class; received 0 columns")
    predictions = np.argmax(probs, axis=1)
    return float(np.mean(predictions == labels.astype("int64")))


def binary_report(y_true, y_prob, label_names, threshold=0.5):
    """Per-label and mean binary metrics of a multi-label classifier.

    Args:
        y_true: array of 0/1 labels, shape `(n, k)` (or `(n,)` for one label).
        y_prob: array of probabilities with the same shape as `y_true`.
        label_names: sequence of `k` unique strings naming the columns.
        threshold: float, the decision threshold for `accuracy` and
            `balanced_accuracy`. Defaults to `0.5`.

    Returns:
        A dict `{"per_label": {name: {"accuracy", "balanced_accuracy",
        "roc_auc", "positive_rate"}}, "mean": {"accuracy",
        "balanced_accuracy", "roc_auc"}}` of Python floats. `positive_rate`
        is the fraction of samples whose true label is 1. Means are taken
        over labels ignoring NaN values (NaN only if every label is NaN).

    Example:

    ```python
    report = binary_report(y_true, student.predict(x), ["Smiling", "Male"])
    report["mean"]["roc_auc"]
    ```
    """
    threshold = _check_threshold(threshold)
    y_true_array, y_prob_array = _binary_pair(y_true, y_prob, "y_prob")
    if y_true_array.ndim == 1:
        y_true_array = y_true_array[:, None]
        y_prob_array = y_prob_array[:, None]
    if isinstance(label_names, str):
        label_names = [label_names]
    label_names = list(label_names)
    num_labels = y_true_array.shape[1]
    if len(label_names) != num_labels:
        raise ValueError(
            f"`label_names` must have one name per column of `y_true` "
            f"({num_labels}); received {len(label_names)} names"
        )
    if not all(isinstance(name, str) for name in label_names):
        raise ValueError(
            f"`label_names` must contain only strings; received {label_names!r}"
        )
    if len(set(label_names)) != len(label_names):
        duplicates = sorted({n for n in label_names if label_names.count(n) > 1})
        raise ValueError(
            f"`label_names` must be unique; received duplicates {duplicates}"
        )

    acc = _per_column(_accuracy_1d, y_true_array, y_prob_array >= threshold)
    bal = _per_column(_balanced_accuracy_1d, y_true_array, y_prob_array >= threshold)
    auc = _per_column(_roc_auc_1d, y_true_array, y_prob_array)
    if y_true_array.shape[0]:
        pos = np.mean(y_true_array, axis=0)
    else:
        pos = np.full((num_labels,), np.nan)

    per_label = {
        name: {
            "accuracy": float(acc[j]),
            "balanced_accuracy": float(bal[j]),
            "roc_auc": float(auc[j]),
            "positive_rate": float(pos[j]),
        }
        for j, name in enumerate(label_names)
    }
    mean = {
        "accuracy": _nanmean(acc),
        "balanced_accuracy": _nanmean(bal),
        "roc_auc": _nanmean(auc),
    }
    return {"per_label": per_label, "mean": mean}


def gap_closed(target, lower, upper):
    """Fraction of the gap from `lower` to `upper` that `target` closes.

    Computes `(target - lower) / (upper - lower)`: 0 means no better than the
    lower reference (e.g. a student trained without the teachers), 1 means as
    good as the upper reference (e.g. the teachers or a data-driven student).
    Values can fall outside `[0, 1]`. Arguments broadcast like NumPy arrays.

    Args:
        target: float or array, the measured score.
        lower: float or array, the score that counts as 0.
        upper: float or array, the score that counts as 1.

    Returns:
        A float when all arguments are scalars, otherwise a float64 array.

    Raises:
        ValueError: if `upper == lower` (anywhere, for arrays).

    Example:

    ```python
    >>> gap_closed(0.75, lower=0.5, upper=1.0)
    0.5
    ```
    """
    target_a = _as_numeric_array(target, "target")
    lower_a = _as_numeric_array(lower, "lower")
    upper_a = _as_numeric_array(upper, "upper")
    try:
        target_a, lower_a, upper_a = np.broadcast_arrays(target_a, lower_a, upper_a)
    except ValueError as error:
        raise ValueError(
            "`target`, `lower` and `upper` must have broadcastable shapes; "
            f"received {np.shape(target)}, {np.shape(lower)} and "
            f"{np.shape(upper)}"
        ) from error
    width = upper_a - lower_a
    if np.any(width == 0):
        raise ValueError(
            "`upper` must differ from `lower`; received upper == lower == "
            f"{lower_a[width == 0].ravel()[0]!r}"
        )
    result = (target_a - lower_a) / width
    return float(result) if result.ndim == 0 else result


# ---------------------------------------------------------------------------
# Cost measurements.
# ---------------------------------------------------------------------------


def count_params(model_or_models):
    """Total number of parameters (trainable and non-trainable) of models.

    Args:
        model_or_models: a built `keras.Model` (or `keras.layers.Layer`), or a
            list/tuple of them. Variables shared between the models (for
            example a common backbone) are counted once.

    Returns:
        An int, the number of scalar parameters.

    Example:

    ```python
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> count_params(model)
    15
    ```
    """
    if isinstance(model_or_models, (list, tuple)):
        models = list(model_or_models)
        if not models:
            raise ValueError(
                "`model_or_models` must be a Keras model or a non-empty list of "
                "models; received an empty list"
            )
    else:
        models = [model_or_models]
    seen = set()
    total = 0
    for index, model in enumerate(models):
        if not isinstance(model, keras.layers.Layer):
            raise ValueError(  # noqa: TRY004 (package convention: ValueError)
                "`model_or_models` must be a Keras model or a list of models; "
                f"received {type(model).__name__} at position {index}"
            )
        if not model.built:
            raise ValueError(
                "`model_or_models` must contain only built models (call the "
                "model on data or give it an `Input`); received unbuilt model "
                f"{model.name!r}"
            )
        for variable in model.weights:
            if id(variable) in seen:
                continue
            seen.add(id(variable))
            total += int(np.prod(variable.shape, dtype="int64"))
    return total


def _materialize(outputs):
    """Converts (nested) outputs to NumPy, waiting for asynchronous backends."""
    if outputs is None:
        return None
    if isinstance(outputs, Mapping):
        return {key: _materialize(value) for key, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [_materialize(value) for value in outputs]
    return keras.ops.convert_to_numpy(outputs)


def inference_time(model_or_callable, x, batch_size=64, repeats=3, warmup=1):
    """Median inference time per image.

    A `keras.Model` is timed with `model.predict(x, batch_size=batch_size,
    verbose=0)`. Any other callable is called on consecutive slices of `x` of
    `batch_size` rows, and its outputs are converted to NumPy so that
    asynchronous backends (JAX) finish the computation inside the timing.
    `warmup` untimed passes (tracing, compilation) run first; then `repeats`
    timed passes over all of `x`, and the median pass time is divided by the
    number of images.

    Args:
        model_or_callable: a `keras.Model`, or a callable mapping a batch to
            outputs.
        x: array of inputs, shape `(n, ...)` with `n >= 1`.
        batch_size: int >= 1. Defaults to `64`.
        repeats: int >= 1, the number of timed passes. Defaults to `3`.
        warmup: int >= 0, the number of untimed passes. Defaults to `1`.

    Returns:
        A dict `{"seconds_per_image": float, "images_per_second": float}`.

    Example:

    ```python
    timing = inference_time(student, x_test[:512], batch_size=128)
    print(f"{timing['images_per_second']:.0f} images/s")
    ```
    """
    batch_size = check_int(batch_size, "batch_size", 1)
    repeats = check_int(repeats, "repeats", 1)
    warmup = check_int(warmup, "warmup", 0)
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(
            f"`x` must be an array with at least one sample (n, ...); received "
            f"shape {x.shape}"
        )
    num_images = x.shape[0]

    if isinstance(model_or_callable, keras.Model):
        model = model_or_callable

        def run_pass():
            model.predict(x, batch_size=batch_size, verbose=0)

    elif callable(model_or_callable):
        function = model_or_callable

        def run_pass():
            for start in range(0, num_images, batch_size):
                _materialize(function(x[start : start + batch_size]))

    else:
        raise ValueError(  # noqa: TRY004 (package convention: ValueError)
            "`model_or_callable` must be a keras.Model or a callable; received "
            f"{type(model_or_callable).__name__}"
        )

    for _ in range(warmup):
        run_pass()
    durations = []
    for _ in range(repeats):
        start_time = time.perf_counter()
        run_pass()
        durations.append(time.perf_counter() - start_time)
    seconds_per_image = float(np.median(durations)) / num_images
    if seconds_per_image > 0:
        images_per_second = 1.0 / seconds_per_image
    else:  # Below the clock resolution.
        images_per_second = float("inf")
    return {
        "seconds_per_image": seconds_per_image,
        "images_per_second": images_per_second,
    }


# ---------------------------------------------------------------------------
# Reports.
# ---------------------------------------------------------------------------


def _format_cell(value):
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return "-"
    if isinstance(value, bool):
        text = str(value)
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:.3f}" if math.isfinite(value) else str(value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\r\n", " ").replace("\n", " ")


def format_table(rows, columns, title=None):
    """Formats rows of values as a Markdown table.

    Floats are shown with 3 decimals (`nan`/`inf` as such), integers with
    thousands separators, booleans as `True`/`False`, and values that are
    missing from a row or `None` as `-`. `|` inside values is escaped.

    Args:
        rows: list of dicts mapping column names to values.
        columns: list of column names (strings), in display order.
        title: optional string, emitted as a `### title` heading above the
            table.

    Returns:
        The table as a string ending with a newline.

    Example:

    ```python
    >>> print(format_table([{"model": "student", "params": 1234567,
    ...                      "auc": 0.91234}], ["model", "params", "auc"]))
    | model | params | auc |
    | --- | --- | --- |
    | student | 1,234,567 | 0.912 |
    <BLANKLINE>
    ```
    """
    if (
        isinstance(columns, str)
        or not isinstance(columns, (list, tuple))
        or not columns
        or not all(isinstance(column, str) for column in columns)
    ):
        raise ValueError(
            f"`columns` must be a non-empty list of column names (strings); "
            f"received {columns!r}"
        )
    if (
        isinstance(rows, Mapping)
        or not isinstance(rows, (list, tuple))
        or not all(isinstance(row, Mapping) for row in rows)
    ):
        received = type(rows).__name__
        if isinstance(rows, (list, tuple)):
            received += " of " + ", ".join(sorted({type(r).__name__ for r in rows}))
        raise ValueError(f"`rows` must be a list of dicts; received {received}")
    if title is not None and not isinstance(title, str):
        raise ValueError(f"`title` must be a string or None; received {title!r}")

    lines = []
    if title:
        lines += [f"### {title}", ""]
    lines.append("| " + " | ".join(_format_cell(c) for c in columns) + " |")
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    for row in rows:
        cells = [_format_cell(row.get(column)) for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _to_jsonable(value, where="report", keep_nonfinite=False):
    """Converts NumPy values to Python ones and non-finite floats to None."""
    if isinstance(value, Mapping):
        result = {}
        for key, item in value.items():
            if isinstance(key, np.generic):
                key = key.item()
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ValueError(
                    f"`report` keys must be strings or numbers; received "
                    f"{type(key).__name__} key {key!r} in {where}"
                )
            result[key if isinstance(key, str) else str(key)] = _to_jsonable(
                item, f"{where}[{key!r}]", keep_nonfinite
            )
        return result
    if isinstance(value, (list, tuple)):
        return [
            _to_jsonable(item, f"{where}[{i}]", keep_nonfinite)
            for i, item in enumerate(value)
        ]
    if isinstance(value, np.ndarray):
        return _to_jsonable(value.tolist(), where, keep_nonfinite)
    if isinstance(value, np.generic):
        return _to_jsonable(value.item(), where, keep_nonfinite)
    if isinstance(value, float):
        return value if keep_nonfinite or math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise ValueError(
        "`report` must contain only dicts, lists, strings, numbers, booleans, "
        f"None, paths and NumPy values; received {type(value).__name__} in "
        f"{where}"
    )


def _is_scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))


def _cell_value(value):
    return value if _is_scalar(value) else json.dumps(value)


def _report_to_markdown(report, stem):
    """Renders a JSON-compatible report dict as Markdown sections."""
    lines = [f"# {stem}", ""]
    scalars = {key: value for key, value in report.items() if _is_scalar(value)}
    if scalars:
        rows = [{"key": key, "value": value} for key, value in scalars.items()]
        lines.append(format_table(rows, ["key", "value"]))
    for key, value in report.items():
        if _is_scalar(value):
            continue
        lines += [f"## {key}", ""]
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(item, dict) for item in value.values())
        ):
            columns = ["name"]
            for item in value.values():
                columns += [c for c in item if c not in columns]
            rows = [
                {"name": name, **{c: _cell_value(v) for c, v in item.items()}}
                for name, item in value.items()
            ]
            lines.append(format_table(rows, columns))
        elif isinstance(value, dict):
            rows = [
                {"key": name, "value": _cell_value(item)}
                for name, item in value.items()
            ]
            lines.append(format_table(rows, ["key", "value"]))
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(item, dict) for item in value)
        ):
            columns = []
            for item in value:
                columns += [c for c in item if c not in columns]
            rows = [{c: _cell_value(v) for c, v in item.items()} for item in value]
            lines.append(format_table(rows, columns or ["value"]))
        else:
            lines += ["```json", json.dumps(value, indent=2), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_report(report, directory, stem, overwrite=False):
    """Writes a report dict as `stem.json` and `stem.md` in `directory`.

    The JSON file is `json.dump(..., indent=2)` of the report with NumPy
    scalars and arrays converted to Python numbers and lists, and NaN and
    infinite floats written as `null`. The Markdown file has a `# stem`
    heading, a key/value table of the top-level scalars, and one section per
    nested entry: a dict of dicts (such as `binary_report()["per_label"]`)
    becomes a table with one row per key, a flat dict a key/value table, a
    list of dicts a table, anything else a JSON code block. NaN values show as
    `nan` in the Markdown. Nothing is written if either file exists and
    `overwrite` is False.

    Args:
        report: dict with string keys and JSON-compatible (or NumPy) values.
        directory: path of the output directory; created if missing.
        stem: file name without extension, e.g. `"celeba_student"`.
        overwrite: bool, whether existing files may be replaced. Defaults to
            `False`.

    Returns:
        A tuple `(json_path, markdown_path)` of strings.

    Raises:
        FileExistsError: if a target file exists and `overwrite` is False.

    Example:

    ```python
    report = binary_report(y_true, y_prob, label_names)
    report["environment"] = environment_info()
    json_path, md_path = write_report(report, "results", "celeba_student")
    ```
    """
    if not isinstance(report, Mapping):
        raise ValueError(  # noqa: TRY004 (package convention: ValueError)
            f"`report` must be a dict; received {type(report).__name__}"
        )
    if (
        not isinstance(stem, str)
        or not stem
        or stem in (".", "..")
        or os.sep in stem
        or (os.altsep and os.altsep in stem)
    ):
        raise ValueError(
            f"`stem` must be a non-empty file name without directories; "
            f"received {stem!r}"
        )
    directory = os.fspath(directory)
    json_path = os.path.join(directory, f"{stem}.json")
    md_path = os.path.join(directory, f"{stem}.md")
    if not overwrite:
        for path in (json_path, md_path):
            if os.path.exists(path):
                raise FileExistsError(
                    f"Refusing to overwrite existing file {path!r}; pass "
                    "`overwrite=True` to replace it"
                )

    json_text = json.dumps(_to_jsonable(report), indent=2, allow_nan=False) + "\n"
    markdown_text = _report_to_markdown(_to_jsonable(report, keep_nonfinite=True), stem)

    os.makedirs(directory, exist_ok=True)
    with open(json_path, "w", encoding="utf-8") as file:
        file.write(json_text)
    with open(md_path, "w", encoding="utf-8") as file:
        file.write(markdown_text)
    return json_path, md_path


def environment_info():
    """Describes the software and hardware a measurement was taken on.

    The version of the backend library is read from the installed package
    metadata, without importing the library.

    Returns:
        A dict with keys `"keras_version"`, `"backend"`, `"backend_version"`
        (None if the backend package is not installed), `"python_version"`,
        `"numpy_version"`, `"platform"`, `"processor"` and `"cpu_count"`.

    Example:

    ```python
    report["environment"] = environment_info()
    ```
    """
    backend = keras.backend.backend()
    backend_version = None
    for distribution in _BACKEND_DISTRIBUTIONS.get(backend, (backend,)):
        try:
            backend_version = importlib.metadata.version(distribution)
            break
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "keras_version": keras.__version__,
        "backend": backend,
        "backend_version": backend_version,
        "python_version": platform.python_version(),
        "numpy_version": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
