"""Small CNN classifiers for examples, tests and benchmarks."""

import keras
from keras import layers

from keras_dfka.models.label_task import LabelTask


def small_cnn(
    input_shape,
    tasks,
    widths=(16, 32, 64),
    convs_per_block=1,
    from_logits=False,
    dropout=0.0,
    name="teacher",
):
    """A VGG-style CNN with `len(widths)` blocks and one output per task.

    Block `b` is `Conv3x3 + BatchNorm + ReLU` (`convs_per_block` times) then
    `MaxPool 2x2`; its
    last layer is named `f"{name}_block{b}"` so that the model can be cut
    with `keras_dfka.Teacher(model, blocks=block_names(model))`. The head is
    global average pooling (plus optional dropout) and one dense output per
    task, with the task's activation unless `from_logits`.

    Args:
        input_shape: `(height, width, channels)`.
        tasks: list of `keras_dfka.LabelTask` (or dicts).
        widths: the channel widths of the blocks.
        convs_per_block: int >= 1, convolutions per block.
        from_logits: bool, whether the outputs are left as logits.
        dropout: float, dropout rate before the outputs.
        name: the model's name and the prefix of its layer names.

    Returns:
        A functional `keras.Model` with one output per task (a single tensor
        when there is one task).

    Example:

    ```python
    model = keras_dfka.models.teacher_zoo.small_cnn(
        (32, 32, 3), [keras_dfka.LabelTask("attrs", ["a", "b"])], widths=(8, 16))
    keras_dfka.models.teacher_zoo.block_names(model)  # ['teacher_block1', ...]
    ```
    """
    tasks = [LabelTask.from_any(t, i) for i, t in enumerate(tasks)]
    inputs = keras.Input(input_shape, name=f"{name}_image")
    x = inputs
    for b, width in enumerate(widths, start=1):
        for c in range(1, convs_per_block + 1):
            x = layers.Conv2D(
                width, 3, padding="same", use_bias=False, name=f"{name}_b{b}_conv{c}"
            )(x)
            x = layers.BatchNormalization(name=f"{name}_b{b}_bn{c}")(x)
            x = layers.ReLU(name=f"{name}_b{b}_relu{c}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_block{b}")(x)
    x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    outputs = [
        layers.Dense(
            task.num_labels,
            activation=None if from_logits else task.activation,
            name=f"{name}_{task.name}",
        )(x)
        for task in tasks
    ]
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=name)


def block_names(model):
    """The block-ending layer names of a `small_cnn` model, in order."""
    prefix = f"{model.name}_block"
    return [layer.name for layer in model.layers if layer.name.startswith(prefix)]


def lenet5(input_shape=(28, 28, 1), num_classes=10, width=1.0, name="lenet5"):
    """A LeNet-5 style softmax classifier with 2 blocks and a dense head.

    Blocks: `Conv5x5(6w) + BatchNorm + ReLU + MaxPool` and
    `Conv5x5(16w) + BatchNorm + ReLU + MaxPool` ("same" padding, so 28x28
    gives levels 14x14 and 7x7); head: flatten, dense 120w, dense 84w, dense
    `num_classes` with softmax. Block layers are named `f"{name}_block{b}"`.

    Args:
        input_shape: `(height, width, channels)`.
        num_classes: int.
        width: float, a multiplier of every width (0.5 is the classic
            half-width student).
        name: the model's name and layer prefix.

    Returns:
        A functional `keras.Model` with one softmax output.
    """
    inputs = keras.Input(input_shape, name=f"{name}_image")
    x = inputs
    for b, filters in enumerate((6, 16), start=1):
        x = layers.Conv2D(
            max(1, round(filters * width)), 5, padding="same", name=f"{name}_conv{b}"
        )(x)
        x = layers.BatchNormalization(name=f"{name}_bn{b}")(x)
        x = layers.ReLU(name=f"{name}_relu{b}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_block{b}")(x)
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(max(1, round(120 * width)), activation="relu", name=f"{name}_fc1")(
        x
    )
    x = layers.Dense(max(1, round(84 * width)), activation="relu", name=f"{name}_fc2")(
        x
    )
    outputs = layers.Dense(num_classes, activation="softmax", name=f"{name}_digit")(x)
    return keras.Model(inputs, outputs, name=name)
