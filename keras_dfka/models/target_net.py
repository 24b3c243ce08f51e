"""`TargetNet`: the regrouped multi-branch student (paper Sec. 3.2, Fig. 2)."""

import re

import keras
import numpy as np
from keras import ops

from keras_dfka.models.label_plan import LabelPlan
from keras_dfka.models.label_plan import TargetLabel
from keras_dfka.utils.model_utils import as_list


def _copy_layer(layer, name):
    """A new layer with `layer`'s configuration (weights are set after use)."""
    if isinstance(layer, keras.Model):
        copy = keras.models.clone_model(layer)
        copy.name = name
        return copy
    return layer.__class__.from_config(dict(layer.get_config(), name=name))


# A TargetNet is built from Keras's own layers only, so that a saved one
# loads with plain `keras.saving.load_model` where keras-dfka is not
# installed. Its label plan lives in the names of the layers that select each
# target label: `label.<position>.<teacher>.<task>.<index>.<activation>.
# <task name>.<label name>`. Layer names may hold only letters, digits and
# `_.>-` (TensorFlow's name scopes), so in the two names every other
# character is written `-XX`, the hex of each of its UTF-8 bytes.
LABEL_LAYER_PREFIX = "label."
# How far outside [0, 1] an input value may be (rounding of a resize or a
# conversion) before `TargetNet.check_images` refuses the images.
IMAGE_RANGE_TOLERANCE = 1e-3


def _quote(text):
    return "".join(
        c
        if c.isascii() and (c.isalnum() or c == "_")
        else "".join(f"-{b:02X}" for b in c.encode("utf-8"))
        for c in text
    )


def _unquote(text):
    return re.sub(
        r"(?:-[0-9A-F]{2})+",
        lambda m: bytes.fromhex(m.group(0).replace("-", "")).decode("utf-8"),
        text,
    )


def label_layer_name(label, position):
    """The name of the layer that selects target label `label` (a
    `TargetLabel`), the `position`-th of the user's target labels."""
    return LABEL_LAYER_PREFIX + ".".join(
        [
            str(position),
            str(label.teacher),
            str(label.task),
            str(label.index),
            label.activation,
            _quote(label.task_name),
            _quote(label.name),
        ]
    )


def parse_label_layer_name(name):
    """`(position, TargetLabel)` from a `label_layer_name`, or None for a
    name of another layer."""
    if not name.startswith(LABEL_LAYER_PREFIX):
        return None
    parts = name[len(LABEL_LAYER_PREFIX) :].split(".")
    if len(parts) != 7:
        return None
    position, teacher, task, index, activation, task_name, label_name = parts
    label_name = _unquote(label_name)
    return int(position), TargetLabel(
        name=label_name,
        label=label_name.rsplit("/", 1)[-1],
        teacher=int(teacher),
        task=int(task),
        task_name=_unquote(task_name),
        index=int(index),
        activation=activation,
    )


def filter_as_layers(feature_filter, x, name):
    """Applies a copy of `feature_filter` (a built `FeatureFilter`) to `x`
    with Keras's own layers (`Resizing`, `Conv2D` or `Dense`, and the gate
    as `GlobalAveragePooling2D`, two `Dense`, `Activation("sigmoid")`,
    `Rescaling(2.0)` and `Multiply`): the same computation, loadable without
    keras-dfka. Returns the output tensor."""
    if feature_filter.resize is not None:
        height, width = feature_filter.target_shape[:2]
        x = keras.layers.Resizing(
            height, width, interpolation="bilinear", name=f"{name}_resize"
        )(x)
    copies = []
    if feature_filter.projection is not None:
        projection = _copy_layer(feature_filter.projection, f"{name}_projection")
        x = projection(x)
        copies.append((projection, feature_filter.projection))
    if feature_filter.gate:
        image_like = len(feature_filter.target_shape) == 3
        pooled = (
            keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
            if image_like
            else x
        )
        squeeze = _copy_layer(feature_filter.squeeze, f"{name}_squeeze")
        excite = _copy_layer(feature_filter.excite, f"{name}_excite")
        gate = keras.layers.Activation("sigmoid", name=f"{name}_sigmoid")(
            excite(squeeze(pooled))
        )
        gate = keras.layers.Rescaling(2.0, name=f"{name}_gate")(gate)
        if image_like:
            channels = feature_filter.target_shape[-1]
            gate = keras.layers.Reshape((1, 1, channels), name=f"{name}_expand")(gate)
        x = keras.layers.Multiply(name=name)([x, gate])
        copies += [(squeeze, feature_filter.squeeze), (excite, feature_filter.excite)]
    for copy, source in copies:
        copy.set_weights(source.get_weights())
    return x


def select_as_layers(task_output, labels, target_labels, from_logits):
    """The task-level filter `g_m` with Keras's own layers: probabilities of
    one task output (`Activation`, when it holds logits), then each label
    of `labels` (the task's `TargetLabel`s, in the user's order) cut out
    with `Cropping1D` in a layer named by `label_layer_name`, and joined
    into one output named after the task. Returns the output tensor."""
    task_name = labels[0].task_name
    activation = labels[0].activation
    x = keras.layers.Activation(
        activation if from_logits else "linear",
        name=f"{_quote(task_name)}.{activation}",
    )(task_output)
    classes = x.shape[-1]
    x = keras.layers.Reshape((classes, 1), name=f"{_quote(task_name)}.columns")(x)
    columns = [
        keras.layers.Cropping1D(
            (r.index, classes - 1 - r.index),
            name=label_layer_name(r, target_labels.index(r.name)),
        )(x)
        for r in labels
    ]
    if len(columns) > 1:
        x = keras.layers.Concatenate(axis=1, name=f"{_quote(task_name)}.join")(columns)
    else:
        x = columns[0]
    return keras.layers.Reshape((len(labels),), name=task_name)(x)


def label_plan_of(model):
    """The `LabelPlan` a TargetNet's layer names carry (None if it has no
    label layers: not a TargetNet, or one saved before they existed)."""
    found = [parse_label_layer_name(layer.name) for layer in model.layers]
    found = sorted(f for f in found if f is not None)
    if not found:
        return None
    return LabelPlan.from_labels([label for _, label in found])


@keras.saving.register_keras_serializable(package="keras_dfka")
class TargetNet(keras.Model):
    """The final multi-branch student: a shared trunk and one branch per teacher.

    ```
    image -> T^1 .. T^B (shared trunk)
          -> for each teacher m with target labels:
               f_m^{B+1} -> teacher m's head (copied weights) -> g_m
          -> {task name: probabilities of its target labels, user order}
    ```

    It is a functional `keras.Model` (dict outputs keyed by task name) made
    of Keras's own layers only, sharing no variables with the trainers. Its
    label plan (`keras_dfka.models.label_plan.LabelPlan`: label names, tasks,
    activations, the user's order) is carried in the names of the layers
    that select each label. `save()` writes a plain functional model, so a
    saved TargetNet loads with `keras.saving.load_model` where keras-dfka is
    not installed (outputs keyed by task, label names in
    `keras_dfka.models.target_net.label_plan_of`'s layer names);
    `TargetNet.load(path)` (or `TargetNet.from_model(model)`) brings back the
    label helpers. Files saved by keras-dfka 0.2 (class `TargetNet`, with the
    `FeatureFilter` and `LabelSelect` layers) still load with keras-dfka
    imported.

    Build it with `TargetNet.from_dual(dual)`. `predict_labels(x)` returns one
    `(batch, len(target_labels))` array in the user's order.

    Args:
        inputs, outputs, name: as for a functional `keras.Model`.
        label_plan: the `LabelPlan` of the target labels (or its config).

    Example:

    ```python
    target = keras_dfka.TargetNet.from_dual(dual)
    target.save("target.keras")
    probabilities = target.predict_labels(images)  # (n, len(target_labels))

    # Where keras-dfka is not installed:
    model = keras.saving.load_model("target.keras")
    outputs = model.predict(images)  # {task name: (n, labels of the task)}
    # With keras-dfka:
    target = keras_dfka.TargetNet.load("target.keras")
    ```

    Reference:
        Ye et al., "Data-Free Knowledge Amalgamation via Group-Stack
        Dual-GAN", CVPR 2020, Sec. 3.2.
    """

    def __init__(self, inputs, outputs, name=None, **kwargs):
        label_plan = kwargs.pop("label_plan", None)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        if isinstance(label_plan, dict):
            label_plan = LabelPlan.from_config(label_plan)
        # None e.g. after `keras.models.clone_model`: no label helpers then.
        self.label_plan = label_plan

    def _plan(self):
        if self.label_plan is None:
            raise ValueError(
                f"TargetNet '{self.name}' has no `label_plan`; build it with "
                "`TargetNet.from_dual(dual)`."
            )
        return self.label_plan

    @property
    def target_labels(self):
        """The target label names, in the order of `predict_labels`."""
        return self._plan().target_labels

    @property
    def task_names(self):
        """The names of the outputs (one per task with target labels)."""
        return self._plan().task_names

    @property
    def columns(self):
        """For each target label, `(task name, position in that output)`."""
        return self._plan().columns

    @property
    def activations(self):
        """`{task name: "sigmoid" or "softmax"}`."""
        return self._plan().activations

    @classmethod
    def from_dual(cls, dual, name="target_net"):
        """Regroups a trained `DualGenerator` into a `TargetNet`.

        Args:
            dual: a trained `keras_dfka.DualGenerator`.
            name: the model's name.

        Returns:
            A `TargetNet` whose weights are copies of the dual's trunk and
            filters and of the teachers' heads (their fine-tuned copies with
            `DualGenerator(fine_tune_heads=True)`).
        """
        from keras_dfka.trainers.dual_generator import DualGenerator

        if not isinstance(dual, DualGenerator):
            raise ValueError(
                "`dual` must be a `keras_dfka.DualGenerator`. Received: "
                f"{type(dual).__name__}"
            )
        image = keras.Input(dual.level_shapes[0], name="image")
        x = image
        for b, block in enumerate(dual.student_blocks, start=1):
            copy = _copy_layer(block, name=f"trunk_block_{b}")
            x = copy(x)
            copy.set_weights(block.get_weights())
        level = dual.num_blocks + 1
        outputs = {}
        for m in dual.active_teachers:
            teacher = dual.teachers[m]
            h = filter_as_layers(
                dual.filters[m][level - 2], x, f"branch_{teacher.name}_filter"
            )
            head = keras.models.clone_model(teacher.head)
            head.name = f"branch_{teacher.name}_head"
            head_outputs = as_list(head(h))
            head.set_weights(dual.branch_head(m).get_weights())
            for group in dual.label_plan.groups_of(m):
                task = teacher.tasks[group.task]
                outputs[task.name] = select_as_layers(
                    head_outputs[group.task],
                    [r for r in dual.label_plan.labels if r.task_name == task.name],
                    dual.label_plan.target_labels,
                    from_logits=teacher.task_from_logits(task),
                )
        return cls(inputs=image, outputs=outputs, name=name, label_plan=dual.label_plan)

    @classmethod
    def from_model(cls, model, name=None):
        """A `TargetNet` on the layers of `model`, a saved TargetNet loaded
        with `keras.saving.load_model` (a plain functional model whose layer
        names carry the label plan). Shares `model`'s layers and weights.

        Args:
            model: a functional `keras.Model` saved by `TargetNet.save`.
            name: the model's name (default: `model.name`).

        Returns:
            A `TargetNet`.
        """
        if isinstance(model, TargetNet):
            return model
        plan = label_plan_of(model) if isinstance(model, keras.Model) else None
        if plan is None:
            raise ValueError(
                "`model` must be a TargetNet saved by keras-dfka (a functional "
                "model whose layers `label....` carry its label names). "
                f"Received: {type(model).__name__} {getattr(model, 'name', '')!r}"
            )
        return cls(
            inputs=model.inputs[0],
            outputs=dict(zip(model.output_names, model.outputs)),
            name=name or model.name,
            label_plan=plan,
        )

    @classmethod
    def load(cls, filepath, **kwargs):
        """Loads a `.keras` TargetNet, of this release (a plain functional
        model) or of keras-dfka 0.2 (class `TargetNet`).

        Args:
            filepath: the `.keras` file.
            **kwargs: passed to `keras.saving.load_model` (e.g.
                `compile=False`).

        Returns:
            A `TargetNet`.
        """
        return cls.from_model(keras.saving.load_model(filepath, **kwargs))

    def to_functional(self):
        """A plain functional `keras.Model` on this TargetNet's layers
        (shared weights): what `save()` writes."""
        return keras.Model(
            inputs=self.inputs[0],
            outputs=dict(zip(self.output_names, self.outputs)),
            name=self.name,
        )

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Saves as a plain functional model (`to_functional()`), which
        `keras.saving.load_model` loads without keras-dfka;
        `TargetNet.load(filepath)` restores the label helpers. A TargetNet
        of 0.2 files (with its `FeatureFilter` and `LabelSelect` layers)
        is saved as it is, as `TargetNet`."""
        if label_plan_of(self) is None:
            return super().save(filepath, overwrite=overwrite, zipped=zipped, **kwargs)
        return self.to_functional().save(
            filepath, overwrite=overwrite, zipped=zipped, **kwargs
        )

    def labels_from_outputs(self, outputs):
        """Stacks a dict of task outputs into `(batch, len(target_labels))`."""
        return np.stack(
            [
                np.asarray(ops.convert_to_numpy(outputs[t]))[:, i]
                for t, i in self.columns
            ],
            axis=-1,
        )

    def check_images(self, x):
        """Raises a `ValueError` unless `x` is a batch of images this
        TargetNet takes: its input's height, width and channels, values in
        `[0, 1]` (the range the generator and the student were trained on;
        the teachers' own input range is applied inside). 0..255 images, or
        images of another size, would be scored silently wrong.

        Args:
            x: an array or tensor of images `(n, height, width, channels)`.

        Returns:
            `x`, unchanged.
        """
        shape = tuple(ops.shape(x))
        expected = tuple(self.inputs[0].shape[1:])
        if len(shape) != len(expected) + 1 or tuple(shape[1:]) != expected:
            raise ValueError(
                f"TargetNet '{self.name}' takes images of shape (n, "
                f"{', '.join(str(d) for d in expected)}). Received: images of "
                f"shape {shape}; resize them first."
            )
        if shape[0]:
            values = ops.convert_to_numpy(x)
            low, high = float(np.min(values)), float(np.max(values))
            if low < -IMAGE_RANGE_TOLERANCE or high > 1.0 + IMAGE_RANGE_TOLERANCE:
                hint = " (divide 0..255 images by 255)" if high > 2.0 else ""
                raise ValueError(
                    f"TargetNet '{self.name}' takes images with values in "
                    f"[0, 1]{hint}. Received: values in [{low:g}, {high:g}]"
                )
        return x

    def predict_labels(self, x, batch_size=128, verbose=0):
        """Probabilities of every target label, `(n, len(target_labels))`.

        Args:
            x: images `(n, height, width, channels)` in `[0, 1]` (checked by
                `check_images`: another size or range raises a `ValueError`).
            batch_size: int.
            verbose: passed to `predict()`.

        Returns:
            A numpy float32 array, columns in the order of `target_labels`.
        """
        self.check_images(x)
        return self.labels_from_outputs(
            self.predict(x, batch_size=batch_size, verbose=verbose)
        )

    def get_config(self):
        config = super().get_config()
        config["label_plan"] = (
            None if self.label_plan is None else self.label_plan.get_config()
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "label_spec" in config:  # Saved before label plans.
            label_plan = _plan_from_label_spec(config.pop("label_spec"))
        else:
            label_plan = config.pop("label_plan")
        model = _FunctionalTargetNet.from_config(config, custom_objects=custom_objects)
        return cls(
            inputs=model.inputs[0],
            outputs=model.outputs_dict,
            name=config.get("name"),
            label_plan=label_plan,
        )


def _plan_from_label_spec(spec):
    """The `LabelPlan` of a TargetNet config saved before label plans.

    Such a config holds the label names, each label's output and position,
    and each output's activation, not the teachers' indices: the plan numbers
    the outputs in order as if each came from its own teacher.
    """
    order = list(spec["activations"])
    return LabelPlan.from_labels(
        [
            TargetLabel(
                name=name,
                label=name.rsplit("/", 1)[-1],
                teacher=order.index(task),
                task=0,
                task_name=task,
                index=position,
                activation=spec["activations"][task],
            )
            for name, (task, position) in zip(spec["target_labels"], spec["columns"])
        ]
    )


class _FunctionalTargetNet(keras.Model):
    """Revives the functional graph of a saved `TargetNet`: a subclass
    without a constructor of its own, so `keras.Model.from_config` revives
    it as a functional model (`TargetNet`'s constructor takes its label
    plan, so Keras would call it with the config's keys instead)."""

    @property
    def outputs_dict(self):
        return dict(zip(self.output_names, self.outputs))
