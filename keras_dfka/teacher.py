"""`Teacher`: a frozen, block-cut view of a user's pre-trained classifier."""

import keras
from keras import ops

from keras_dfka.task import Task


def _shape_tuple(tensor):
    return tuple(tensor.shape[1:])


@keras.saving.register_keras_serializable(package="keras_dfka")
class Teacher(keras.layers.Layer):
    """A frozen pre-trained classifier, cut into `B` blocks and a head.

    The user's functional model is cloned (weights copied), so the user's model
    is never modified; the clone is frozen (`trainable = False`) and always
    called with `training=False`, so neither its weights nor its BatchNorm
    statistics change during amalgamation.

    Level `l` is the feature space entering block `l`: level 1 is the image,
    level `l + 1` is the output of the layer named `blocks[l - 1]`, and level
    `B + 1` enters the head (everything after the last block).

    Args:
        model: a functional `keras.Model` with one image input and one output
            per task (a single tensor, or a list of tensors).
        blocks: list of `B >= 1` layer names whose outputs end blocks `1..B`,
            in the order the image flows through them. Each must be a top-level
            layer of `model` called once, and no connection may skip across a
            block boundary.
        tasks: list of `keras_dfka.Task` (or dicts of their arguments), one
            per model output, in the model's output order. Omit it for a
            single-output model and give `labels` and `activation` instead.
        labels: list of label names, for a single-output model.
        activation: `"sigmoid"` or `"softmax"`, for a single-output model.
        from_logits: bool, whether the outputs are logits (default `False`:
            the model outputs probabilities). A `Task` may override it.
        input_range: `(low, high)`, the pixel range the model expects. The
            library's images are in `[0, 1]` and are mapped linearly to it.
        label_priors: optional dict `{label: frequency}` that the teacher's
            owner declares (e.g. the positive rate of each sigmoid label, or
            the class frequencies of a softmax task, in its training data).
            The information-entropy loss then matches these frequencies
            instead of a uniform split (beyond the paper). A softmax task's
            priors must be given for all or none of its classes.
        name: str, the teacher's name (default: the model's name).

    Example:

    ```python
    teacher = keras_dfka.Teacher(
        model, blocks=["block1", "block2", "block3"],
        labels=["Smiling", "Male"], activation="sigmoid")
    teacher.level_shapes  # [(64, 64, 3), (32, 32, 16), (16, 16, 32), ...]
    ```
    """

    def __init__(
        self,
        model,
        blocks,
        tasks=None,
        labels=None,
        activation="sigmoid",
        from_logits=False,
        input_range=(0.0, 1.0),
        label_priors=None,
        name=None,
        **kwargs,
    ):
        if not isinstance(model, keras.Model) or not hasattr(model, "inputs"):
            raise ValueError(
                f"`model` must be a functional `keras.Model`. Received: model={model!r}"
            )
        try:
            model_inputs = list(model.inputs)
        except (AttributeError, ValueError) as error:
            raise ValueError(
                "`model` must be a functional `keras.Model` (built from "
                f"`keras.Input`). Received a model without inputs: {error}"
            ) from None
        if len(model_inputs) != 1:
            raise ValueError(
                "`model` must have exactly one image input. "
                f"Received {len(model_inputs)} inputs."
            )
        super().__init__(name=name or model.name, trainable=False, **kwargs)
        self.from_logits = bool(from_logits)
        low, high = (float(v) for v in input_range)
        if not high > low:
            raise ValueError(
                "`input_range` must be (low, high) with high > low. "
                f"Received: input_range={input_range!r}"
            )
        self.input_range = (low, high)

        # Tasks.
        outputs = model.outputs
        if tasks is None:
            if labels is None:
                raise ValueError(
                    f"Teacher '{self.name}': give either `tasks` or `labels`. "
                    "Received neither."
                )
            tasks = [Task(self.name, labels, activation)]
        elif labels is not None:
            raise ValueError(
                f"Teacher '{self.name}': give either `tasks` or `labels`, not "
                f"both. Received tasks={tasks!r} and labels={labels!r}"
            )
        if isinstance(tasks, (Task, dict)):
            tasks = [tasks]
        tasks = [Task.from_any(t, i) for i, t in enumerate(tasks)]
        if len(tasks) != len(outputs):
            raise ValueError(
                f"Teacher '{self.name}': `tasks` must have one entry per model "
                f"output. The model has {len(outputs)} outputs; received "
                f"{len(tasks)} tasks: {[t.name for t in tasks]}"
            )
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(
                f"Teacher '{self.name}': task names must be unique. Received: {names}"
            )
        for task, output in zip(tasks, outputs):
            width = output.shape[-1]
            if len(output.shape) != 2 or width != task.num_labels:
                raise ValueError(
                    f"Teacher '{self.name}': task '{task.name}' has "
                    f"{task.num_labels} labels, but the matching model output "
                    f"has shape {tuple(output.shape)}; expected "
                    f"(batch, {task.num_labels})."
                )
        self.tasks = tasks
        self.label_priors = self._check_priors(label_priors)

        # Blocks.
        if isinstance(blocks, str) or not blocks:
            raise ValueError(
                f"Teacher '{self.name}': `blocks` must be a non-empty list of "
                f"layer names. Received: blocks={blocks!r}"
            )
        blocks = list(blocks)
        layer_names = [layer.name for layer in model.layers]
        for block in blocks:
            if block not in layer_names:
                raise ValueError(
                    f"Teacher '{self.name}': `blocks` names layer '{block}', "
                    f"which is not in the model. Available layers: {layer_names}"
                )
        if len(set(blocks)) != len(blocks):
            raise ValueError(
                f"Teacher '{self.name}': `blocks` must not repeat a layer. "
                f"Received: blocks={blocks}"
            )
        positions = [layer_names.index(b) for b in blocks]
        if positions != sorted(positions):
            raise ValueError(
                f"Teacher '{self.name}': `blocks` must be in the order the "
                f"image flows through them. Received: blocks={blocks}"
            )
        self.blocks = blocks
        self.source_config = {
            "blocks": blocks,
            "tasks": [t.get_config() for t in tasks],
            "from_logits": self.from_logits,
            "input_range": self.input_range,
            "label_priors": self.label_priors,
        }

        # Frozen clone; the user's model is left untouched.
        clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        clone.trainable = False
        self.model = clone
        image = clone.inputs[0]
        boundaries = []
        for block in blocks:
            layer = clone.get_layer(block)
            if len(layer._inbound_nodes) != 1:
                raise ValueError(
                    f"Teacher '{self.name}': block layer '{block}' is called "
                    f"{len(layer._inbound_nodes)} times; a block boundary must "
                    "be a layer called once."
                )
            output = layer.output
            if isinstance(output, (list, tuple)):
                raise ValueError(
                    f"Teacher '{self.name}': block layer '{block}' must have "
                    "a single output tensor."
                )
            boundaries.append(output)
        self.level_shapes = [_shape_tuple(image)] + [
            _shape_tuple(t) for t in boundaries
        ]
        self.batch_norm_layers = [
            layer
            for layer in clone.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        bn_inputs = [layer.input for layer in self.batch_norm_layers]
        # image -> (level 2..B+1 features, task outputs, BatchNorm inputs)
        self.image_model = keras.Model(
            image,
            [boundaries, list(clone.outputs), bn_inputs],
            name=f"{self.name}_image_pass",
        )
        # level l (2..B+1) -> task outputs
        self.level_models = []
        for index, start in enumerate(boundaries):
            try:
                sub = keras.Model(
                    start,
                    list(clone.outputs),
                    name=f"{self.name}_from_level_{index + 2}",
                )
            except Exception as error:  # Graph disconnected, etc.
                raise ValueError(
                    f"Teacher '{self.name}': cannot cut the model after block "
                    f"layer '{blocks[index]}': the layers after it need "
                    "tensors from before it (a skip connection crosses the "
                    f"block boundary). Choose other `blocks`. ({error})"
                ) from None
            self.level_models.append(sub)
        self.built = True

    def _check_priors(self, label_priors):
        if label_priors is None:
            return None
        if not isinstance(label_priors, dict):
            raise ValueError(
                f"Teacher '{self.name}': `label_priors` must be a dict "
                f"{{label: frequency}}. Received: {label_priors!r}"
            )
        known = set(self.label_names)
        priors = {}
        for label, value in label_priors.items():
            if label not in known:
                raise ValueError(
                    f"Teacher '{self.name}': `label_priors` names {label!r}, which "
                    f"is not one of its labels {sorted(known)}"
                )
            value = float(value)
            if not 0.0 < value < 1.0:
                raise ValueError(
                    f"Teacher '{self.name}': `label_priors[{label!r}]` must be in "
                    f"(0, 1). Received: {value}"
                )
            priors[label] = value
        for task in self.tasks:
            given = [label in priors for label in task.labels]
            if task.activation == "softmax" and any(given) and not all(given):
                raise ValueError(
                    f"Teacher '{self.name}': `label_priors` must cover all or none "
                    f"of softmax task '{task.name}'s classes {task.labels}"
                )
        return priors

    def task_priors(self):
        """Per task: `None`, or the list of priors (0.5 where undeclared)."""
        out = []
        for task in self.tasks:
            if not self.label_priors or not any(
                label in self.label_priors for label in task.labels
            ):
                out.append(None)
                continue
            default = 0.5 if task.activation == "sigmoid" else None
            out.append([self.label_priors.get(label, default) for label in task.labels])
        return out

    @property
    def num_blocks(self):
        return len(self.blocks)

    @property
    def head(self):
        """The model from level `B + 1` to the task outputs."""
        return self.level_models[-1]

    @property
    def label_names(self):
        return [label for task in self.tasks for label in task.labels]

    def task_from_logits(self, task):
        return self.from_logits if task.from_logits is None else task.from_logits

    def to_probabilities(self, outputs):
        """Applies each task's activation where the outputs are logits."""
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        if len(outputs) != len(self.tasks):
            raise ValueError(
                f"Teacher '{self.name}' expected {len(self.tasks)} outputs, "
                f"received {len(outputs)}."
            )
        probabilities = []
        for task, output in zip(self.tasks, outputs):
            output = ops.cast(output, "float32")
            if self.task_from_logits(task):
                if task.activation == "softmax":
                    output = ops.softmax(output, axis=-1)
                else:
                    output = ops.sigmoid(output)
            probabilities.append(output)
        return probabilities

    def preprocess(self, images):
        low, high = self.input_range
        if (low, high) == (0.0, 1.0):
            return images
        return low + (high - low) * images

    def image_pass(self, images):
        """Runs the whole teacher on images in `[0, 1]`.

        Returns:
            `(probabilities, features, batch_norm_inputs)`: a list of per-task
            probabilities, the list of level `2..B+1` features, and the inputs
            of every BatchNorm layer of the teacher.
        """
        features, outputs, bn_inputs = self.image_model(
            self.preprocess(images), training=False
        )
        features = features if isinstance(features, (list, tuple)) else [features]
        if not isinstance(bn_inputs, (list, tuple)):
            bn_inputs = [bn_inputs]
        return self.to_probabilities(outputs), list(features), list(bn_inputs)

    def from_level(self, features, level):
        """Runs blocks `level..B` and the head on level-`level` features.

        Args:
            features: a tensor in this teacher's level-`level` space.
            level: int in `1..B+1`.

        Returns:
            The list of per-task probabilities.
        """
        if isinstance(level, bool) or not 1 <= int(level) <= self.num_blocks + 1:
            raise ValueError(
                f"Teacher '{self.name}': `level` must be in 1..{self.num_blocks + 1}. "
                f"Received: level={level!r}"
            )
        if level == 1:
            return self.image_pass(features)[0]
        outputs = self.level_models[level - 2](features, training=False)
        return self.to_probabilities(outputs)

    def call(self, images, training=False):
        return self.image_pass(images)[0]

    def get_config(self):
        config = super().get_config()
        config.update(self.source_config)
        config["model"] = keras.saving.serialize_keras_object(self.model)
        config.pop("trainable", None)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        config["tasks"] = [Task.from_config(t) for t in config["tasks"]]
        config.pop("dtype", None)
        return cls(**config)
