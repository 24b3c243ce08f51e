"""`Teacher`: a frozen, block-cut view of a user's pre-trained classifier.

Over 500 lines: one class with the checks of everything its constructor is
given (the user's model, blocks, tasks, priors, output declarations), each
a `_validate_*` helper, kept beside the constructor that runs them.
"""

import keras
import numpy as np
from keras import ops

from keras_dfka.models.label_task import LabelTask
from keras_dfka.models.model_graph import PATH_SEPARATOR
from keras_dfka.models.model_graph import flatten_model
from keras_dfka.models.model_graph import has_nested_models
from keras_dfka.models.model_graph import uncompiled_copy
from keras_dfka.utils.keras_internals import call_count
from keras_dfka.utils.keras_internals import producing_layer
from keras_dfka.utils.non_finite import non_finite_weights
from keras_dfka.utils.validation import check_bool
from keras_dfka.utils.validation import check_float

# The probe batch that checks outputs declared as probabilities.
_PROBE_BATCH = 4
_PROBE_TOLERANCE = 1e-5
_PROBABILITY_ACTIVATIONS = ("sigmoid", "softmax", "hard_sigmoid")


def _shape_tuple(tensor):
    return tuple(tensor.shape[1:])


def _validate_model(model):
    """Refuses anything but a functional model with one input."""
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


def _validate_input_range(input_range):
    """`(low, high)` as floats, with `high > low`."""
    if isinstance(input_range, (str, dict)) or len(input_range) != 2:
        raise ValueError(
            "`input_range` must be (low, high) with high > low. "
            f"Received: input_range={input_range!r}"
        )
    low = check_float(input_range[0], "input_range[0]")
    high = check_float(input_range[1], "input_range[1]")
    if not high > low:
        raise ValueError(
            "`input_range` must be (low, high) with high > low. "
            f"Received: input_range={input_range!r}"
        )
    return (low, high)


def _final_activation(layer):
    """`"sigmoid"` or `"softmax"` (or `"hard_sigmoid"`) if `layer` ends in
    that activation (its `activation` argument, an `Activation` layer, or a
    `Softmax` layer), else None."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", None)
    if isinstance(activation, str):
        name = activation
    return name if name in _PROBABILITY_ACTIVATIONS else None


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
            in the order the image flows through them. Each must be a layer
            of `model` called once, and no connection may skip across a
            block boundary. `keras_dfka.propose_blocks(model)` proposes the
            ends of the model's stages.
            Nested models (a functional or Sequential model called as a
            layer, e.g. a `keras.applications` model) are inlined into one
            flat graph (fresh copies of their layers, weights copied, each
            called once), so a block may name a layer inside one: by its
            own name (e.g. `"block_6_expand_relu"`), or by its path
            `"<nested model name>/<layer name>"` (needed only when a layer
            outside has the same name: the inner copy is then named
            `"<nested model name>_<layer name>"`). `teacher.blocks` holds the
            names in the flat graph, which `teacher.model` is.
        tasks: list of `keras_dfka.LabelTask` (or dicts of their arguments), one
            per model output, in the model's output order. Omit it for a
            single-output model and give `labels` and `activation` instead.
        labels: list of label names, for a single-output model.
        activation: `"sigmoid"` or `"softmax"`, for a single-output model.
        from_logits: bool, whether the outputs are logits (default `False`:
            the model outputs probabilities). A `LabelTask` may override it. The
            declaration is checked: outputs declared as logits must not come
            from a layer ending in a sigmoid or a softmax, and outputs
            declared as probabilities must stay in `[0, 1]` on a small probe
            batch of random images.
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
        _validate_model(model)
        super().__init__(name=name or model.name, trainable=False, **kwargs)
        self.from_logits = check_bool(from_logits, "from_logits")
        self.input_range = _validate_input_range(input_range)
        self.tasks = self._validate_tasks(model, tasks, labels, activation)
        self.label_priors = self._validate_label_priors(label_priors)
        blocks = self._validate_block_list(blocks)
        self._validate_finite_weights(model)
        # Nested models (e.g. a keras.applications model called as a layer)
        # are inlined into one flat graph, whose layers are fresh copies.
        flat, paths = flatten_model(model) if has_nested_models(model) else (None, {})
        self.blocks = self._validate_block_names(
            blocks, model if flat is None else flat, paths
        )
        self.source_config = {
            "blocks": self.blocks,
            "tasks": [t.get_config() for t in self.tasks],
            "from_logits": self.from_logits,
            "input_range": self.input_range,
            "label_priors": self.label_priors,
        }
        # A frozen copy; the user's model is left untouched.
        self.model = flat if flat is not None else uncompiled_copy(model)
        self.model.trainable = False
        boundaries = self._block_boundaries()
        self.level_shapes = [_shape_tuple(self.model.inputs[0])] + [
            _shape_tuple(t) for t in boundaries
        ]
        self.batch_norm_layers = [
            layer
            for layer in self.model.layers
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        # image -> (level 2..B+1 features, task outputs, BatchNorm inputs)
        self.image_model = keras.Model(
            self.model.inputs[0],
            [
                boundaries,
                list(self.model.outputs),
                [layer.input for layer in self.batch_norm_layers],
            ],
            name=f"{self.name}_image_pass",
        )
        # level l (2..B+1) -> task outputs
        self.level_models = self._level_models(boundaries)
        self._validate_output_declarations()
        self.built = True

    # ---------------------------------------------------------------- checks
    def _validate_tasks(self, model, tasks, labels, activation):
        """The `LabelTask`s of `tasks` (or of `labels` and `activation`),
        one per output of `model`, each as wide as its output."""
        outputs = model.outputs
        if tasks is None:
            if labels is None:
                raise ValueError(
                    f"Teacher '{self.name}': give either `tasks` or `labels`. "
                    "Received neither."
                )
            tasks = [LabelTask(self.name, labels, activation)]
        elif labels is not None:
            raise ValueError(
                f"Teacher '{self.name}': give either `tasks` or `labels`, not "
                f"both. Received tasks={tasks!r} and labels={labels!r}"
            )
        if isinstance(tasks, (LabelTask, dict)):
            tasks = [tasks]
        tasks = [LabelTask.from_any(t, i) for i, t in enumerate(tasks)]
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
        return tasks

    def _validate_label_priors(self, label_priors):
        """`label_priors` checked against the tasks (see the class doc)."""
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

    def _validate_block_list(self, blocks):
        """`blocks` as a list, refusing a string or an empty one."""
        if isinstance(blocks, str) or not blocks:
            raise ValueError(
                f"Teacher '{self.name}': `blocks` must be a non-empty list of "
                f"layer names. Received: blocks={blocks!r}"
            )
        return list(blocks)

    def _validate_finite_weights(self, model):
        bad = non_finite_weights(model)
        if bad:
            raise ValueError(
                f"Teacher '{self.name}': the model has non-finite weights (NaN or "
                f"infinity) in {len(bad)} variable(s): {bad[:5]}. A teacher must "
                "be a trained model with finite weights; check how it was "
                "trained or saved."
            )

    def _validate_block_names(self, blocks, source, paths):
        """The block layers' names in `source` (the model, or its flat
        graph, whose nested layers `paths` maps): each a layer of it, none
        repeated, in the order the image flows through them."""
        blocks = list(blocks)
        layer_names = [layer.name for layer in source.layers]
        for index, block in enumerate(blocks):
            if isinstance(block, str) and block not in layer_names and block in paths:
                blocks[index] = paths[block]
            elif not isinstance(block, str) or block not in layer_names:
                nested = (
                    " (layers of nested models by their own name or their path "
                    f"'<model>{PATH_SEPARATOR}<layer>')"
                    if paths
                    else ""
                )
                raise ValueError(
                    f"Teacher '{self.name}': `blocks` names layer {block!r}, "
                    f"which is not in the model. Available layers{nested}: "
                    f"{layer_names}"
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
        return blocks

    def _block_boundaries(self):
        """The output tensor of each block layer of `self.model`: a layer
        called once, with one output, that is not a model output."""
        boundaries = []
        output_ids = {id(t) for t in self.model.outputs}
        for block in self.blocks:
            layer = self.model.get_layer(block)
            if isinstance(layer, keras.layers.InputLayer):
                raise ValueError(
                    f"Teacher '{self.name}': block layer '{block}' is the model's "
                    "input layer; a block ends after at least one layer of the "
                    "model. Name the last layer of each block in `blocks` (see "
                    "`model.summary()`)."
                )
            if call_count(layer) != 1:
                raise ValueError(
                    f"Teacher '{self.name}': block layer '{block}' is called "
                    f"{call_count(layer)} times; a block boundary must "
                    "be a layer called once."
                )
            output = layer.output
            if isinstance(output, (list, tuple)):
                raise ValueError(
                    f"Teacher '{self.name}': block layer '{block}' must have "
                    "a single output tensor."
                )
            if id(output) in output_ids:
                raise ValueError(
                    f"Teacher '{self.name}': block layer '{block}' is an output "
                    "layer of the model; the last block must be followed by the "
                    "head (the layers from it to the outputs, at least the "
                    "output layer). Choose an earlier layer in `blocks`."
                )
            boundaries.append(output)
        return boundaries

    def _level_models(self, boundaries):
        """Per level `l` in `2..B+1`, the model from its features to the
        task outputs; refuses a cut that a skip connection crosses."""
        level_models = []
        for index, start in enumerate(boundaries):
            try:
                sub = keras.Model(
                    start,
                    list(self.model.outputs),
                    name=f"{self.name}_from_level_{index + 2}",
                )
            except Exception as error:  # Graph disconnected, etc.
                raise ValueError(
                    f"Teacher '{self.name}': cannot cut the model after block "
                    f"layer '{self.blocks[index]}': the layers after it need "
                    "tensors from before it (a skip connection crosses the "
                    f"block boundary). Choose other `blocks`. ({error})"
                ) from None
            level_models.append(sub)
        return level_models

    def _validate_output_declarations(self):
        """Refuses outputs whose declaration (logits or probabilities)
        contradicts the model: logits from a layer ending in a sigmoid or a
        softmax, or probabilities outside [0, 1] on a probe batch."""
        for task, output in zip(self.tasks, self.model.outputs):
            if not self.task_from_logits(task):
                continue
            layer = producing_layer(output)
            activation = _final_activation(layer)
            if activation is not None:
                raise ValueError(
                    f"Teacher '{self.name}': task '{task.name}' is declared as "
                    "logits (from_logits=True), but the model's output layer "
                    f"'{layer.name}' ends in a {activation} activation, so its "
                    "outputs are already probabilities. Declare them as "
                    "probabilities: from_logits=False (Teacher(..., "
                    "from_logits=False) or LabelTask(..., from_logits=False); on the "
                    "command line, leave out --from-logits or end the task with "
                    "':probabilities' in --tasks)."
                )
        declared = [not self.task_from_logits(t) for t in self.tasks]
        shape = self.level_shapes[0]
        if not any(declared) or any(d is None for d in shape):
            return
        rng = np.random.default_rng(0)
        probe = rng.uniform(size=(_PROBE_BATCH,) + tuple(shape)).astype("float32")
        outputs = self.model(self.preprocess(probe), training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        for task, output, probabilities in zip(self.tasks, outputs, declared):
            values = np.asarray(ops.convert_to_numpy(output), dtype="float64")
            if not np.all(np.isfinite(values)):
                raise ValueError(
                    f"Teacher '{self.name}': task '{task.name}' outputs NaN or "
                    f"infinite values on a probe batch of {_PROBE_BATCH} random "
                    "images; a teacher must give finite outputs."
                )
            low, high = float(values.min()), float(values.max())
            outside = low < -_PROBE_TOLERANCE or high > 1 + _PROBE_TOLERANCE
            if probabilities and outside:
                raise ValueError(
                    f"Teacher '{self.name}': task '{task.name}' is declared as "
                    "probabilities (from_logits=False), but on a probe batch of "
                    f"{_PROBE_BATCH} random images the model outputs values in "
                    f"[{low:.4g}, {high:.4g}], outside [0, 1]: they are logits. "
                    "Declare them as logits: from_logits=True (Teacher(..., "
                    "from_logits=True) or LabelTask(..., from_logits=True); on the "
                    "command line --from-logits, or end the task with ':logits' "
                    "in --tasks)."
                )

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
        config["tasks"] = [LabelTask.from_config(t) for t in config["tasks"]]
        config.pop("dtype", None)
        return cls(**config)
