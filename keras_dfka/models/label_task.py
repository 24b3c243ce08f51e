"""`LabelTask`: a named group of labels that one teacher output predicts."""

import keras
import numpy as np

ACTIVATIONS = ("sigmoid", "softmax")


@keras.saving.register_keras_serializable(package="keras_dfka")
class LabelTask:
    """A named group of labels predicted by one output of a teacher.

    A task is either multi-label (`activation="sigmoid"`: every label is an
    independent binary attribute) or multi-class (`activation="softmax"`: the
    labels are the K mutually exclusive classes of one categorical variable).

    Args:
        name: str, the task's name; unique across all teachers of one
            amalgamation (it keys the TargetNet's output dict).
        labels: list of str, one name per unit of the output, in order.
        activation: `"sigmoid"` or `"softmax"`.
        from_logits: bool or None. Whether the output holds logits (the
            activation is not applied yet). `None` inherits the teacher's
            `from_logits`.

    Example:

    ```python
    hair = keras_dfka.LabelTask("hair", ["Black_Hair", "Blond_Hair"], "sigmoid")
    digit = keras_dfka.LabelTask("digit", [str(i) for i in range(10)], "softmax")
    ```
    """

    def __init__(self, name, labels, activation="sigmoid", from_logits=None):
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"`name` must be a non-empty string. Received: name={name!r}"
            )
        if isinstance(labels, str) or not hasattr(labels, "__iter__"):
            raise ValueError(
                f"`labels` of task '{name}' must be a list of strings. "
                f"Received: labels={labels!r}"
            )
        labels = list(labels)
        if not labels or not all(isinstance(x, str) and x for x in labels):
            raise ValueError(
                f"`labels` of task '{name}' must be a non-empty list of "
                f"non-empty strings. Received: labels={labels!r}"
            )
        duplicates = sorted({x for x in labels if labels.count(x) > 1})
        if duplicates:
            raise ValueError(
                f"`labels` of task '{name}' must be unique. Received "
                f"duplicates: {duplicates}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"`activation` of task '{name}' must be one of {ACTIVATIONS}. "
                f"Received: activation={activation!r}"
            )
        if activation == "softmax" and len(labels) < 2:
            raise ValueError(
                f"A softmax task needs at least 2 labels; task '{name}' "
                f"received labels={labels!r}"
            )
        if from_logits is not None and not isinstance(from_logits, (bool, np.bool_)):
            raise ValueError(
                f"`from_logits` of task '{name}' must be a bool or None. "
                f"Received: from_logits={from_logits!r}"
            )
        self.name = name
        self.labels = labels
        self.activation = activation
        self.from_logits = None if from_logits is None else bool(from_logits)

    @property
    def num_labels(self):
        return len(self.labels)

    def get_config(self):
        return {
            "name": self.name,
            "labels": list(self.labels),
            "activation": self.activation,
            "from_logits": self.from_logits,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_any(cls, value, index=0):
        """Returns a `LabelTask` from a `LabelTask` or a config dict."""
        if isinstance(value, LabelTask):
            return value
        if isinstance(value, dict):
            return cls(**value)
        raise ValueError(
            f"`tasks[{index}]` must be a `keras_dfka.LabelTask` or a dict with keys "
            f"name, labels, activation. Received: {value!r}"
        )

    def __repr__(self):
        return (
            f"LabelTask(name={self.name!r}, labels={self.labels!r}, "
            f"activation={self.activation!r}, from_logits={self.from_logits!r})"
        )

    def __eq__(self, other):
        return isinstance(other, LabelTask) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((self.name, tuple(self.labels), self.activation))


# Files and configs written before the class was renamed name it "Task".
keras.saving.get_custom_objects().setdefault("keras_dfka>Task", LabelTask)
