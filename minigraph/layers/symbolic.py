"""Symbolic tensors and graph nodes: what a layer call on `keras.Input`s leaves behind.

A `Node` records one call of a layer on symbolic tensors with its whole structure (positional and keyword
arguments, nested in lists, tuples and dicts), so that the graph walk can replay it and the configs of
both Keras dialects can be written from it.
"""
import numpy as np

from minigraph.autodiff import Symbolic


def _keys(mapping):
    """A dict's keys in the order Keras flattens them (tf.nest and Keras 3's tree: sorted), or in insertion
    order when they do not sort."""
    try:
        return sorted(mapping)
    except TypeError:
        return list(mapping)


def flatten(structure):
    """The leaves of nested lists, tuples and dicts (dicts by sorted key, as Keras), left to right."""
    if isinstance(structure, (list, tuple)):
        return [x for item in structure for x in flatten(item)]
    if isinstance(structure, dict):
        return [x for key in _keys(structure) for x in flatten(structure[key])]
    return [structure]


def map_structure(fn, structure):
    """The same nesting with fn applied to every leaf, in flatten's order (a dict keeps its own key order)."""
    if isinstance(structure, list):
        return [map_structure(fn, x) for x in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, x) for x in structure)
    if isinstance(structure, dict):
        mapped = {k: map_structure(fn, structure[k]) for k in _keys(structure)}
        return {k: mapped[k] for k in structure}
    return fn(structure)


def pack_as(structure, flat):
    """Refill `structure`'s leaves, in flatten's order, from the sequence `flat`."""
    it = iter(flat)
    return map_structure(lambda _: next(it), structure)


def shape_str(shape):
    return str(tuple(shape)) if shape is not None else "None"


class DType:
    """A dtype that prints as TensorFlow's (<dtype: 'float32'>) and compares equal to numpy's."""

    def __init__(self, dtype):
        self.as_numpy_dtype = np.dtype(dtype)

    @property
    def name(self):
        return self.as_numpy_dtype.name

    def __eq__(self, other):
        try:
            return self.as_numpy_dtype == np.dtype(getattr(other, "as_numpy_dtype", other))
        except TypeError:
            return False

    def __hash__(self):
        return hash(self.as_numpy_dtype)

    def __repr__(self):
        return f"<dtype: '{self.name}'>"

    __str__ = __repr__


class KerasTensor(Symbolic):
    """A symbolic tensor: a shape (batch dimension None), a dtype, and the node that makes it.

    `has_mask` says whether the graph computes a mask beside its value (Embedding(mask_zero=True),
    Masking and the layers that pass a mask on).
    """

    def __init__(self, shape, dtype="float32", node=None, tensor_index=0, name=None, has_mask=False):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = DType(getattr(dtype, "as_numpy_dtype", dtype))
        self.node = node
        self.tensor_index = tensor_index
        self.name = name
        self.has_mask = has_mask

    @property
    def _keras_history(self):
        layer = self.node.layer
        return layer, layer._inbound_nodes.index(self.node), self.tensor_index

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape} dtype={self.dtype.name} name={self.name}>"

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __bool__(self):
        raise TypeError(f"A symbolic tensor ({self.name}) has no truth value: it holds no data until the model "
                        f"runs. Use minigraph.ops (ops.where, ops.cond-free arithmetic) inside call().")

    def __iter__(self):
        raise TypeError(f"A symbolic tensor ({self.name}) cannot be iterated; index it instead (x[:, i])")


class Node:
    """One call of a layer on symbolic tensors: its arguments as called, and the tensors it made.

    `inputs` are the KerasTensors among the arguments, flattened over (args, kwargs); `outputs` the flat
    outputs, and `output_structure` their nesting as `call` returned it.
    """

    def __init__(self, layer, call_args=(), call_kwargs=None, outputs=(), output_structure=None, internal=False):
        """internal=True is a model's own node 0 (its inputs to its outputs): it does not re-own them."""
        self.layer = layer
        self.call_args = tuple(call_args)
        self.call_kwargs = dict(call_kwargs or {})
        self.inputs = [t for t in flatten((self.call_args, self.call_kwargs)) if isinstance(t, KerasTensor)]
        self.outputs = list(outputs)
        self.output_structure = output_structure
        self.internal = internal
        layer._inbound_nodes.append(self)
        if internal:
            return
        for i, t in enumerate(self.outputs):
            t.node = self
            t.tensor_index = i
        for t in self.inputs:
            if t.node is not None:
                t.node.layer._outbound_nodes.append(self)

    @property
    def is_input(self):
        return not self.inputs and not self.call_args

    @property
    def parent_nodes(self):
        return [t.node for t in self.inputs]

    @property
    def single_input(self):
        """The call is layer(tensor) with no other argument: the fast path of the graph walk."""
        return (len(self.call_args) == 1 and not self.call_kwargs and isinstance(self.call_args[0], KerasTensor))

    def iterate_inbound(self):
        """(layer, node_index, tensor_index) for each input tensor, as in Keras' inbound_nodes."""
        return [t._keras_history for t in self.inputs]
