"""The Keras internals keras-dfka reads, in one place.

Everything else in the library uses Keras's public API. What is here has no
public equivalent in Keras 3.15 (the version `pyproject.toml` pins); each
function says what it reads and why no public API serves. A Keras upgrade
should check this module first: these names may change without notice.
"""

from keras import tree


def is_functional(model):
    """Whether `model` is a functional model (built from `keras.Input`):
    one whose graph of layer calls can be replayed.

    Why private: Keras exports no `Functional` class and no public attribute
    tells a functional model from a subclassed one (both have `input` and
    `output` once called); the functional ones have `_nodes_by_depth`.
    """
    return hasattr(model, "_nodes_by_depth")


def call_count(layer):
    """How many times `layer` has been called on symbolic tensors (0 for a
    layer never called).

    Why private: `layer.input` and `layer.output` are public, but only for
    the first call; nothing public counts the calls (`layer._inbound_nodes`).
    """
    return len(layer._inbound_nodes)


def producing_layer(tensor):
    """The layer (operation) whose call produced the symbolic `tensor`.

    Why private: a `keras.KerasTensor` has no public link to the operation
    that made it (`tensor._keras_history`); `layer.output` gives the other
    direction, for a layer's first call only.
    """
    return tensor._keras_history[0]


def inbound_layers(layer):
    """Per call of `layer`, the layers that produced the tensors it read.

    Why private: a layer's calls are its `_inbound_nodes` (see
    `call_count`); nothing public lists them.
    """
    return [
        [producing_layer(tensor) for tensor in node.input_tensors]
        for node in layer._inbound_nodes
    ]


def replay_graph(model, inputs, call):
    """Replays the graph of the functional `model` on other tensors.

    Each layer call of `model`, in an order that computes it, becomes
    `call(operation, args, kwargs)`, with the arguments of the original call
    where every tensor is replaced by its replayed counterpart (`inputs` for
    `model.inputs`, then what the earlier calls returned).

    Why private: the calls of a functional model are its nodes
    (`_nodes_by_depth`, `node.arguments`), which nothing public lists.
    `keras.models.clone_model(call_function=...)` replays a graph the same
    way, but returns a new model whose output tensors Keras re-creates when
    its inputs are not `keras.Input`s (`clone_graph_nodes`): inlining a
    nested model needs the outputs in the enclosing graph.

    Args:
        model: a functional `keras.Model`.
        inputs: the tensors standing for `model.inputs` (a flat list).
        call: `call(operation, args, kwargs) -> outputs`.

    Returns:
        The replayed outputs, packed as `model.output`.
    """
    tensors = {id(x): y for x, y in zip(model.inputs, inputs)}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            if any(id(x) not in tensors for x in node.input_tensors):
                continue
            args, kwargs = node.arguments.fill_in(tensors)
            outputs = call(node.operation, args, kwargs)
            for x, y in zip(node.outputs, tree.flatten(outputs)):
                tensors[id(x)] = y
    outputs = [tensors[id(x)] for x in model.outputs]
    return tree.pack_sequence_as(model.output, outputs)


def variable_value_or_none(variable):
    """A JAX variable's value, or `None` while `fit()` has detached it.

    Why private: the JAX trainer of Keras moves the variables' values into
    its training state during `fit()` and sets `variable._value` to `None`;
    `variable.value` then fails instead of saying so.
    """
    return variable._value


def reattach_value(variable, value):
    """Gives a detached JAX variable (see `variable_value_or_none`) its
    value back, as the JAX trainer of Keras does at the end of an epoch.

    Why private: `variable.assign` converts and checks the value against the
    variable's current one, which a detached variable does not have.
    """
    variable._value = value


def has_unsynced_jax_state(model):
    """Whether `model`'s JAX training state holds values its variables do
    not have yet (`model.jax_state_sync()` copies them).

    Why private: the JAX trainer of Keras keeps that state in `_jax_state`
    and whether it is copied back in `_jax_state_synced`.
    """
    return bool(getattr(model, "_jax_state", None)) and not getattr(
        model, "_jax_state_synced", True
    )
