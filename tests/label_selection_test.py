import pytest

import keras_dfka
from keras_dfka import teacher_zoo
from keras_dfka.label_selection import output_tasks
from keras_dfka.label_selection import resolve_target_labels

HAIR = keras_dfka.Task("hair", ["Black_Hair", "Blond_Hair", "Smiling"], "sigmoid")
EXPRESSION = keras_dfka.Task("expression", ["Smiling", "Young", "Calm"], "sigmoid")
DIGIT = keras_dfka.Task("digit", ["zero", "one", "two"], "softmax")


def _teacher(tasks, name):
    model = teacher_zoo.small_cnn((8, 8, 3), tasks, widths=(4, 8), name=name)
    return keras_dfka.Teacher(model, teacher_zoo.block_names(model), tasks=tasks)


@pytest.fixture(scope="module")
def teachers():
    return [_teacher([HAIR], "teacher_a"), _teacher([EXPRESSION, DIGIT], "teacher_b")]


def test_plain_names(teachers):
    resolved = resolve_target_labels(teachers, ["Young", "Blond_Hair", "two"])
    assert resolved == [
        {
            "label": "Young",
            "teacher": 1,
            "task": 0,
            "task_name": "expression",
            "index": 1,
            "activation": "sigmoid",
        },
        {
            "label": "Blond_Hair",
            "teacher": 0,
            "task": 0,
            "task_name": "hair",
            "index": 1,
            "activation": "sigmoid",
        },
        {
            "label": "two",
            "teacher": 1,
            "task": 1,
            "task_name": "digit",
            "index": 2,
            "activation": "softmax",
        },
    ]


def test_qualified_names(teachers):
    resolved = resolve_target_labels(
        teachers, ["expression/Smiling", "hair/Smiling", "digit/zero"]
    )
    assert [(r["teacher"], r["task"], r["index"]) for r in resolved] == [
        (1, 0, 0),
        (0, 0, 2),
        (1, 1, 0),
    ]
    # The returned label is the plain name.
    assert [r["label"] for r in resolved] == ["Smiling", "Smiling", "zero"]
    assert [r["task_name"] for r in resolved] == ["expression", "hair", "digit"]


def test_result_is_a_copy(teachers):
    first = resolve_target_labels(teachers, ["Young"])
    first[0]["index"] = 99
    assert resolve_target_labels(teachers, ["Young"])[0]["index"] == 1


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
    assert [r["label"] for r in resolved] == ["one", "Black_Hair"]


def test_output_tasks_grouping_order(teachers):
    resolved = resolve_target_labels(
        teachers,
        ["two", "Young", "Blond_Hair", "zero", "hair/Smiling", "Black_Hair"],
    )
    groups = output_tasks(resolved)
    # Tasks in order of first appearance; labels within a task in user order.
    assert groups == [
        {
            "teacher": 1,
            "task": 1,
            "task_name": "digit",
            "activation": "softmax",
            "indices": [2, 0],
            "labels": ["two", "zero"],
        },
        {
            "teacher": 1,
            "task": 0,
            "task_name": "expression",
            "activation": "sigmoid",
            "indices": [1],
            "labels": ["Young"],
        },
        {
            "teacher": 0,
            "task": 0,
            "task_name": "hair",
            "activation": "sigmoid",
            "indices": [1, 2, 0],
            "labels": ["Blond_Hair", "Smiling", "Black_Hair"],
        },
    ]


def test_output_tasks_empty():
    assert output_tasks([]) == []
