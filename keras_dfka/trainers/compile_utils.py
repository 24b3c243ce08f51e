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
    optimizer, _ = build_group_optimizer(
        {"main_optimizer": None, "filter_optimizer": filter_pattern},
        {"main_optimizer": main_optimizer, "filter_optimizer": filter_optimizer},
        learning_rate,
    )
    return optimizer


def build_group_optimizer(groups, arguments, learning_rate, copy_shared=True):
    """One `keras.optimizers.MultiOptimizer` over a trainer's optimizer groups.

    Under JAX only `self.optimizer`'s state is carried through `fit()`, so a
    trainer with several optimizers has one `MultiOptimizer` whose map sends
    each variable to its group's optimizer.

    Args:
        groups: dict `{argument name: selector}`, in order. The first group's
            optimizer is the map's default (its selector is `None`: every
            variable no other group selects); another group's selector is a
            regular expression that variable paths must match in full
            (`"filter_.*"`) or a list of variables (each mapped by its path).
        arguments: dict `{argument name: optimizer argument}`: `"auto"` (for
            `default_optimizer(learning_rate)`), a name, a config or an
            instance (`keras.optimizers.get`).
        learning_rate: the learning rate of the `"auto"` optimizers.
        copy_shared: what to do with an instance given for two groups: use
            an unbuilt copy of it for the second (`True`), or raise.

    Returns:
        `(multi_optimizer, {argument name: optimizer})`.
    """
    optimizers = {}
    for name in groups:
        optimizer = resolve_optimizer(arguments[name], learning_rate)
        for other, taken in optimizers.items():
            if optimizer is not taken:
                continue
            if not copy_shared:
                raise ValueError(
                    f"`{other}` and `{name}` must be two optimizer instances "
                    "(or 'auto'). Received the same instance twice."
                )
            optimizer = copy_optimizer(optimizer)
        optimizers[name] = optimizer
    default, *others = groups
    optimizer_map = keras.optimizers.OptimizerMap(default_optimizer=optimizers[default])
    for name in others:
        selector = groups[name]
        if isinstance(selector, str):
            optimizer_map[selector] = optimizers[name]
            continue
        for variable in selector:
            optimizer_map[variable.path] = optimizers[name]
    return keras.optimizers.MultiOptimizer(optimizer_map), optimizers


def check_group_paths(groups, variables):
    """Raises if a group given as a list of variables would also take
    another variable: the optimizer map sends variables by path, so a
    variable outside the list must not share a path with one in it."""
    for name, selector in groups.items():
        if selector is None or isinstance(selector, str):
            continue
        chosen = {id(v) for v in selector}
        paths = {v.path for v in selector}
        for variable in variables:
            if id(variable) not in chosen and variable.path in paths:
                raise ValueError(
                    f"`{name}` trains a variable of path {variable.path!r}, "
                    "and another variable, which it must not train, has the "
                    "same path (the optimizers are chosen by variable path). "
                    "Give the layers distinct names."
                )
