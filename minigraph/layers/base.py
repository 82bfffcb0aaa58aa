"""The Layer base class: calling, building, weights and their tracking, losses and metrics from layers.

A layer called on numpy arrays (or traced values) computes at once. Called on symbolic `KerasTensor`s it
adds a `Node` to the graph and returns new symbolic tensors. Models are built from those nodes (see
`minigraph.engine`).

Calls follow Keras: `layer(*args, **kwargs)` with tensors in any argument, nested in lists, tuples or
dicts; `training` and `mask` reach `call` only when its signature takes them, and `training=None` takes
the value of the outer call (fit: True; predict, evaluate and model(x): False).
"""
import inspect
import re
import threading

import numpy as np

from minigraph import initializers
from minigraph.autodiff import Traced, Variable
from minigraph.layers.tracking import structure_changed, structure_version, tracked  # noqa: F401
from minigraph.layers.symbolic import (DType, KerasTensor, Node, flatten, map_structure, pack_as,  # noqa: F401
                                       shape_str)

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


class _CallState(threading.local):
    """The training flag of the outermost call in progress on this thread (None outside any call)."""

    def __init__(self):
        self.training = None
        self.depth = 0


_call_state = _CallState()


class call_context:
    """`with call_context(training):` runs layers as inside a model call with that training flag."""

    def __init__(self, training):
        self.training = training

    def __enter__(self):
        self.saved = _call_state.training, _call_state.depth
        _call_state.training = bool(self.training)
        _call_state.depth += 1
        return self

    def __exit__(self, *exc):
        _call_state.training, _call_state.depth = self.saved
        return False




def _is_tracked_value(value):
    """Layers and Variables, and containers of them (an empty one too: its items may come later)."""
    if isinstance(value, (Layer, Variable)):
        return True
    if isinstance(value, (list, tuple, dict)):
        return not value or next(_walk(value), None) is not None
    return False


def _walk(value, seen_depth=0):
    """The Layers and Variables inside an attribute's value, in order (lists, tuples and dict values)."""
    if isinstance(value, (Layer, Variable)):
        yield value
    elif isinstance(value, (list, tuple)) and seen_depth < 8:
        for item in value:
            yield from _walk(item, seen_depth + 1)
    elif isinstance(value, dict) and seen_depth < 8:
        for item in value.values():
            yield from _walk(item, seen_depth + 1)


def _dedup(items):
    """items without repeats (by identity), first occurrence kept."""
    first = {}
    for item in items:
        first.setdefault(id(item), item)
    return list(first.values())


class Layer:
    """Base class of every layer (and of models, which are layers too)."""

    # Keras' constructor keywords that every layer accepts
    _BASE_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "input_dim", "dtype", "name",
                    "trainable", "dynamic", "autocast", "input_length", "activity_regularizer", "weights")
    # attributes of the machinery itself, never tracked as sublayers or weights
    _UNTRACKED = frozenset(("_inbound_nodes", "_outbound_nodes", "_own_variables", "_tracked_attributes",
                            "_losses", "_loss_callables", "_regularized", "_metric_values", "_initial_weights",
                            "_trainable", "_call_signature", "_build_input_shape",
                            "_sublayer_cache", "_flat_cache"))
    supports_masking = False
    # integer inputs reach `call` as float32 (Keras casts them for float layers); Embedding keeps them
    _casts_integer_inputs = True
    # an eager call first checks the input against a compute_output_shape the layer defines (models check
    # their own inputs)
    _checks_eager_shapes = False

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        state = self.__dict__
        state["_own_variables"] = []  # add_weight's and attribute-assigned Variables, in creation order
        state["_tracked_attributes"] = []  # names of attributes holding layers or variables, first assignment first
        state["_losses"] = []  # add_loss values of the current call
        state["_loss_callables"] = []  # zero-argument add_loss callables, evaluated on each .losses
        state["_regularized"] = []  # (variable, regularizer) from add_weight(regularizer=...)
        state["_metric_values"] = []  # (name, value) from add_metric in the current call
        state["_inbound_nodes"] = []
        state["_outbound_nodes"] = []
        state["_trainable"] = True
        state["built"] = False
        return self

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "compute_output_shape" in cls.__dict__ and "_checks_eager_shapes" not in cls.__dict__:
            cls._checks_eager_shapes = True

    def __init__(self, trainable=True, name=None, dtype=None, activity_regularizer=None, weights=None, **kwargs):
        unknown = set(kwargs) - set(self._BASE_KWARGS)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown keyword argument(s) {sorted(unknown)}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = _float_dtype_name(dtype, self)
        self.activity_regularizer = _get_regularizer(activity_regularizer)
        self._initial_weights = weights
        self._batch_input_shape = None
        if "batch_input_shape" in kwargs and kwargs["batch_input_shape"] is not None:
            self._batch_input_shape = tuple(kwargs["batch_input_shape"])
        elif "input_shape" in kwargs and kwargs["input_shape"] is not None:
            shape = kwargs["input_shape"]
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            self._batch_input_shape = (kwargs.get("batch_size"),) + shape
        elif "input_dim" in kwargs and kwargs["input_dim"] is not None:
            self._batch_input_shape = (kwargs.get("batch_size"), kwargs["input_dim"])

    # ------------------------------------------------------------------ attribute tracking
    def __setattr__(self, name, value):
        if name in self._UNTRACKED or name.startswith("__") or not _is_tracked_value(value):
            object.__setattr__(self, name, value)
            return
        value = tracked(value)  # its lists and dicts report in-place changes (the sublayer cache relies on it)
        object.__setattr__(self, name, value)
        structure_changed()
        state = self.__dict__
        if name not in state["_tracked_attributes"]:
            state["_tracked_attributes"].append(name)
        for item in _walk(value):
            if isinstance(item, Variable) and all(item is not v for v in state["_own_variables"]):
                state["_own_variables"].append(item)

    def __delattr__(self, name):
        object.__delattr__(self, name)
        if name in self._tracked_attributes:
            self._tracked_attributes.remove(name)
            structure_changed()

    def _structure_cached(self, key, build):
        """build()'s result, kept in the instance under `key` until structure_version() moves."""
        version = structure_version()
        cached = self.__dict__.get(key)
        if cached is None or cached[0] != version:
            cached = self.__dict__[key] = (version, build())
        return cached[1]

    def _sublayers(self):
        """The layers this one holds directly (attributes, and lists/dicts of them), first assigned first;
        cached until structure_version() moves."""
        return list(self._structure_cached("_sublayer_cache", self._find_sublayers))

    def _find_sublayers(self):
        state, found = self.__dict__, []
        for name in self._tracked_attributes:
            found.extend(item for item in _walk(state.get(name)) if isinstance(item, Layer))
        return [layer for layer in _dedup(found) if layer is not self]

    def _flatten_layers(self, include_self=True):
        """This layer and every layer inside it, depth first, each once; cached like the sublayer walk it is
        made of."""
        flat = self._structure_cached("_flat_cache", self._walk_layers)
        return list(flat) if include_self else flat[1:]

    def _walk_layers(self):
        out, stack, seen = [], [self], set()
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack.extend(reversed(layer._sublayers()))
        return out

    @property
    def submodules(self):
        return self._flatten_layers(include_self=False)

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        """As Keras: freezing (or unfreezing) a layer does the same to every layer inside it."""
        for layer in self._flatten_layers():
            layer._trainable = bool(value)

    # ------------------------------------------------------------------ weights
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True, name=None,
                   regularizer=None, constraint=None, **kwargs):
        """Keras 3's add_weight(shape, initializer, dtype, trainable, ..., name); Keras 2's positional name
        first (`add_weight("kernel", shape)`) works too. The initializer defaults to glorot_uniform for
        floats and zeros otherwise."""
        if args and isinstance(args[0], str):  # Keras 2: add_weight(name, shape, dtype, initializer, ...)
            positional = dict(zip(("name", "shape", "dtype", "initializer", "regularizer", "trainable",
                                   "constraint"), args))
        else:
            positional = dict(zip(("shape", "initializer", "dtype", "trainable"), args))
        if len(args) > 7:
            raise TypeError(f"Layer '{self.name}': add_weight takes at most 7 positional arguments")
        given = dict(shape=shape, initializer=initializer, dtype=dtype, trainable=trainable, name=name,
                     regularizer=regularizer, constraint=constraint)
        for key, value in positional.items():
            given[key] = value
        unknown = set(kwargs) - {"use_resource", "synchronization", "aggregation", "autocast", "partitioner",
                                 "caching_device", "experimental_autocast"}
        if unknown:
            raise TypeError(f"Layer '{self.name}': add_weight got unknown keyword argument(s) {sorted(unknown)}")
        shape = () if given["shape"] is None else given["shape"]
        try:
            shape = tuple(int(d) for d in (shape if isinstance(shape, (list, tuple)) else (shape,)))
        except (TypeError, ValueError):
            raise ValueError(f"Layer '{self.name}': add_weight shape must be a tuple of ints, got "
                             f"{given['shape']!r}") from None
        if any(d < 0 for d in shape):
            raise ValueError(f"Layer '{self.name}': add_weight shape must not be negative, got {shape}")
        dtype = np.dtype(given["dtype"] or self.dtype)
        init = given["initializer"]
        if init is None:
            init = "glorot_uniform" if dtype.kind == "f" else "zeros"
        name = given["name"] or self._fresh_weight_name()
        try:
            value = initializers.get(init)(shape, dtype=dtype)
        except MemoryError:
            raise MemoryError(f"Layer '{self.name}' ({type(self).__name__}): its weight '{name}' of shape {shape} "
                              f"({int(np.prod(shape, dtype=object)) * dtype.itemsize} bytes of {dtype}) does not "
                              f"fit in memory") from None
        var = Variable(np.asarray(value, dtype=dtype), name=f"{self.name}/{name}:0",
                       trainable=given["trainable"] is not False, constraint=_get_constraint(given["constraint"]))
        self._own_variables.append(var)
        if given["regularizer"] is not None:
            self._regularized.append((var, _get_regularizer(given["regularizer"])))
        return var

    def _fresh_weight_name(self):
        taken = {v.name for v in self._own_variables}
        n = 0
        while f"{self.name}/{'variable' if n == 0 else f'variable_{n}'}:0" in taken:
            n += 1
        return "variable" if n == 0 else f"variable_{n}"

    @property
    def _trainable_weights(self):
        return [v for v in self._own_variables if v.trainable]

    @property
    def _non_trainable_weights(self):
        return [v for v in self._own_variables if not v.trainable]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        weights = self._trainable_weights
        sublayers = self._sublayers()
        if not sublayers:
            return weights  # _own_variables holds each variable once
        for layer in sublayers:
            weights = weights + layer.trainable_weights
        return _dedup(weights)

    @property
    def non_trainable_weights(self):
        if self.trainable:
            weights = self._non_trainable_weights
            for layer in self._sublayers():
                weights = weights + layer.non_trainable_weights
        else:  # Keras: its own variables, then each inner layer's in turn (the order .h5 files hold them in)
            weights = self._trainable_weights + self._non_trainable_weights
            for layer in self._sublayers():
                weights = weights + layer.weights
        return _dedup(weights)

    @property
    def weights(self):
        return self.trainable_weights + self.non_trainable_weights

    @property
    def variables(self):
        return self.weights

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        return self.non_trainable_weights

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
        if not self.built and not self.weights:
            raise ValueError(f"You tried to call `count_params` on layer '{self.name}', but the layer isn't built. "
                             f"You can build it manually via: `{self.name}.build(batch_input_shape)`.")
        return int(sum(int(np.prod(w.shape)) for w in self.weights))

    # ------------------------------------------------------------------ losses and metrics
    def add_loss(self, loss):
        """A scalar added to the training loss: a value computed in `call`, or a zero-argument callable
        evaluated each time the losses are collected."""
        if isinstance(loss, KerasTensor):
            raise ValueError(f"Layer '{self.name}': add_loss of a symbolic tensor is a functional model's call: "
                             f"use model.add_loss(tensor) on the Model built from it")
        if callable(loss) and not isinstance(loss, (np.ndarray, Traced, Variable)):
            self._loss_callables.append(loss)
        else:
            self._losses.append(loss)

    @property
    def losses(self):
        """The losses of this layer and every layer inside it: those added in the last call, then the
        weight regularizers' and the callables', as Keras collects them."""
        return self._losses_of(self._flatten_layers())

    @staticmethod
    def _losses_of(layers):
        """`losses` over the given layers (a training step walks the model once for these and its metrics)."""
        out = []
        for layer in layers:
            out.extend(layer._losses)
            out.extend(regularizer(var) for var, regularizer in layer._regularized)
            out.extend(fn() for fn in layer._loss_callables)
        return out

    def _clear_losses(self):
        for layer in self._flatten_layers():
            layer._losses.clear()
            layer._metric_values.clear()

    def add_metric(self, value, name=None, aggregation=None):
        """tf.keras 2's add_metric: a value from `call` shown, averaged over the epoch, under `name`."""
        if aggregation not in (None, "mean"):
            raise ValueError(f"Layer '{self.name}': add_metric aggregation must be None or 'mean', "
                             f"got {aggregation!r}")
        if name is None:
            raise ValueError(f"Layer '{self.name}': add_metric needs a name, e.g. add_metric(x, name='mean_x')")
        self._metric_values.append((name, value))

    # ------------------------------------------------------------------ to override
    def build(self, input_shape):
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_mask(self, inputs, mask=None):
        """The mask of the outputs: the input mask for layers that support masking, else none."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        """Output shape(s) for symbolic input shape(s); by default found by running `call` on zeros."""
        return self._shapes_by_running(input_shape)

    def compute_output_spec(self, *args, **kwargs):
        """KerasTensors for the outputs of a call on these (symbolic) arguments."""
        return self._specs_by_running(args, kwargs)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        if self.activity_regularizer is not None and type(self).get_config is Layer.get_config:
            config["activity_regularizer"] = _serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    # ------------------------------------------------------------------ calling
    @property
    def _signature(self):
        sig = self.__dict__.get("_call_signature")
        if sig is None:
            params = inspect.signature(self.call).parameters
            # as Keras 3: only a call that names them gets training and mask (never through **kwargs)
            sig = (params, "training" in params, "mask" in params)
            self.__dict__["_call_signature"] = sig
        return sig

    def _maybe_build(self, input_shape):
        if not self.built:
            self._build_input_shape = input_shape
            self.build(input_shape)
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    def __call__(self, *args, **kwargs):
        if not args:
            if "inputs" not in kwargs:
                raise TypeError(f"Layer '{self.name}' was called without inputs")
            args = (kwargs.pop("inputs"),)
        training = kwargs.pop("training", None)
        mask = kwargs.pop("mask", None)
        if kwargs:
            self._check_call_keywords(kwargs)
        flat = flatten((args, kwargs))
        if any(isinstance(t, KerasTensor) for t in flat):
            return self._call_symbolic(args, kwargs, training, mask)
        first = map_structure(lambda x: _as_array(x, self), args[0])
        args = (first,) + args[1:]
        self._maybe_build(_shapes_of(first))
        if self._checks_eager_shapes and len(args) == 1 and not kwargs:
            self.compute_output_shape(_symbolic_shapes(_shapes_of(first)))  # validates, naming the layer
        outer = _call_state.depth == 0
        if outer:
            self._clear_losses()
        if training is None:
            training = _call_state.training
        with call_context(training):
            return self._call_eager(args, kwargs, training, mask)

    def _check_call_keywords(self, kwargs):
        """Refuse, naming the layer, a keyword its call() does not take (a config's inbound node can hold one)."""
        params = self._signature[0]
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return
        unknown = [k for k in kwargs if k not in params or params[k].kind is inspect.Parameter.POSITIONAL_ONLY]
        if unknown:
            taken = [k for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            raise TypeError(f"Layer '{self.name}' ({type(self).__name__}): call() got unexpected keyword "
                            f"argument(s) {unknown}; it takes {taken}")

    def _relu_fused_call(self, max_value):
        """`(inputs, training) -> relu(call(inputs))` (capped at max_value unless None) in one pass, for the
        graph walk to use when this layer's output goes only to a ReLU; None where the layer has no such call
        (most layers)."""
        return None

    @property
    def _relu_cap(self):
        """What a ReLU-only layer caps at: `math.inf` for max(x, 0), 6.0 for relu6; None for any other layer
        (ReLU and Activation say when)."""
        return None

    def _call_eager(self, args, kwargs, training=None, mask=None):
        """`call` on values, with training and mask passed when its signature takes them."""
        _, takes_training, takes_mask = self.__dict__.get("_call_signature") or self._signature
        if takes_training:
            kwargs = dict(kwargs, training=training)
        if takes_mask and mask is not None:
            kwargs = dict(kwargs, mask=mask)
        out = self.call(*args, **kwargs)
        if self.activity_regularizer is not None:
            for value in flatten(out):
                # Keras 2 averages the activity penalty over the batch
                self.add_loss(self.activity_regularizer(value) / np.float32(value.shape[0]))
        return out

    def _call_symbolic(self, args, kwargs, training, mask):
        first = args[0]
        input_shape = [t.shape for t in first] if isinstance(first, (list, tuple)) else first.shape
        self._maybe_build(input_shape)
        flat_in = [t for t in flatten(args) if isinstance(t, KerasTensor)]
        call_kwargs = dict(kwargs)
        if training is not None:
            call_kwargs["training"] = training
        if mask is not None:
            call_kwargs["mask"] = mask
        if len(args) == 1 and not kwargs and (
                type(self).compute_output_shape is not Layer.compute_output_shape
                or type(self).compute_output_spec is Layer.compute_output_spec):
            out_shape = self.compute_output_shape(input_shape)
            dtype = self._output_dtype(flat_in)
            structure = _map_shapes(lambda s: KerasTensor(s, dtype), out_shape)
        else:
            structure = self.compute_output_spec(*args, **kwargs)
        has_mask = self._produces_mask(args, mask)
        outputs = flatten(structure)
        for t in outputs:
            t.has_mask = has_mask
        Node(self, args, call_kwargs, outputs, structure)
        for i, t in enumerate(outputs):
            t.name = f"{self.name}/{len(self._inbound_nodes) - 1}/{i}"
        return structure

    def _output_dtype(self, flat_in):
        return self.dtype

    def _produces_mask(self, args, mask):
        """Whether the outputs carry a mask: a layer that passes masks on (supports_masking) does when one
        comes in; one that computes its own (compute_mask overridden, without supports_masking) always does.
        Mask sources that also pass masks on (Masking) say so themselves."""
        incoming = mask is not None or any(getattr(t, "has_mask", False) for t in flatten(args[0]))
        if self.supports_masking:
            return incoming
        return type(self).compute_mask is not Layer.compute_mask

    def _shapes_by_running(self, input_shape):
        def dummy(shape):
            return np.zeros(tuple(1 if d is None else d for d in shape), dtype=self.dtype)
        inputs = _map_shapes(dummy, input_shape)
        with call_context(False):
            out = self._call_eager((inputs,), {}, False, None)
        self._clear_losses()
        return _map_arrays(lambda a: (None,) + tuple(np.shape(a)[1:]), out)

    def _specs_by_running(self, args, kwargs):
        """Output KerasTensors found by running `call` on zeros shaped as the symbolic arguments."""
        def dummy(t):
            if isinstance(t, KerasTensor):
                return np.zeros(tuple(1 if d is None else d for d in t.shape), dtype=t.dtype.as_numpy_dtype)
            return t
        with call_context(False):
            out = self._call_eager(map_structure(dummy, tuple(args)), map_structure(dummy, kwargs), False, None)
        self._clear_losses()
        return _map_arrays(lambda a: KerasTensor((None,) + tuple(np.shape(a)[1:]),
                                                 np.asarray(a).dtype if np.asarray(a).dtype.kind in "biuf"
                                                 else self.dtype), out)

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


def _float_dtype_name(dtype, layer):
    if isinstance(dtype, dict):  # Keras 3's DTypePolicy config
        dtype = dtype.get("config", {}).get("name", "float32")
    if isinstance(dtype, str) and dtype.startswith("mixed_"):
        raise ValueError(f"{type(layer).__name__}: mixed-precision policy {dtype!r} is not supported")
    try:
        return np.dtype(dtype or "float32").name
    except TypeError:
        raise ValueError(f"{type(layer).__name__}: unknown dtype {dtype!r}") from None


def _get_regularizer(value):
    if value is None:
        return None
    from minigraph import regularizers  # one level below layers; imported lazily while it is optional
    return regularizers.get(value)


def _get_constraint(value):
    if value is None:
        return None
    from minigraph import constraints
    return constraints.get(value)


def _serialize(obj):
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def _map_arrays(fn, out):
    """fn on each array of a call's output (an array, or lists, tuples, dicts of them)."""
    if isinstance(out, (list, tuple)):
        return type(out)(_map_arrays(fn, x) for x in out)
    if isinstance(out, dict):
        return {k: _map_arrays(fn, v) for k, v in out.items()}
    return fn(out)


def _is_one_shape(shape):
    return isinstance(shape, (list, tuple)) and all(d is None or isinstance(d, (int, np.integer)) for d in shape)


def _map_shapes(fn, shapes):
    """fn on each shape of compute_output_shape's answer (a shape, or lists, tuples, dicts of shapes)."""
    if _is_one_shape(shapes):
        return fn(tuple(shapes))
    if isinstance(shapes, dict):
        return {k: _map_shapes(fn, v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)):
        return type(shapes)(_map_shapes(fn, s) for s in shapes)
    raise TypeError(f"compute_output_shape returned {shapes!r}, which is not a shape or a structure of shapes")


def _as_array(x, layer):
    if isinstance(x, np.ndarray):
        return x if x.dtype.kind == "f" or not layer._casts_integer_inputs else x.astype(np.float32)
    if isinstance(x, Traced):
        return x
    if isinstance(x, Variable):
        return x.value
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise ValueError(f"Layer '{layer.name}' cannot take the input {type(x).__name__}: {err}") from None
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"Layer '{layer.name}' expects numeric input, got dtype {arr.dtype}")
    return arr if arr.dtype.kind == "f" or not layer._casts_integer_inputs else arr.astype(np.float32)


def _symbolic_shapes(shapes):
    return _map_shapes(lambda s: (None,) + tuple(s[1:]), shapes)


def _shapes_of(inputs):
    if isinstance(inputs, (list, tuple)):
        return [tuple(np.shape(x)) for x in inputs]
    if isinstance(inputs, dict):
        return {k: tuple(np.shape(x)) for k, x in inputs.items()}
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
