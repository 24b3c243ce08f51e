"""Resolving the customized label set `Y_cst` against the teachers' labels."""


def resolve_target_labels(teachers, target_labels):
    """Finds each target label in the teachers' tasks.

    A label is named plainly (`"Smiling"`) when exactly one task has it, or
    qualified by its task (`"expression/Smiling"`) otherwise.

    Args:
        teachers: list of `keras_dfka.Teacher`.
        target_labels: non-empty list of unique label names.

    Returns:
        A list, in the user's order, of dicts with keys `label` (the plain
        name), `teacher` (index), `task` (index in the teacher), `task_name`,
        `index` (position in the task's output) and `activation`.
    """
    if isinstance(target_labels, str) or target_labels is None:
        raise ValueError(
            "`target_labels` must be a non-empty list of label names. "
            f"Received: target_labels={target_labels!r}"
        )
    target_labels = list(target_labels)
    if not target_labels:
        raise ValueError(
            "`target_labels` must be a non-empty list of label names. Received []."
        )
    duplicates = sorted({x for x in target_labels if target_labels.count(x) > 1})
    if duplicates:
        raise ValueError(
            f"`target_labels` must not repeat a label. Received duplicates: "
            f"{duplicates}"
        )
    where = {}
    for t, teacher in enumerate(teachers):
        for k, task in enumerate(teacher.tasks):
            for i, label in enumerate(task.labels):
                entry = {
                    "label": label,
                    "teacher": t,
                    "task": k,
                    "task_name": task.name,
                    "index": i,
                    "activation": task.activation,
                }
                where.setdefault(label, []).append(entry)
                where.setdefault(f"{task.name}/{label}", []).append(entry)
    resolved = []
    for name in target_labels:
        if not isinstance(name, str) or name not in where:
            available = sorted(k for k in where if "/" not in k)
            raise ValueError(
                f"`target_labels` contains {name!r}, which no teacher predicts. "
                f"Available labels: {available}"
            )
        matches = where[name]
        if len(matches) > 1:
            options = [f"{m['task_name']}/{m['label']}" for m in matches]
            raise ValueError(
                f"`target_labels` entry {name!r} is ambiguous: several tasks "
                f"predict it. Qualify it with the task name, one of {options}."
            )
        resolved.append(dict(matches[0]))
    keys = [(r["teacher"], r["task"], r["index"]) for r in resolved]
    if len(set(keys)) != len(keys):
        raise ValueError(
            "`target_labels` names the same label twice (plain and qualified). "
            f"Received: {target_labels}"
        )
    return resolved


def output_tasks(resolved):
    """Groups resolved labels by task, tasks in order of first appearance.

    Returns:
        A list of dicts `{teacher, task, task_name, activation, indices,
        labels}` where `indices` and `labels` follow the user's order.
    """
    groups = {}
    for entry in resolved:
        key = (entry["teacher"], entry["task"])
        if key not in groups:
            groups[key] = {
                "teacher": entry["teacher"],
                "task": entry["task"],
                "task_name": entry["task_name"],
                "activation": entry["activation"],
                "indices": [],
                "labels": [],
            }
        groups[key]["indices"].append(entry["index"])
        groups[key]["labels"].append(entry["label"])
    return list(groups.values())
