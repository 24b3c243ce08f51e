"""Functional-graph tools for teachers: inlining nested models, and
proposing block boundaries (`propose_blocks`)."""

import keras
from keras import tree

from keras_dfka.utils.keras_internals import call_count
from keras_dfka.utils.keras_internals import inbound_layers
from keras_dfka.utils.keras_internals import is_functional
from keras_dfka.utils.keras_internals import producing_layer
from keras_dfka.utils.keras_internals import replay_graph

# The separator of a nested layer's path, `"outer_model/inner_layer"`
# (Keras forbids "/" in layer names, so a path never is a layer name).
PATH_SEPARATOR = "/"


def _is_inlined(operation):
    """Whether `operation` is a model whose layers are inlined: a functional
    model or a built `Sequential`."""
    if isinstance(operation, keras.Sequential):
        return True
    return isinstance(operation, keras.Model) and is_functional(operation)


def has_nested_models(model):
    """Whether the functional `model` calls a functional or Sequential model."""
    return any(_is_inlined(layer) for layer in model.layers)


def as_functional(model):
    """A built `Sequential` as a functional model over the same layers (its
    graph, one input and one output); any other model as it is (an unbuilt
    `Sequential` too)."""
    if not isinstance(model, keras.Sequential):
        return model
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return model
    return keras.Model(inputs[0], outputs[0], name=model.name)


def uncompiled_copy(model):
    """An uncompiled copy of `model` (fresh layers, its weights).

    `keras.models.clone_model` compiles the copy when `model` is compiled (a
    trained teacher usually is); a `Teacher`'s copy never trains, and its
    optimizer would only be saved, and not reloaded, with every trainer. So
    the copy is cloned from a plain functional model over `model`'s graph
    (a plain `keras.Model` whatever `model`'s class).
    """
    graph = as_functional(model)
    if graph is model:
        graph = keras.Model(model.input, model.output, name=model.name)
    copy = keras.models.clone_model(graph)
    copy.set_weights(graph.get_weights())
    for layer in copy.layers:
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()  # Its mean follows the weights.
    return copy


def _input_layer_name(model, tensor):
    """The name of the `InputLayer` of `model` whose output is `tensor`."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) and layer.output is tensor:
            return layer.name
    return tensor.name


class _Inliner:
    """Rebuilds a functional model as one flat graph (see `flatten_model`):
    replays its graph (`keras_internals.replay_graph`), calling a copy of
    each layer on the new tensors, and replaying a nested model's graph in
    place of its call."""

    def __init__(self, model, copy_weights):
        self.copy_weights = copy_weights
        # The top-level layers keep their names; nested layers keep theirs
        # unless taken (then `<nested model>_<name>`, numbered if needed).
        self.used = {layer.name for layer in model.layers}
        self.assigned = set()  # The names given to copies so far.
        self.paths = {}

    def unique_name(self, name, owner):
        if name not in self.used:
            return name
        base = f"{owner}_{name}" if owner else name
        candidate, number = base, 2
        while candidate in self.used:
            candidate, number = f"{base}_{number}", number + 1
        return candidate

    def copy_layer(self, layer, prefix, top_level):
        if top_level and layer.name not in self.assigned:
            name = layer.name  # A top-level layer's first call keeps its name.
        else:
            name = self.unique_name(layer.name, prefix[-1] if prefix else None)
        self.used.add(name)
        self.assigned.add(name)
        if not isinstance(layer, keras.layers.Layer):
            return layer, name  # A stateless operation (e.g. `keras.ops.add`).
        config = layer.get_config()
        config["name"] = name
        try:
            copy = layer.__class__.from_config(config)
        except Exception as error:
            raise ValueError(
                f"Cannot copy layer '{layer.name}' ({type(layer).__name__}) "
                f"from its config to inline it: {error}"
            ) from None
        return copy, name

    def run(self, model, inputs, prefix=()):
        """Calls copies of `model`'s layers on `inputs`; returns the outputs
        (packed as `model`'s)."""
        if isinstance(model, keras.Sequential):
            x = inputs[0]
            for layer in model.layers:
                x = self.apply(layer, (x,), {}, prefix, False)
            return x
        if len(model.inputs) != len(inputs):
            raise ValueError(
                f"Nested model '{model.name}' takes {len(model.inputs)} inputs; "
                f"it is called on {len(inputs)} tensors."
            )

        def call(operation, args, kwargs):
            return self.apply(operation, args, kwargs, prefix, not prefix)

        return replay_graph(model, inputs, call)

    def apply(self, operation, args, kwargs, prefix, top_level):
        if _is_inlined(operation):
            inputs = [x for x in tree.flatten(args) if isinstance(x, keras.KerasTensor)]
            return self.run(operation, inputs, prefix + (operation.name,))
        if isinstance(operation, keras.layers.InputLayer):
            return args[0] if args else kwargs.popitem()[1]
        copy, name = self.copy_layer(operation, prefix, top_level)
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        outputs = copy(*args, **kwargs)
        if prefix:
            self.paths[PATH_SEPARATOR.join(prefix + (operation.name,))] = name
        if self.copy_weights and isinstance(copy, keras.layers.Layer):
            copy.set_weights(operation.get_weights())
            if isinstance(copy, keras.layers.Normalization):
                copy.finalize_state()  # Its mean and variance follow the weights.
        return outputs


def flatten_model(model, copy_weights=True):
    """Inlines the nested models of a functional model into one flat graph.

    Every layer of `model` and, recursively, of the functional or Sequential
    models it calls, is recreated from its config (weights copied) and
    called once, so every layer of the result has one call and its output
    can end a teacher's block. `model` is not modified.

    Top-level layers keep their names (a layer called several times: its
    later copies are numbered, `<name>_2`, ...). A nested model's layer keeps
    its own name unless a layer of the result already has it; then it is
    named `<nested model name>_<layer name>`. Explicit `training=` arguments
    of the calls are dropped: the result runs every layer in the mode it is
    called in (a teacher: always inference). `paths` maps each nested layer's path
    `"<nested model name>/<layer name>"` (one name per nesting level) to its
    name in the result.

    Args:
        model: a functional `keras.Model`.
        copy_weights: bool, whether to copy the weights (`False` for an
            analysis of the graph only).

    Returns:
        `(flat_model, paths)`.
    """
    model = as_functional(model)
    inliner = _Inliner(model, copy_weights)
    inputs = [
        keras.Input(
            batch_shape=x.shape, dtype=x.dtype, name=_input_layer_name(model, x)
        )
        for x in model.inputs
    ]
    outputs = inliner.run(model, inputs)
    flat = keras.Model(
        tree.pack_sequence_as(model.input, inputs), outputs, name=model.name
    )
    return flat, inliner.paths


def _spatial_size(tensor):
    shape = tuple(tensor.shape)
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return shape[1] * shape[2]


def stage_ends(model):
    """The stage ends of a flat functional model (see `propose_blocks`)."""
    layers = [layer for layer in model.layers if call_count(layer)]
    position = {id(layer): i for i, layer in enumerate(layers)}
    outputs = {id(t) for t in model.outputs}
    # The last position that reads each layer's output (len: a model output).
    last_use = {}
    for i, layer in enumerate(layers):
        for sources in inbound_layers(layer):
            for source in sources:
                if id(source) in position:
                    last_use[id(source)] = max(last_use.get(id(source), -1), i)
    for tensor in model.outputs:
        last_use[id(producing_layer(tensor))] = len(layers)
    image = _spatial_size(model.inputs[0])
    smallest = image
    ends = {}
    live = set()  # Layers whose outputs are read after the current position.
    for i, layer in enumerate(layers):
        live.add(id(layer))
        live = {key for key in live if last_use.get(key, -1) > i}
        if isinstance(layer, keras.layers.InputLayer) or call_count(layer) != 1:
            continue
        output = layer.output
        if isinstance(output, (list, tuple)):
            continue
        size = _spatial_size(output)
        if size is None or live != {id(layer)} or id(output) in outputs:
            continue
        # A cut: the only tensor read after it, not a model output. A stage
        # end is the last cut of each size smaller than the image, but for
        # padded maps (larger than an earlier cut).
        if size <= smallest:
            smallest = size
            if size < image:
                ends[size] = layer.name
    return list(ends.values())


def propose_blocks(model, num_blocks=None):
    """Proposes the `blocks` of a `keras_dfka.Teacher`: the ends of the
    model's stages.

    A stage is the part of the network at one spatial size. The proposal is,
    for each spatial size smaller than the image that the network reaches,
    the last layer at that size whose output is the only tensor that the
    rest of the network reads (no skip connection crosses the cut) and that
    is not a padded copy of a smaller map. The last proposed layer is the
    last feature map before the head (e.g. before global pooling). Nested
    functional or Sequential models (a `keras.applications` model called as
    a layer) are looked into: the names are those `Teacher` accepts for the
    same model (see `Teacher`).

    For `keras.applications` models this gives the layers usually taken as
    their multi-scale features, e.g. for MobileNetV2 `block_1_expand_relu`,
    `block_3_expand_relu`, `block_6_expand_relu`, `block_13_expand_relu`,
    `out_relu`; for ResNet50 `conv1_relu`, `conv2_block3_out`, ...,
    `conv5_block3_out`.

    Args:
        model: a functional `keras.Model` with one image input.
        num_blocks: `None` (every stage end) or an int >= 1: the last
            `num_blocks` stage ends (the deepest ones).

    Returns:
        The list of layer names, in the order the image flows through them.

    Example:

    ```python
    base = keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(64, 64, 3), alpha=0.35)
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, "sigmoid")(x))
    keras_dfka.propose_blocks(model, num_blocks=3)
    # ['block_6_expand_relu', 'block_13_expand_relu', 'out_relu']
    ```
    """
    if num_blocks is not None and (
        isinstance(num_blocks, bool)
        or not isinstance(num_blocks, int)
        or num_blocks < 1
    ):
        raise ValueError(
            "`num_blocks` must be None or an integer >= 1. "
            f"Received: num_blocks={num_blocks!r}"
        )
    if isinstance(model, keras.Sequential):
        model = as_functional(model)
    if not isinstance(model, keras.Model) or not is_functional(model):
        raise ValueError(
            f"`model` must be a functional `keras.Model`. Received: model={model!r}"
        )
    if len(model.inputs) != 1:
        raise ValueError(
            "`model` must have exactly one image input. "
            f"Received {len(model.inputs)} inputs."
        )
    if has_nested_models(model):
        model, _ = flatten_model(model, copy_weights=False)
    ends = stage_ends(model)
    if not ends:
        raise ValueError(
            f"Model '{model.name}' has no stage end to propose: no image-like "
            "layer smaller than its input is a cut that no skip connection "
            "crosses. Name the `blocks` yourself (see `model.summary()`)."
        )
    if num_blocks is None:
        return ends
    if num_blocks > len(ends):
        raise ValueError(
            f"`num_blocks` must be at most {len(ends)}: model '{model.name}' "
            f"has {len(ends)} stage ends {ends}. Received: num_blocks={num_blocks}"
        )
    return ends[-num_blocks:]
