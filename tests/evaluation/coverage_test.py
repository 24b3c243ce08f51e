import numpy as np
import pytest

from keras_dfka.evaluation import coverage_warnings
from keras_dfka.evaluation import label_coverage
from keras_dfka.models.label_plan import LabelPlan
from keras_dfka.models.label_plan import TargetLabel


class FixedTeacher:
    """A stand-in teacher whose outputs are the images' first pixels."""

    def __init__(self, tasks):
        self.tasks = tasks  # [(start, stop)] columns of the image's first row

    def image_pass(self, images):
        row = images[:, 0, :, 0]
        return [row[:, start:stop] for start, stop in self.tasks], None


def _plan():
    return LabelPlan.from_labels(
        [
            TargetLabel("a", "a", 0, 0, "attrs", 0, "sigmoid"),
            TargetLabel("c1", "c1", 0, 1, "class", 1, "softmax"),
        ]
    )


def _images(rows):
    rows = np.asarray(rows, "float32")
    return rows[:, None, :, None]  # (n, 1, width, 1)


def test_shares_of_positive_and_near_boundary():
    teacher = FixedTeacher([(0, 1), (1, 4)])
    images = _images(
        [
            # sigmoid a, then softmax classes c0, c1, c2
            [0.9, 0.1, 0.8, 0.1],  # a positive; c1 positive, far from c0
            [0.55, 0.45, 0.5, 0.05],  # a positive, near; c1 positive, near c0
            [0.2, 0.7, 0.2, 0.1],  # a negative; c1 negative, far
            [0.45, 0.1, 0.1, 0.8],  # a negative, near; c1 negative, far
        ]
    )
    coverage = label_coverage([teacher], _plan(), images, margin=0.1, batch_size=3)
    assert list(coverage) == ["a", "c1"]
    assert coverage["a"] == {"positive": 0.5, "boundary": 0.5}
    assert coverage["c1"] == {"positive": 0.5, "boundary": 0.25}


def test_warnings_name_the_barely_covered_side():
    plan = _plan()
    coverage = {
        "a": {"positive": 0.995, "boundary": 0.0},
        "c1": {"positive": 0.01, "boundary": 0.0},
    }
    messages = coverage_warnings(coverage, plan, min_share=0.02)
    assert len(messages) == 2
    assert "'a'" in messages[0] and "negative" in messages[0]
    assert "'c1'" in messages[1] and "positive" in messages[1]
    covered = {"a": {"positive": 0.3, "boundary": 0.1}}
    assert coverage_warnings(covered, plan) == []
    # A softmax class is one of K: few negatives are fine.
    assert coverage_warnings({"c1": {"positive": 0.99, "boundary": 0}}, plan) == []


def test_bad_arguments_are_refused():
    teacher = FixedTeacher([(0, 1), (1, 4)])
    with pytest.raises(ValueError, match="margin"):
        label_coverage([teacher], _plan(), _images([[0.5] * 4]), margin=0.7)
    with pytest.raises(ValueError, match="images"):
        label_coverage([teacher], _plan(), np.zeros((0, 1, 4, 1)))
    with pytest.raises(ValueError, match="min_share"):
        coverage_warnings({}, min_share=0.9)
