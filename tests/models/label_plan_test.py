import pytest

import keras_dfka
from keras_dfka.models import teacher_zoo
from keras_dfka.models.label_plan import LabelPlan
from keras_dfka.models.label_plan import TargetLabel
from keras_dfka.models.label_plan import TaskGroup

HAIR = keras_dfka.LabelTask("hair", ["Black_Hair", "Blond_Hair", "Smiling"], "sigmoid")
EXPRESSION = keras_dfka.LabelTask("expression", ["Smiling", "Young", "Calm"], "sigmoid")
DIGIT = keras_dfka.LabelTask("digit", ["zero", "one", "two"], "softmax")


def resolve_target_labels(teachers, target_labels):
    return list(LabelPlan.resolve(teachers, target_labels).labels)


def _teacher(tasks, name):
    model = teacher_zoo.small_cnn((8, 8, 3), tasks, widths=(4, 8), name=name)
    return keras_dfka.Teacher(model, teacher_zoo.block_names(model), tasks=tasks)


@pytest.fixture(scope="module")
def teachers():
    return [_teacher([HAIR], "teacher_a"), _teacher([EXPRESSION, DIGIT], "teacher_b")]


def test_plain_names(teachers):
    resolved = resolve_target_labels(teachers, ["Young", "Blond_Hair", "two"])
    assert resolved == [
        TargetLabel("Young", "Young", 1, 0, "expression", 1, "sigmoid"),
        TargetLabel("Blond_Hair", "Blond_Hair", 0, 0, "hair", 1, "sigmoid"),
        TargetLabel("two", "two", 1, 1, "digit", 2, "softmax"),
    ]


def test_qualified_names(teachers):
    resolved = resolve_target_labels(
        teachers, ["expression/Smiling", "hair/Smiling", "digit/zero"]
    )
    assert [(r.teacher, r.task, r.index) for r in resolved] == [
        (1, 0, 0),
        (0, 0, 2),
        (1, 1, 0),
    ]
    # `label` is the plain name, `name` the one given.
    assert [r.label for r in resolved] == ["Smiling", "Smiling", "zero"]
    assert [r.name for r in resolved] == [
        "expression/Smiling",
        "hair/Smiling",
        "digit/zero",
    ]
    assert [r.task_name for r in resolved] == ["expression", "hair", "digit"]


def test_plan_is_frozen_and_round_trips(teachers):
    plan = LabelPlan.resolve(teachers, ["Young", "digit/two", "Black_Hair"])
    with pytest.raises(AttributeError):
        plan.labels[0].index = 99
    assert LabelPlan.from_config(plan.get_config()) == plan
    assert plan.target_labels == ["Young", "digit/two", "Black_Hair"]


def test_unknown_label_lists_available(teachers):
    with pytest.raises(ValueError, match="'Bald'.*no teacher predicts") as info:
        resolve_target_labels(teachers, ["Young", "Bald"])
    message = str(info.value)
    assert "Available labels" in message
    for label in ("Black_Hair", "Blond_Hair", "Smiling", "Young", "zero", "two"):
        assert f"'{label}'" in message


def test_unknown_qualified_label(teachers):
    # "Young" exists, but not in the task "hair".
    with pytest.raises(ValueError, match="'hair/Young'"):
        resolve_target_labels(teachers, ["hair/Young"])


def test_non_string_entry(teachers):
    with pytest.raises(ValueError, match="no teacher predicts"):
        resolve_target_labels(teachers, [3])


def test_duplicate_labels(teachers):
    with pytest.raises(ValueError, match=r"must not repeat.*\['Young'\]"):
        resolve_target_labels(teachers, ["Young", "zero", "Young"])


def test_same_label_plain_and_qualified(teachers):
    with pytest.raises(ValueError, match="same label twice"):
        resolve_target_labels(teachers, ["Young", "expression/Young"])


def test_empty_list(teachers):
    with pytest.raises(ValueError, match="non-empty list"):
        resolve_target_labels(teachers, [])


@pytest.mark.parametrize("value", ["Young", None])
def test_string_or_none_instead_of_list(teachers, value):
    with pytest.raises(ValueError, match="must be a non-empty list of label names"):
        resolve_target_labels(teachers, value)


def test_ambiguous_label(teachers):
    with pytest.raises(ValueError, match="'Smiling' is ambiguous") as info:
        resolve_target_labels(teachers, ["Smiling"])
    message = str(info.value)
    assert "hair/Smiling" in message and "expression/Smiling" in message


def test_tuple_is_accepted(teachers):
    resolved = resolve_target_labels(teachers, ("one", "Black_Hair"))
    assert [r.label for r in resolved] == ["one", "Black_Hair"]


def test_groups_columns_and_task_order(teachers):
    plan = LabelPlan.resolve(
        teachers,
        ["two", "Young", "Blond_Hair", "zero", "hair/Smiling", "Black_Hair"],
    )
    # Tasks in order of first appearance; labels within a task in user order.
    assert plan.groups == (
        TaskGroup(1, 1, "digit", "softmax", (2, 0), ("two", "zero")),
        TaskGroup(1, 0, "expression", "sigmoid", (1,), ("Young",)),
        TaskGroup(
            0, 0, "hair", "sigmoid", (1, 2, 0), ("Blond_Hair", "Smiling", "Black_Hair")
        ),
    )
    # Each label's place in its task's output.
    assert plan.columns == [
        ("digit", 0),
        ("expression", 0),
        ("hair", 0),
        ("digit", 1),
        ("hair", 1),
        ("hair", 2),
    ]
    # The outputs by teacher: the TargetNet's order.
    assert plan.teachers == [0, 1]
    assert plan.task_names == ["hair", "digit", "expression"]
    assert list(plan.activations.values()) == ["sigmoid", "softmax", "sigmoid"]
    # One decision per sigmoid label, one per softmax task.
    assert plan.decisions() == [[0, 3], [1], [2], [4], [5]]
