"""`TargetNet`: the regrouped multi-branch student (paper Sec. 3.2, Fig. 2)."""

import keras
import numpy as np
from keras import ops

from keras_dfka.layers.feature_filter import FeatureFilter
from keras_dfka.layers.label_select import LabelSelect


def _copy_layer(layer, name):
    """A new layer with `layer`'s configuration (weights are set after use)."""
    if isinstance(layer, keras.Model):
        copy = keras.models.clone_model(layer)
        copy.name = name
        return copy
    return layer.__class__.from_config(dict(layer.get_config(), name=name))


@keras.saving.register_keras_serializable(package="keras_dfka")
class TargetNet(keras.Model):
    """The final multi-branch student: a shared trunk and one branch per teacher.

    ```
    image -> T^1 .. T^B (shared trunk)
          -> for each teacher m with target labels:
               f_m^{B+1} -> teacher m's head (copied weights) -> g_m
          -> {task name: probabilities of its target labels, user order}
    ```

    It is a plain functional `keras.Model` (dict outputs keyed by task name)
    that carries its label names and activations in its config, shares no
    variables with the trainers, and saves and loads as `.keras` with only
    `keras_dfka` imported (for its two small layers), not the trainer classes.

    Build it with `TargetNet.from_dual(dual)`. `predict_labels(x)` returns one
    `(batch, len(target_labels))` array in the user's order.

    Args:
        inputs, outputs, name: as for a functional `keras.Model`.
        label_spec: dict with `target_labels` (list of names, user order) and
            `columns` (for each target label, `[task name, position in that
            task's output]`) and `activations` ({task name: activation}).

    Example:

    ```python
    target = keras_dfka.TargetNet.from_dual(dual)
    target.save("target.keras")
    probabilities = target.predict_labels(images)  # (n, len(target_labels))
    ```

    Reference:
        Ye et al., "Data-Free Knowledge Amalgamation via Group-Stack
        Dual-GAN", CVPR 2020, Sec. 3.2.
    """

    def __init__(self, inputs, outputs, name=None, **kwargs):
        label_spec = kwargs.pop("label_spec", None)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        if label_spec is None:
            # e.g. `keras.models.clone_model`; label helpers are unavailable.
            self.label_spec = None
            return
        self.label_spec = {
            "target_labels": list(label_spec["target_labels"]),
            "columns": [list(c) for c in label_spec["columns"]],
            "activations": dict(label_spec["activations"]),
        }

    def _spec(self):
        if self.label_spec is None:
            raise ValueError(
                f"TargetNet '{self.name}' has no `label_spec`; build it with "
                "`TargetNet.from_dual(dual)`."
            )
        return self.label_spec

    @property
    def target_labels(self):
        return list(self._spec()["target_labels"])

    @property
    def task_names(self):
        return list(self._spec()["activations"])

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
        from keras_dfka.dual_generator import DualGenerator

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
        activations = {}
        for m in dual.active_teachers:
            teacher = dual.teachers[m]
            source_filter = dual.filters[m][level - 2]
            branch_filter = FeatureFilter.from_config(
                dict(source_filter.get_config(), name=f"branch_{teacher.name}_filter")
            )
            h = branch_filter(x)
            branch_filter.set_weights(source_filter.get_weights())
            head = keras.models.clone_model(teacher.head)
            head.name = f"branch_{teacher.name}_head"
            head_outputs = head(h)
            head.set_weights(dual.branch_head(m).get_weights())
            if not isinstance(head_outputs, (list, tuple)):
                head_outputs = [head_outputs]
            for group in dual.output_tasks:
                if group["teacher"] != m:
                    continue
                task = teacher.tasks[group["task"]]
                outputs[task.name] = LabelSelect(
                    group["indices"],
                    activation=task.activation,
                    from_logits=teacher.task_from_logits(task),
                    labels=group["labels"],
                    name=task.name,
                )(head_outputs[group["task"]])
                activations[task.name] = task.activation
        columns = []
        for r in dual.resolved_labels:
            group = next(
                g
                for g in dual.output_tasks
                if (g["teacher"], g["task"]) == (r["teacher"], r["task"])
            )
            columns.append([r["task_name"], group["labels"].index(r["label"])])
        label_spec = {
            "target_labels": list(dual.target_labels),
            "columns": columns,
            "activations": activations,
        }
        return cls(inputs=image, outputs=outputs, name=name, label_spec=label_spec)

    def labels_from_outputs(self, outputs):
        """Stacks a dict of task outputs into `(batch, len(target_labels))`."""
        return np.stack(
            [
                np.asarray(ops.convert_to_numpy(outputs[t]))[:, i]
                for t, i in self._spec()["columns"]
            ],
            axis=-1,
        )

    def predict_labels(self, x, batch_size=128, verbose=0):
        """Probabilities of every target label, `(n, len(target_labels))`.

        Args:
            x: images `(n, height, width, channels)` in `[0, 1]`.
            batch_size: int.
            verbose: passed to `predict()`.

        Returns:
            A numpy float32 array, columns in the order of `target_labels`.
        """
        return self.labels_from_outputs(
            self.predict(x, batch_size=batch_size, verbose=verbose)
        )

    def get_config(self):
        config = super().get_config()
        config["label_spec"] = self.label_spec
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from keras.src.models.functional import functional_from_config

        config = dict(config)
        label_spec = config.pop("label_spec")
        model = functional_from_config(
            _FunctionalTargetNet, config, custom_objects=custom_objects
        )
        return cls(
            inputs=model.inputs[0],
            outputs=model.outputs_dict,
            name=config.get("name"),
            label_spec=label_spec,
        )


class _FunctionalTargetNet(keras.Model):
    """Revives the functional graph of a saved `TargetNet`."""

    @property
    def outputs_dict(self):
        return dict(zip(self.output_names, self.outputs))
