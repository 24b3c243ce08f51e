"""The summary of a quality run: per row, the mean and spread over seeds of
each score and of the gap closed between the noise student (0) and the
data-driven student (1)."""

import numpy as np


def summarize(results, metric):
    def bounds(key):
        return [
            np.mean([r[key] for r in results[name]])
            for name in ("noise_student", "data_student")
        ]

    lower, upper = bounds(metric)
    validation_metric = f"validation_{metric}"
    has_validation = validation_metric in results["noise_student"][0]
    table = []
    for name, entries in results.items():
        row = {"row": name, "seeds": len(entries)}
        for key in (
            validation_metric,
            "roc_auc",
            "balanced_accuracy",
            "accuracy",
            "wall_time_s",
        ):
            values = [e[key] for e in entries if key in e]
            if values:
                row[key] = float(np.mean(values))
                row[f"{key}_std"] = float(np.std(values))
        per_class = [
            e["per_class_accuracy"] for e in entries if "per_class_accuracy" in e
        ]
        if per_class:
            row["per_class_accuracy"] = [float(v) for v in np.mean(per_class, axis=0)]
        if upper != lower:
            gaps = [(e[metric] - lower) / (upper - lower) for e in entries]
            row["gap_closed"] = float(np.mean(gaps))
            row["gap_closed_std"] = float(np.std(gaps))
        if has_validation:
            low, high = bounds(validation_metric)
            gaps = [(e[validation_metric] - low) / (high - low) for e in entries]
            row["validation_gap_closed"] = float(np.mean(gaps))
        table.append(row)
    return table


def format_per_class(table):
    """A Markdown table of each row's mean top-1 accuracy per true digit."""
    rows = [r for r in table if "per_class_accuracy" in r]
    if not rows:
        return ""
    from keras_dfka import evaluation

    digits = [str(c) for c in range(len(rows[0]["per_class_accuracy"]))]
    cells = [
        {"row": r["row"], **dict(zip(digits, r["per_class_accuracy"]))} for r in rows
    ]
    return evaluation.format_table(cells, ["row"] + digits)
