"""The label plan: the customized label set `Y_cst`, resolved once.

`LabelPlan.resolve(teachers, target_labels)` finds every target label in the
teachers' tasks and groups them by task. `DualGenerator` keeps the plan (its
task-level filters `g_m` and its losses read it) and `TargetNet` serializes
it in its config, so no later stage searches the teachers again.
"""

import dataclasses

import numpy as np
from keras import ops

from keras_dfka.utils.model_utils import map_batches


@dataclasses.dataclass(frozen=True)
class TargetLabel:
    """One resolved target label.

    Attributes:
        name: the name as the user gave it (`"Smiling"` or `"task/Smiling"`).
        label: the plain label name.
        teacher: the index of the teacher that predicts it.
        task: the index of the task in that teacher.
        task_name: the task's name (it keys the TargetNet's outputs).
        index: the label's position in the task's output.
        activation: `"sigmoid"` or `"softmax"`, the task's.
    """

    name: str
    label: str
    teacher: int
    task: int
    task_name: str
    index: int
    activation: str


@dataclasses.dataclass(frozen=True)
class TaskGroup:
    """The target labels of one teacher task, in the user's order.

    Attributes:
        teacher: the teacher's index.
        task: the task's index in the teacher.
        task_name: the task's name.
        activation: `"sigmoid"` or `"softmax"`.
        indices: the labels' positions in the task's output.
        labels: the plain label names.
    """

    teacher: int
    task: int
    task_name: str
    activation: str
    indices: tuple
    labels: tuple


@dataclasses.dataclass(frozen=True)
class LabelPlan:
    """Target labels resolved against the teachers, and grouped by task.

    Attributes:
        labels: tuple of `TargetLabel`, in the user's order.
        groups: tuple of `TaskGroup`, tasks in order of first appearance.

    Example:

    ```python
    plan = LabelPlan.resolve([hair, face], ["Smiling", "hair/Blond_Hair"])
    plan.target_labels   # ["Smiling", "hair/Blond_Hair"]
    plan.columns         # [("expression", 0), ("hair", 0)]
    ```
    """

    labels: tuple
    groups: tuple

    @classmethod
    def resolve(cls, teachers, target_labels):
        """Finds each target label in the teachers' tasks.

        A label is named plainly (`"Smiling"`) when exactly one task has it,
        or qualified by its task (`"expression/Smiling"`) otherwise.

        Args:
            teachers: list of `keras_dfka.Teacher`.
            target_labels: non-empty list of unique label names.

        Returns:
            A `LabelPlan`.
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
                    entry = (label, t, k, task.name, i, task.activation)
                    where.setdefault(label, []).append(entry)
                    where.setdefault(f"{task.name}/{label}", []).append(entry)
        resolved = []
        for name in target_labels:
            if not isinstance(name, str) or name not in where:
                available = sorted(k for k in where if "/" not in k)
                raise ValueError(
                    f"`target_labels` contains {name!r}, which no teacher "
                    f"predicts. Available labels: {available}"
                )
            matches = where[name]
            if len(matches) > 1:
                options = [f"{m[3]}/{m[0]}" for m in matches]
                raise ValueError(
                    f"`target_labels` entry {name!r} is ambiguous: several tasks "
                    f"predict it. Qualify it with the task name, one of {options}."
                )
            resolved.append(TargetLabel(name, *matches[0]))
        keys = [(r.teacher, r.task, r.index) for r in resolved]
        if len(set(keys)) != len(keys):
            raise ValueError(
                "`target_labels` names the same label twice (plain and "
                f"qualified). Received: {target_labels}"
            )
        return cls.from_labels(resolved)

    @classmethod
    def from_labels(cls, labels):
        """A plan from resolved labels: groups them by task."""
        groups = {}
        for r in labels:
            groups.setdefault((r.teacher, r.task), []).append(r)
        return cls(
            labels=tuple(labels),
            groups=tuple(
                TaskGroup(
                    teacher=members[0].teacher,
                    task=members[0].task,
                    task_name=members[0].task_name,
                    activation=members[0].activation,
                    indices=tuple(r.index for r in members),
                    labels=tuple(r.label for r in members),
                )
                for members in groups.values()
            ),
        )

    @property
    def target_labels(self):
        """The names as the user gave them, in order."""
        return [r.name for r in self.labels]

    @property
    def teachers(self):
        """The sorted indices of the teachers with at least one target label."""
        return sorted({g.teacher for g in self.groups})

    @property
    def task_names(self):
        """The names of the tasks with target labels, by teacher, then in
        order of appearance (the order of the TargetNet's outputs)."""
        return [g.task_name for m in self.teachers for g in self.groups_of(m)]

    @property
    def activations(self):
        """`{task name: activation}`, in the order of `task_names`."""
        by_name = {g.task_name: g.activation for g in self.groups}
        return {name: by_name[name] for name in self.task_names}

    @property
    def columns(self):
        """For each target label, `(task name, position in that task's
        TargetNet output)`."""
        position = {}
        for g in self.groups:
            for p, index in enumerate(g.indices):
                position[(g.task_name, index)] = p
        return [(r.task_name, position[(r.task_name, r.index)]) for r in self.labels]

    def groups_of(self, teacher):
        """The task groups of teacher index `teacher`."""
        return [g for g in self.groups if g.teacher == teacher]

    def decisions(self):
        """Target-label columns per decision: one per sigmoid label, one per
        softmax task (all of its target labels)."""
        decisions = {}
        for j, r in enumerate(self.labels):
            key = j if r.activation == "sigmoid" else (r.teacher, r.task)
            decisions.setdefault(key, []).append(j)
        return list(decisions.values())

    def teacher_probabilities(self, teachers, images, batch_size=128):
        """The teachers' probabilities of the target labels, as numpy.

        Args:
            teachers: the list of `keras_dfka.Teacher` the plan was resolved
                against.
            images: images `(n, height, width, channels)`.
            batch_size: int, the batch size of the teacher calls.

        Returns:
            A float array `(n, len(labels))`, columns in the user's order.
        """

        def probabilities(batch):
            cache = {}
            row = []
            for r in self.labels:
                if r.teacher not in cache:
                    cache[r.teacher] = teachers[r.teacher].image_pass(batch)[0]
                row.append(ops.convert_to_numpy(cache[r.teacher][r.task])[:, r.index])
            return np.stack(row, axis=-1)

        return map_batches(probabilities, images, batch_size)

    def get_config(self):
        return {"labels": [dataclasses.asdict(r) for r in self.labels]}

    @classmethod
    def from_config(cls, config):
        return cls.from_labels([TargetLabel(**r) for r in config["labels"]])
