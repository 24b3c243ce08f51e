"""`LabelSelect`: the task-level filter `g_m` (paper Eq. 13)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_dfka")
class LabelSelect(keras.layers.Layer):
    """Turns one task output into probabilities and keeps chosen labels.

    Pseudocode:

    ```
    p = softmax(x) or sigmoid(x)   # only if from_logits
    return p[:, indices]
    ```

    A softmax task's probabilities are computed over all its classes before
    the selection, so the kept values are the teacher's class probabilities.

    Args:
        indices: list of int, the positions of the kept labels, in the order
            they should appear.
        activation: `"sigmoid"` or `"softmax"`.
        from_logits: bool, whether the input holds logits.
        labels: optional list of the kept label names (carried in the config).
        **kwargs: standard layer arguments.

    Example:

    ```python
    select = keras_dfka.layers.LabelSelect([2, 0], "sigmoid", from_logits=True)
    select(keras.ops.zeros((1, 3)))  # [[0.5, 0.5]]
    ```
    """

    def __init__(
        self, indices, activation="sigmoid", from_logits=False, labels=None, **kwargs
    ):
        super().__init__(**kwargs)
        indices = [int(i) for i in indices]
        if not indices or min(indices) < 0:
            raise ValueError(
                "`indices` must be a non-empty list of non-negative integers. "
                f"Received: indices={indices}"
            )
        if activation not in ("sigmoid", "softmax"):
            raise ValueError(
                "`activation` must be 'sigmoid' or 'softmax'. "
                f"Received: activation={activation!r}"
            )
        if labels is not None and len(labels) != len(indices):
            raise ValueError(
                "`labels` must name each selected index. Received "
                f"{len(labels)} labels for {len(indices)} indices."
            )
        self.indices = indices
        self.activation = activation
        self.from_logits = bool(from_logits)
        self.labels = None if labels is None else list(labels)

    def build(self, input_shape):
        width = input_shape[-1]
        if width is not None and max(self.indices) >= width:
            raise ValueError(
                f"LabelSelect '{self.name}': `indices` must be < the input width "
                f"{width}. Received: indices={self.indices}"
            )
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.from_logits:
            x = (
                ops.softmax(x, axis=-1)
                if self.activation == "softmax"
                else (ops.sigmoid(x))
            )
        return ops.take(x, self.indices, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (len(self.indices),)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "indices": self.indices,
                "activation": self.activation,
                "from_logits": self.from_logits,
                "labels": self.labels,
            }
        )
        return config
