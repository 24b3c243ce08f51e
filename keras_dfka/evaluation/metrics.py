"""Metrics of a student: per-label binary metrics, top-1 accuracy, and how
much of the gap between a baseline and a reference it closes.

Everything here works on NumPy arrays (convert backend tensors with
`keras.ops.convert_to_numpy` first), so results are identical on every Keras
backend.
"""

import math

import numpy as np

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
