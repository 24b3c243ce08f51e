"""What the trainers' `compile()` share: optimizers and argument checks."""

import keras

from keras_dfka.utils.validation import check_float

DEFAULT_LEARNING_RATE = 1e-3


def check_learning_rate(learning_rate):
    """A finite number > 0 (returned as a float) or a Keras learning rate
    schedule (returned as it is); anything else raises naming
    `learning_rate`."""
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    return check_float(learning_rate, "learning_rate", 0, exclusive=True)


def reject_compile_arguments(class_name, losses_source, kwargs):
    """Raises if `compile()` got `loss`, `metrics` or `optimizer`.

    The trainers set their own losses and wrap their optimizers themselves.
    """
    for key in ("loss", "metrics", "optimizer"):
        if kwargs.get(key) is not None:
            raise ValueError(
                f"`{key}` is not an argument of {class_name}.compile(); its "
                f"losses are {losses_source}. Received {key}={kwargs[key]!r}"
            )


def default_optimizer(learning_rate=DEFAULT_LEARNING_RATE):
    """The trainers' optimizer: Adam with `beta_1=0.5`, as in GAN training."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5)


def resolve_optimizer(optimizer, learning_rate):
    """`default_optimizer(learning_rate)` for `"auto"`, else
    `keras.optimizers.get(optimizer)`."""
    if isinstance(optimizer, str) and optimizer == "auto":
        return default_optimizer(learning_rate)
    return keras.optimizers.get(optimizer)


def copy_optimizer(optimizer):
    """A new, unbuilt optimizer with `optimizer`'s class and config.

    Anything else (`"auto"`, a name, a config dict) is returned as it is:
    `keras.optimizers.get` makes a new optimizer from it each time.
    """
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer.__class__.from_config(optimizer.get_config())
    return optimizer


def build_multi_optimizer(
    main_optimizer, filter_optimizer, learning_rate, filter_pattern="filter_.*"
):
    """Wraps a main and a filter optimizer in one `MultiOptimizer`.

    Under JAX only `self.optimizer`'s state is carried through `fit()`, so the
    two optimizers are one `keras.optimizers.MultiOptimizer` whose map sends
    every variable whose path matches `filter_pattern` (the filter layers'
    names) to the filter optimizer.
    `"auto"` stands for `default_optimizer(learning_rate)`.
    """
    main = resolve_optimizer(main_optimizer, learning_rate)
    filters = resolve_optimizer(filter_optimizer, learning_rate)
    if filters is main:
        filters = copy_optimizer(main)
    optimizer_map = keras.optimizers.OptimizerMap(default_optimizer=main)
    optimizer_map[filter_pattern] = filters
    return keras.optimizers.MultiOptimizer(optimizer_map)
