"""`TargetNet`: the regrouped multi-branch student (paper Sec. 3.2, Fig. 2)."""

import keras
import numpy as np
from keras import ops

from keras_dfka.layers.feature_filter import FeatureFilter
from keras_dfka.layers.label_select import LabelSelect
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
    that carries its label plan (`keras_dfka.models.label_plan.LabelPlan`: label
    names, tasks and activations) in its config, shares no
    variables with the trainers, and saves and loads as `.keras` with only
    `keras_dfka` imported (for its two small layers), not the trainer classes.

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
            source_filter = dual.filters[m][level - 2]
            branch_filter = FeatureFilter.from_config(
                dict(source_filter.get_config(), name=f"branch_{teacher.name}_filter")
            )
            h = branch_filter(x)
            branch_filter.set_weights(source_filter.get_weights())
            head = keras.models.clone_model(teacher.head)
            head.name = f"branch_{teacher.name}_head"
            head_outputs = as_list(head(h))
            head.set_weights(dual.branch_head(m).get_weights())
            for group in dual.label_plan.groups_of(m):
                task = teacher.tasks[group.task]
                outputs[task.name] = LabelSelect(
                    list(group.indices),
                    activation=task.activation,
                    from_logits=teacher.task_from_logits(task),
                    labels=list(group.labels),
                    name=task.name,
                )(head_outputs[group.task])
        return cls(inputs=image, outputs=outputs, name=name, label_plan=dual.label_plan)

    def labels_from_outputs(self, outputs):
        """Stacks a dict of task outputs into `(batch, len(target_labels))`."""
        return np.stack(
            [
                np.asarray(ops.convert_to_numpy(outputs[t]))[:, i]
                for t, i in self.columns
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
