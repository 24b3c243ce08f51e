"""Reports: Markdown tables, JSON and Markdown files, and the environment a
measurement was taken on."""

import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping

import keras
import numpy as np

from keras_dfka.utils import cpu_kernels

_BACKEND_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "jax": ("jax",),
    "torch": ("torch",),
    "numpy": ("numpy",),
    "openvino": ("openvino",),
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


def write_json(data, path):
    """Writes `data` to `path` as indented JSON, creating the directory.

    NumPy scalars and arrays become Python numbers and lists, and NaN and
    infinite floats `null`, as in `write_report`.

    Args:
        data: a dict (or list) of JSON-compatible or NumPy values.
        path: the file to write (replaced if it exists).

    Returns:
        `path`.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(_to_jsonable(data, "data"), file, indent=2, allow_nan=False)
        file.write("\n")
    return path


def environment_info():
    """Describes the software and hardware a measurement was taken on.

    The version of the backend library is read from the installed package
    metadata, without importing the library.

    Returns:
        A dict with keys `"keras_version"`, `"backend"`, `"backend_version"`
        (None if the backend package is not installed), `"python_version"`,
        `"numpy_version"`, `"platform"`, `"processor"`, `"cpu_count"` and
        `"tensorflow_onednn"` (whether TensorFlow runs its oneDNN CPU
        kernels, `keras_dfka.utils.cpu_kernels`; None under other backends).

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
        "tensorflow_onednn": (
            cpu_kernels.onednn_enabled() if backend == "tensorflow" else None
        ),
    }
