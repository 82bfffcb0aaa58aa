"""The Layer base class, symbolic tensors and graph nodes.

A layer called on numpy arrays computes at once. Called on symbolic `KerasTensor`s it adds a `Node` to
the graph and returns new symbolic tensors whose shapes come from `compute_output_shape`. Models are
built from those nodes (see `minigraph.engine`).
"""
import inspect
import re
import threading

import numpy as np

from minigraph import initializers
from minigraph.autodiff import Traced, Variable

_name_lock = threading.Lock()
_name_counts = {}


def unique_name(base, zero_based=True):
    """'dense', then 'dense_1', 'dense_2', ... per process, as Keras names layers.

    Inputs count from one instead ('input_1', 'input_2', ...): zero_based=False.
    """
    with _name_lock:
        n = _name_counts.get(base, 0)
        _name_counts[base] = n + 1
    if not zero_based:
        return f"{base}_{n + 1}"
    return base if n == 0 else f"{base}_{n}"


def reset_names():
    """Forget the name counters (keras.backend.clear_session)."""
    with _name_lock:
        _name_counts.clear()


def to_snake_case(name):
    # Keras' rule: digits stay with the word before them, so Conv2D -> conv2d, MaxPooling2D -> max_pooling2d
    s = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [x for item in structure for x in flatten(item)]
    if isinstance(structure, dict):
        return [x for key in structure for x in flatten(structure[key])]
    return [structure]


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


class KerasTensor:
    """A symbolic tensor: a shape (batch dimension None), a dtype, and the node that makes it."""

    def __init__(self, shape, dtype="float32", node=None, tensor_index=0, name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = DType(getattr(dtype, "as_numpy_dtype", dtype))
        self.node = node
        self.tensor_index = tensor_index
        self.name = name

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


class Node:
    """One call of a layer on symbolic tensors: which tensors went in, which came out."""

    def __init__(self, layer, inputs, outputs, call_kwargs=None, input_structure=None, internal=False):
        """internal=True is a model's own node 0 (its inputs to its outputs): it does not re-own them."""
        self.layer = layer
        self.inputs = list(inputs)  # flat list of KerasTensors
        self.input_structure = input_structure  # 'single' or 'list'
        self.outputs = list(outputs)
        self.call_kwargs = call_kwargs or {}
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
        return not self.inputs

    @property
    def parent_nodes(self):
        return [t.node for t in self.inputs]

    def iterate_inbound(self):
        """(layer, node_index, tensor_index) for each input tensor, as in Keras' inbound_nodes."""
        return [t._keras_history for t in self.inputs]


class Layer:
    """Base class of every layer (and of models, which are layers too)."""

    # Keras' constructor keywords that every layer accepts
    _BASE_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "input_dim", "dtype", "name",
                    "trainable", "dynamic", "autocast", "input_length")

    def __init__(self, trainable=True, name=None, dtype=None, **kwargs):
        unknown = set(kwargs) - set(self._BASE_KWARGS)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown keyword argument(s) {sorted(unknown)}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = np.dtype(dtype or "float32").name
        self._trainable_weights = []
        self._non_trainable_weights = []
        self._inbound_nodes = []
        self._outbound_nodes = []
        self.built = False
        self._batch_input_shape = None
        if "batch_input_shape" in kwargs and kwargs["batch_input_shape"] is not None:
            self._batch_input_shape = tuple(kwargs["batch_input_shape"])
        elif "input_shape" in kwargs and kwargs["input_shape"] is not None:
            self._batch_input_shape = (kwargs.get("batch_size"),) + tuple(kwargs["input_shape"])
        elif "input_dim" in kwargs and kwargs["input_dim"] is not None:
            self._batch_input_shape = (kwargs.get("batch_size"), kwargs["input_dim"])
        self._call_takes_training = "training" in inspect.signature(self.call).parameters

    # ------------------------------------------------------------------ weights
    def add_weight(self, name, shape, dtype=None, initializer="glorot_uniform", trainable=True, **unused):
        shape = tuple(int(d) for d in shape)
        value = initializers.get(initializer)(shape, dtype=dtype or self.dtype)
        var = Variable(np.asarray(value, dtype=dtype or self.dtype), name=f"{self.name}/{name}:0",
                       trainable=trainable)
        (self._trainable_weights if trainable else self._non_trainable_weights).append(var)
        return var

    @property
    def trainable_weights(self):
        return list(self._trainable_weights) if self.trainable else []

    @property
    def non_trainable_weights(self):
        if self.trainable:
            return list(self._non_trainable_weights)
        return list(self._trainable_weights) + list(self._non_trainable_weights)

    @property
    def weights(self):
        return self.trainable_weights + self.non_trainable_weights

    def get_weights(self):
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights):
        params = self.weights
        if len(params) != len(weights):
            raise ValueError(
                f"Layer '{self.name}' expects {len(params)} weights, but set_weights received {len(weights)}")
        for var, value in zip(params, weights):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"Layer '{self.name}' weight '{var.name}' has shape {var.shape}, "
                                 f"but the value given has shape {value.shape}")
        for var, value in zip(params, weights):
            var.assign(value)

    def count_params(self):
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ------------------------------------------------------------------ to override
    def build(self, input_shape):
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        """Output shape(s) for symbolic input shape(s); by default found by running `call` on zeros."""
        def concrete(shape):
            return tuple(1 if d is None else d for d in shape)
        if isinstance(input_shape, list):
            dummy = [np.zeros(concrete(s), dtype=self.dtype) for s in input_shape]
        else:
            dummy = np.zeros(concrete(input_shape), dtype=self.dtype)
        out = self.call(dummy)
        def symbolic(arr):
            return (None,) + tuple(np.shape(arr)[1:])
        return [symbolic(o) for o in out] if isinstance(out, (list, tuple)) else symbolic(out)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    # ------------------------------------------------------------------ calling
    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        flat = flatten(inputs)
        symbolic = [isinstance(t, KerasTensor) for t in flat]
        if any(symbolic):
            if not all(symbolic):
                raise ValueError(f"Layer '{self.name}' was called on a mix of symbolic tensors and arrays")
            return self._call_symbolic(inputs, flat, kwargs)
        if not isinstance(inputs, (list, tuple)):
            inputs = _as_array(inputs, self)
        else:
            inputs = [_as_array(x, self) for x in inputs]
        shapes = _shapes_of(inputs)
        self._maybe_build(shapes)
        if type(self).compute_output_shape is not Layer.compute_output_shape:
            self.compute_output_shape(_symbolic_shapes(shapes))  # validates, naming the layer and shapes
        return self._call_eager(inputs, training, kwargs)

    def _call_eager(self, inputs, training=None, kwargs=None):
        if self._call_takes_training:
            return self.call(inputs, training=training, **(kwargs or {}))
        return self.call(inputs, **(kwargs or {}))

    def _call_symbolic(self, inputs, flat, kwargs):
        input_shape = [t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
        self._maybe_build(input_shape)
        out_shape = self.compute_output_shape(input_shape)
        multi = isinstance(out_shape, list)
        outputs = [KerasTensor(s, self.dtype) for s in (out_shape if multi else [out_shape])]
        Node(self, flat, outputs, kwargs, "list" if isinstance(inputs, (list, tuple)) else "single")
        for i, t in enumerate(outputs):
            t.name = f"{self.name}/{len(self._inbound_nodes) - 1}/{i}"
        return outputs if multi else outputs[0]

    # ------------------------------------------------------------------ graph views
    @property
    def input(self):
        return self._node_tensors(0, "inputs", "input")

    @property
    def output(self):
        return self._node_tensors(0, "outputs", "output")

    def _node_tensors(self, node_index, attr, what):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' is not connected: it has no {what}")
        if len(self._inbound_nodes) > 1 and node_index == 0 and type(self).__name__ != "InputLayer":
            # Keras refuses the ambiguous case; a model's own node 0 is its internal graph, so allow it
            if not getattr(self, "_is_graph_network", False):
                raise AttributeError(f"Layer '{self.name}' has multiple inbound nodes, hence the notion of "
                                     f"'layer {what}' is ill-defined; use get_{what}_at(node_index)")
        tensors = getattr(self._inbound_nodes[node_index], attr)
        return tensors[0] if len(tensors) == 1 else tensors

    def get_input_at(self, node_index):
        return self._node_tensors(node_index, "inputs", "input")

    def get_output_at(self, node_index):
        return self._node_tensors(node_index, "outputs", "output")

    @property
    def output_shape(self):
        shapes = [tuple(t.shape for t in node.outputs) for node in self._inbound_nodes]
        if not shapes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined output shape")
        if any(s != shapes[0] for s in shapes[1:]):
            raise AttributeError(f"Layer '{self.name}' has multiple inbound nodes with different output shapes")
        return shapes[0][0] if len(shapes[0]) == 1 else list(shapes[0])

    @property
    def input_shape(self):
        shapes = [tuple(t.shape for t in node.inputs) for node in self._inbound_nodes]
        if not shapes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has no defined input shape")
        if any(s != shapes[0] for s in shapes[1:]):
            raise AttributeError(f"Layer '{self.name}' has multiple inbound nodes with different input shapes")
        return shapes[0][0] if len(shapes[0]) == 1 else list(shapes[0])

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

    # ------------------------------------------------------------------ state (format-blind, as Keras 3)
    def save_own_variables(self, store):
        """Write this layer's own variables (not its sublayers') to `store` as "0", "1", ... in creation
        order; each file format is a store, so the walk over a model is written once."""
        for i, var in enumerate(self._trainable_weights + self._non_trainable_weights):
            store[str(i)] = var

    def load_own_variables(self, store):
        """Assign this layer's own variables from `store` ("0", "1", ... as save_own_variables wrote)."""
        variables = self._trainable_weights + self._non_trainable_weights
        if len(store.keys()) != len(variables):
            raise ValueError(f"Layer '{self.name}' expected {len(variables)} variables, but received "
                             f"{len(store.keys())} variables during loading. Expected: "
                             f"{[v.name for v in variables]}")
        for i, var in enumerate(variables):
            var.assign(store[str(i)])


def _as_array(x, layer):
    if isinstance(x, (np.ndarray, Traced)):
        return x
    if isinstance(x, Variable):
        return x.value
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise ValueError(f"Layer '{layer.name}' cannot take the input {type(x).__name__}: {err}") from None
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"Layer '{layer.name}' expects numeric input, got dtype {arr.dtype}")
    return arr if arr.dtype.kind == "f" else arr.astype(np.float32)


def _symbolic_shapes(shapes):
    if isinstance(shapes, list):
        return [(None,) + tuple(s[1:]) for s in shapes]
    return (None,) + tuple(shapes[1:])


def _shapes_of(inputs):
    if isinstance(inputs, (list, tuple)):
        return [tuple(np.shape(x)) for x in inputs]
    return tuple(np.shape(inputs))


def check_rank(layer, shape, rank, what="input"):
    """ValueError naming the layer when a shape has the wrong rank."""
    if len(shape) != rank:
        raise ValueError(f"{what.capitalize()} of layer '{layer.name}' ({type(layer).__name__}) must have rank "
                         f"{rank} including the batch dimension, but received shape {shape_str(shape)}")


def check_axis(layer, shape, axis, expected):
    """ValueError naming the layer when an input axis differs from what the layer was built for."""
    got = shape[axis]
    if got is not None and expected is not None and got != expected:
        raise ValueError(f"Input of layer '{layer.name}' ({type(layer).__name__}) is incompatible with the layer: "
                         f"expected axis {axis} of input shape to have value {expected}, but received input "
                         f"with shape {shape_str(shape)}")
