"""The functional graph: a model made of the nodes between its inputs and outputs.

One walk of the graph, computed once when the model is built (the graph is static), serves everything:
the execution plan that runs the model, `model.layers` in Keras' order, the summary, and the
serialized config. The walk is iterative, so deep graphs don't hit Python's recursion limit.
"""
import collections
import math

import numpy as np

from minigraph import registry
from minigraph.layers.base import (KerasTensor, Layer, Node, _call_state, call_context, flatten, map_structure,
                                   pack_as, shape_str, to_snake_case, unique_name)
from minigraph.layers.input_layer import InputLayer
from minigraph.layers.tracking import structure_changed


def _nodes_from_inputs_to_outputs(outputs):
    """Nodes reachable from `outputs` in depth-first post-order, and each layer's order of discovery."""
    finished, order, layer_indices = set(), [], {}
    for out in outputs:
        stack = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if node not in finished:
                    finished.add(node)
                    order.append(node)
                continue
            if node in finished:
                continue
            layer_indices.setdefault(node.layer, len(layer_indices))
            stack.append((node, True))
            stack.extend((t.node, False) for t in reversed(node.inputs))
    return order, layer_indices


def _sources(tensors):
    """The nodes without symbolic inputs that `tensors` are computed from (Inputs, and any constants), and
    the tensors among them that no layer made (a KerasTensor built by hand)."""
    found, orphans, seen, stack = [], [], set(), list(tensors)
    while stack:
        t = stack.pop()
        node = t.node
        if node is None:
            if all(t is not o for o in orphans):
                orphans.append(t)
            continue
        if node in seen:
            continue
        seen.add(node)
        if not node.inputs:
            found.append(node)
        stack.extend(node.inputs)
    return found, orphans


def _missing_inputs(tensors, inputs):
    """Names of the keras.Input tensors `tensors` come from that are not among `inputs`."""
    given = {id(t) for t in inputs}
    return [t.name for node in _sources(tensors)[0] if isinstance(node.layer, InputLayer)
            for t in node.outputs if id(t) not in given]


def check_endpoints(name, inputs, outputs):
    """Refuse an input listed twice (both would share one value), an output computed from an Input not
    among the inputs, and an output that depends on no input at all."""
    positions = {}
    for i, t in enumerate(inputs):
        if id(t) in positions:
            raise ValueError(f"Model '{name}': the input tensor '{t.name}' is listed twice in inputs (positions "
                             f"{positions[id(t)]} and {i}); each keras.Input can be one input only")
        positions[id(t)] = i
    for t in outputs:
        missing = _missing_inputs([t], inputs)
        if missing:
            raise ValueError(f"Graph disconnected in model '{name}': the output '{t.name}' (of layer "
                             f"'{t.node.layer.name}') is computed from the Input(s) {missing}, "
                             f"which are not among the model's inputs {[i.name for i in inputs]}")
        sources, orphans = _sources([t])
        if orphans:
            raise ValueError(f"Model '{name}': the output '{t.name}' is computed from the tensor(s) "
                             f"{[o.name for o in orphans]}, which no layer made (a KerasTensor built by hand "
                             f"rather than by keras.Input or a layer), so no input of {[i.name for i in inputs]} "
                             f"determines it")
        if not any(id(out) in positions for node in sources for out in node.outputs):
            raise ValueError(f"Model '{name}': the output '{t.name}' does not depend on any of the model's "
                             f"inputs {[i.name for i in inputs]}")


def map_graph(inputs, outputs):
    """Keras' _map_graph_network: network nodes, nodes by depth and layers by decreasing depth."""
    order, layer_indices = _nodes_from_inputs_to_outputs(outputs)
    node_depth, layer_depth = {}, {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[node] = depth
        for parent in node.parent_nodes:
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in inputs:  # inputs that don't reach an output still belong to the model
        layer = t.node.layer
        if layer not in layer_depth:
            layer_depth[layer] = 0
            layer_indices[layer] = -1
            node_depth[t.node] = 0
    nodes_by_depth = collections.defaultdict(list)
    for node, depth in node_depth.items():
        nodes_by_depth[depth].append(node)
    layers_by_depth = collections.defaultdict(list)
    for layer, depth in layer_depth.items():
        layers_by_depth[depth].append(layer)
    layers = []
    for depth in sorted(layers_by_depth, reverse=True):
        layers.extend(sorted(layers_by_depth[depth], key=lambda lay: layer_indices[lay]))

    computable = {id(t) for t in inputs}
    done = []
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if node.is_input:
                continue
            for t in node.inputs:
                if id(t) not in computable:
                    missing = _missing_inputs([t], inputs)
                    raise ValueError(
                        f"Graph disconnected: cannot obtain value for tensor {t.name} of shape {shape_str(t.shape)} "
                        f"at layer '{node.layer.name}'"
                        + (f" (it is computed from the Input(s) {missing}, which are not among the model's inputs "
                           f"{[i.name for i in inputs]})" if missing else "")
                        + f". The following previous layers were accessed without issue: {done}")
            computable.update(id(t) for t in node.outputs)
            done.append(node.layer.name)
    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the model. '
                             f"All layer names should be unique.")
    return set(node_depth), nodes_by_depth, layers


class _Slot:
    """Where the graph walk keeps one tensor's value (a leaf of a node's argument template)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


class _Step:
    """One node of the execution plan: which values go in (by slot), which come out, what is freed."""

    __slots__ = ("layer", "single", "args", "kwargs", "training", "outs", "frees", "mask_in", "mask_outs",
                 "fused", "alias")

    def __init__(self, node, slot):
        self.layer = node.layer
        kwargs = dict(node.call_kwargs)
        self.training = kwargs.pop("training", None)  # given at the call: it overrides the outer flag
        kwargs.pop("mask", None)  # masks travel beside the values (mask slots)
        fill = lambda t: _Slot(slot[id(t)]) if isinstance(t, KerasTensor) else t  # noqa: E731
        self.single = slot[id(node.call_args[0])] if node.single_input else None
        self.args = map_structure(fill, node.call_args)
        self.kwargs = map_structure(fill, kwargs)
        self.outs = [slot.setdefault(id(t), len(slot)) for t in node.outputs]
        self.frees = ()
        first = node.call_args[0] if node.call_args else None
        self.mask_in = map_structure(fill, first) if any(t.has_mask for t in flatten(first)
                                                         if isinstance(t, KerasTensor)) else None
        self.mask_outs = self.outs if any(t.has_mask for t in node.outputs) else None
        self.fused = None  # (inputs, training) -> the layer's output through the ReLU step after it
        self.alias = False  # a ReLU step that the step before runs (its fused): it passes its input on


_NO_KWARGS = {}  # read only


def only_input(step):
    """The value slot of a step's one argument (a call `layer(x)`, `training=` aside), else None."""
    if step.single is not None:
        return step.single
    if len(step.args) == 1 and type(step.args[0]) is _Slot and not step.kwargs:
        return step.args[0].index
    return None


def _fuse_relus(steps, keep):
    """Fold each ReLU step (plain or capped) into the step that makes its input, where that layer offers a fused call
    (`_relu_fused_call`: BatchNormalization's kernels apply the ReLU in the same pass, forward and backward)
    and nothing else reads the value in between: one output, read only by the ReLU, not a model output or
    loss, no masks on either side."""
    readers = collections.Counter(s.index for step in steps for s in flatten((step.args, step.kwargs, step.mask_in))
                                  if isinstance(s, _Slot))
    producers = {step.outs[0]: step for step in steps if len(step.outs) == 1}
    for step in steps:
        source = producers.get(step.single) if step.single is not None else None
        cap = step.layer._relu_cap
        if (source is None or only_input(source) is None or cap is None or readers[step.single] != 1
                or step.single in keep or step.mask_in is not None or step.mask_outs is not None
                or source.mask_outs is not None):
            continue
        fused = source.layer._relu_fused_call(None if cap == math.inf else cap)
        if fused is not None:
            source.fused, step.alias = fused, True


def _filled(template, values):
    return map_structure(lambda leaf: values[leaf.index] if isinstance(leaf, _Slot) else leaf, template)


class Network(Layer):
    """A layer made of other layers: a graph of them (Keras' Functional), or, for a subclassed model, the
    layers its attributes hold and its own `call`."""

    _UNTRACKED = Layer._UNTRACKED | {"_layers", "_input_layers", "_output_coordinates", "_input_coordinates",
                                     "_nested_inputs", "_nested_outputs", "inputs", "outputs", "_network_nodes",
                                     "_nodes_by_depth", "_plan", "_symbolic_losses", "_symbolic_metrics"}
    _checks_eager_shapes = False

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name or unique_name(to_snake_case(type(self).__name__) if type(self).__name__
                                                  not in ("Model", "Functional") else "model"),
                         trainable=trainable, **kwargs)
        self._is_graph_network = False
        self._symbolic_losses = []  # model.add_loss(tensor): extra graph outputs added to the losses
        self._symbolic_metrics = []  # model.add_metric(tensor, name): (name, tensor)
        if inputs is not None:
            self._init_graph(inputs, outputs)

    # ------------------------------------------------------------------ construction
    def _init_graph(self, inputs, outputs):
        if outputs is None:
            raise ValueError(f"Model '{self.name}' needs outputs: Model(inputs, outputs)")
        if isinstance(inputs, dict):
            inputs = list(inputs.values())
        self._nested_inputs, self._nested_outputs = inputs, outputs
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise ValueError(f"Model '{self.name}': inputs and outputs must be symbolic tensors from "
                                 f"keras.Input and layers, got {type(t).__name__}")
        for t in self.inputs:
            if t.node is None or not isinstance(t.node.layer, InputLayer):
                what = ("the tensor '{}', made by no layer".format(t.name) if t.node is None
                        else f"the output of layer '{t.node.layer.name}'")
                raise ValueError(f"Model '{self.name}': input tensors must come from keras.Input, got {what}")
        check_endpoints(self.name, self.inputs, self.outputs)
        self._network_nodes, self._nodes_by_depth, self._layers = map_graph(self.inputs, self.outputs)
        structure_changed()  # _layers is what _sublayers returns now
        self._input_layers = [t.node.layer for t in self.inputs]
        self._output_coordinates = [t._keras_history for t in self.outputs]
        self._input_coordinates = [t._keras_history for t in self.inputs]
        self._is_graph_network = True
        self._make_plan()
        self.built = True
        Node(self, (self._nested_inputs,), {}, self.outputs, self._nested_outputs, internal=True)  # node 0

    def _make_plan(self):
        """The execution plan: the nodes in dependency order, each reading and writing value slots, and
        freeing each intermediate after its last use, so inference keeps only what it still needs."""
        slot = {}
        for t in self.inputs:
            slot.setdefault(id(t), len(slot))
        extra = self._symbolic_losses + [t for _, t in self._symbolic_metrics]
        nodes = self._nodes_by_depth
        if extra:  # the losses' own nodes, walked the same way
            _, nodes, _ = map_graph(self.inputs, self.outputs + extra)
        steps = [_Step(node, slot) for depth in sorted(nodes, reverse=True) for node in nodes[depth]
                 if not node.is_input]
        keep = {slot[id(t)] for t in self.outputs + extra}
        last_use = {}
        for i, step in enumerate(steps):
            for s in flatten((step.args, step.kwargs, step.mask_in)):
                if isinstance(s, _Slot):
                    last_use[s.index] = i
        frees = [[] for _ in steps]
        for s, i in last_use.items():
            if s not in keep:
                frees[i].append(s)
        for step, free in zip(steps, frees):
            step.frees = tuple(free)
        _fuse_relus(steps, keep)
        self._n_slots = len(slot)
        self._input_slots = [slot[id(t)] for t in self.inputs]
        self._output_slots = [slot[id(t)] for t in self.outputs]
        self._loss_slots = [slot[id(t)] for t in self._symbolic_losses]
        self._metric_slots = [(name, slot[id(t)]) for name, t in self._symbolic_metrics]
        self._uses_masks = any(step.mask_in is not None or step.mask_outs is not None for step in steps)
        self._plan = steps

    def add_loss(self, loss):
        """model.add_loss(tensor) on a functional model's symbolic tensors; otherwise Layer.add_loss."""
        if isinstance(loss, KerasTensor) and self._is_graph_network:
            self._symbolic_losses.append(loss)
            self._make_plan()
        else:
            super().add_loss(loss)

    def add_metric(self, value, name=None, aggregation=None):
        if isinstance(value, KerasTensor) and self._is_graph_network:
            if name is None:
                raise ValueError(f"Model '{self.name}': add_metric needs a name")
            self._symbolic_metrics.append((name, value))
            self._make_plan()
        else:
            super().add_metric(value, name=name, aggregation=aggregation)

    # ------------------------------------------------------------------ views
    @property
    def layers(self):
        if self._is_graph_network:
            return list(self._layers)
        return self._sublayers()

    def _sublayers(self):
        if self._is_graph_network:
            return [layer for layer in self._layers if layer is not self]
        return super()._sublayers()

    @property
    def weights(self):
        """As Keras's Model.weights: layer by layer (each layer's variables together), then the model's own."""
        collected = []
        for layer in self._sublayers():
            collected.extend(layer.weights)
        return _dedup_variables(collected + self._trainable_weights + self._non_trainable_weights)

    def get_layer(self, name=None, index=None):
        layers = self.layers
        if index is not None:
            if not 0 <= index < len(layers):
                raise ValueError(f"Model '{self.name}' has {len(layers)} layers; index {index} is out of range")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[lay.name for lay in layers]}.")

    @property
    def input_names(self):
        return [layer.name for layer in self._input_layers]

    @property
    def output_names(self):
        return [layer.name for layer, _, _ in self._output_coordinates]

    # ------------------------------------------------------------------ running
    def build(self, input_shape):
        if self._is_graph_network:
            self.built = True
            return
        if input_shape is None:
            raise ValueError(f"Model '{self.name}': build() needs an input shape")
        # a subclassed model creates its weights by running its call once on zeros of that shape
        self.built = True
        self._shapes_by_running(input_shape)

    def _maybe_build(self, input_shape):
        if not self._is_graph_network and type(self).build is Network.build:
            self.built = True  # the call about to run creates the weights: no need for a dry run first
            return
        super()._maybe_build(input_shape)

    def compute_output_shape(self, input_shape):
        if not self._is_graph_network:
            return self._shapes_by_running(input_shape)
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        self._check_input_shapes(shapes)
        return self._nest_outputs([t.shape for t in self.outputs])

    def _nest_outputs(self, flat):
        """The flat outputs in the structure the model was built with: a list, a dict (keyed as the outputs
        were), or the single output."""
        if isinstance(self._nested_outputs, dict):
            return pack_as(self._nested_outputs, flat)
        return flat if isinstance(self._nested_outputs, (list, tuple)) else flat[0]

    def _check_input_shapes(self, shapes):
        if len(shapes) != len(self.inputs):
            raise ValueError(f"Model '{self.name}' expects {len(self.inputs)} input(s), but it received "
                             f"{len(shapes)} input tensors")
        for t, shape in zip(self.inputs, shapes):
            expected = t.shape
            ok = len(shape) == len(expected) and all(
                e is None or s is None or e == s for e, s in zip(expected, shape))
            if not ok:
                raise ValueError(f"Input '{t.node.layer.name}' of model '{self.name}' is incompatible: expected "
                                 f"shape {shape_str(expected)}, found shape {shape_str(tuple(shape))}")

    def call(self, inputs, training=None, mask=None):
        if not self._is_graph_network:
            raise NotImplementedError(f"Model '{self.name}' ({type(self).__name__}) has no graph: a subclassed "
                                      f"model defines call(self, inputs, training=None)")
        if training is None:
            training = bool(_call_state.training)
        if isinstance(inputs, dict):
            flat = [inputs[name] for name in self.input_names]
        else:
            flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        values = [None] * self._n_slots
        masks = [None] * self._n_slots if self._uses_masks else None
        for s, x in zip(self._input_slots, flat):
            values[s] = x
        if masks is not None and mask is not None:
            for s, m in zip(self._input_slots, flatten(mask)):
                masks[s] = m
        state = _call_state  # the training flag for layers inside (call_context, inlined: a hot path)
        saved = state.training, state.depth
        state.training, state.depth = training, saved[1] + 1
        try:
            for step in self._plan:
                layer = step.layer
                flag = training if step.training is None else step.training
                if step.single is not None:
                    args, kwargs = (values[step.single],), _NO_KWARGS
                else:
                    args, kwargs = _filled(step.args, values), _filled(step.kwargs, values)
                step_mask = None
                if step.mask_in is not None:
                    step_mask = _filled(step.mask_in, masks)
                    if all(m is None for m in flatten(step_mask)):
                        step_mask = None
                if step.alias:
                    result = args[0]
                elif step.fused is not None:
                    result = step.fused(args[0], flag)
                else:
                    result = layer._call_eager(args, kwargs, flag, step_mask)
                outs = step.outs
                if len(outs) == 1:
                    values[outs[0]] = flatten(result)[0] if isinstance(result, (list, tuple, dict)) else result
                else:
                    for s, r in zip(outs, flatten(result)):
                        values[s] = r
                if step.mask_outs is not None:
                    out_mask = layer.compute_mask(args[0], step_mask)
                    out_masks = flatten(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
                    for s, m in zip(step.mask_outs, out_masks):
                        masks[s] = m
                for s in step.frees:
                    values[s] = None
        finally:
            state.training, state.depth = saved
        for s in self._loss_slots:
            self._losses.append(values[s])
        for name, s in self._metric_slots:
            self._metric_values.append((name, values[s]))
        results = [values[s] for s in self._output_slots]
        if masks is not None:
            self._last_output_masks = [masks[s] for s in self._output_slots]
        return self._nest_outputs(results)

    # ------------------------------------------------------------------ serialization
    def _node_index_map(self):
        """Keras' node_conversion_map: a node's index counted only over this model's nodes."""
        conversion = {}
        for layer in self._layers:
            kept = 1 if getattr(layer, "_is_graph_network", False) else 0  # a nested model's node 0 is its own
            for index, node in enumerate(layer._inbound_nodes):
                if node in self._network_nodes:
                    conversion[(layer.name, index)] = kept
                    kept += 1
        return conversion

    def get_config(self):
        if not self._is_graph_network:
            raise NotImplementedError(
                f"Model '{self.name}' ({type(self).__name__}) is a subclassed model: its architecture is the "
                f"Python code of its call(), which no config describes. Define get_config() (and from_config) "
                f"to serialize it, or save its weights with save_weights().")
        conversion = self._node_index_map()
        layer_configs = []
        for layer in self._layers:
            inbound = [serialize_node(node, conversion) for node in layer._inbound_nodes
                       if node in self._network_nodes and not node.is_input]
            layer_configs.append({"class_name": registry_name(layer), "config": layer.get_config(),
                                  "name": layer.name, "inbound_nodes": inbound})

        def coordinates(tensors):
            return [[layer.name, conversion[(layer.name, idx)], ti]
                    for layer, idx, ti in (t._keras_history for t in tensors)]
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": coordinates(self.inputs), "output_layers": coordinates(self.outputs)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if "layers" not in config or "input_layers" not in config:  # a subclassed model's own config
            return cls(**config)
        inputs, outputs, name = rebuild_graph(config, custom_objects)
        model = cls(inputs=inputs, outputs=outputs, name=name)
        if config.get("trainable") is False:
            model.trainable = False
        return model


def _dedup_variables(variables):
    seen, out = set(), []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def registry_name(layer):
    return "Functional" if type(layer).__name__ in ("Model", "Functional") else type(layer).__name__


def _plain_constant(value):
    """A call argument as JSON: arrays as lists, slices and Ellipsis as Keras 2 writes them."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, slice):
        return {"class_name": "__slice__", "config": {"start": _plain_constant(value.start),
                                                      "stop": _plain_constant(value.stop),
                                                      "step": _plain_constant(value.step)}}
    if value is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    return value


def _constant_of(item):
    """The inverse of _plain_constant for the objects it writes."""
    if isinstance(item, dict) and item.get("class_name") == "__slice__":
        c = item.get("config", {})
        return slice(c.get("start"), c.get("stop"), c.get("step"))
    if isinstance(item, dict) and item.get("class_name") == "__ellipsis__":
        return Ellipsis
    return item


def _tensor_reference(t, conversion):
    layer, index, tensor_index = t._keras_history
    return [layer.name, conversion[(layer.name, index)], tensor_index]


def serialize_node(node, conversion, form="keras2"):
    """One inbound node of a layer config.

    keras2: Keras 2's list form. Each tensor of the first argument is [layer, node, tensor, kwargs], where
    kwargs holds the call's other arguments (further positional ones by their parameter names), tensors
    among them as [layer, node, tensor].
    keras3: {"args": [...], "kwargs": {...}} with every tensor as a __keras_tensor__ object whose node index
    counts a nested model's calls from 0.
    """
    args, kwargs = node.call_args, dict(node.call_kwargs)
    if form == "keras3":
        def ref3(t):
            if not isinstance(t, KerasTensor):
                return _plain_constant(t)
            name, index, tensor_index = _tensor_reference(t, conversion)
            if getattr(t.node.layer, "_is_graph_network", False):
                index -= 1
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(t.shape), "dtype": t.dtype.name,
                               "keras_history": [name, index, tensor_index]}}
        return {"args": map_structure(ref3, list(args)), "kwargs": map_structure(ref3, kwargs)}
    if len(args) > 1:
        params = [p for p in node.layer._signature[0].values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        kwargs = {**{p.name: a for p, a in zip(params[1:], args[1:])}, **kwargs}

    def plain(t):
        if isinstance(t, KerasTensor):
            return _tensor_reference(t, conversion)
        return _plain_constant(t)
    kwargs = map_structure(plain, kwargs)

    def entry(t):
        if isinstance(t, KerasTensor):
            return _tensor_reference(t, conversion) + [kwargs]
        return [plain(t), -1, 0, kwargs]
    first = args[0] if args else []
    data = map_structure(entry, first)
    return [data] if not isinstance(first, (list, tuple, dict)) else data


def _is_entry(data):
    """A Keras 2 node entry or tensor reference: [layer name, node index, tensor index(, kwargs)]."""
    return (isinstance(data, list) and len(data) in (3, 4) and isinstance(data[0], str)
            and isinstance(data[1], int) and isinstance(data[2], int))


def _map_entries(fn, data):
    if _is_entry(data):
        return fn(data)
    if isinstance(data, list):
        return [_map_entries(fn, x) for x in data]
    if isinstance(data, dict):
        return {k: _map_entries(fn, v) for k, v in data.items()}
    return data


def _call_of(node_data, tensor):
    """(args, kwargs) of a config's inbound node, tensors looked up with tensor(name, node, index, keras3)."""
    if isinstance(node_data, dict) and ("args" in node_data or "kwargs" in node_data):
        def resolve(item):
            if isinstance(item, dict):
                if item.get("class_name") == "__keras_tensor__":
                    history = item["config"]["keras_history"]
                    return tensor(history[0], history[1], history[2], True)
                if item.get("class_name") in ("__slice__", "__ellipsis__"):
                    return _constant_of(item)
                return {k: resolve(v) for k, v in item.items()}
            if isinstance(item, list):
                return [resolve(x) for x in item]
            return item
        return tuple(resolve(node_data.get("args", []))), resolve(node_data.get("kwargs", {}))
    kwargs = {}

    def first_arg(entry):
        nonlocal kwargs
        if len(entry) > 3 and entry[3]:
            kwargs = entry[3]
        if entry[1] == -1:  # a constant in place of a tensor
            return entry[0]
        return tensor(entry[0], entry[1], entry[2], False)
    first = _map_entries(first_arg, node_data)
    if isinstance(first, list) and len(first) == 1:
        first = first[0]
    kwargs = _map_entries(lambda ref: tensor(ref[0], ref[1], ref[2], False), kwargs)
    return (first,), _map_constants(kwargs)


def _map_constants(data):
    if isinstance(data, dict) and data.get("class_name") in ("__slice__", "__ellipsis__"):
        return _constant_of(data)
    if isinstance(data, dict):
        return {k: _map_constants(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_map_constants(v) for v in data]
    return data


class _Pending(Exception):
    """A tensor a node needs has not been made yet: replay that node later."""


def rebuild_graph(config, custom_objects=None):
    """Recreate the layers of a Functional config and replay its calls; returns (inputs, outputs, name)."""
    created = {}
    pending = collections.deque()
    for layer_data in config["layers"]:
        layer = registry.deserialize(layer_data, custom_objects)
        created[layer_data["name"]] = layer
        for node_data in layer_data.get("inbound_nodes", []):
            pending.append((layer, node_data))

    def tensor(layer_name, node_index, tensor_index, counted_from_zero=False):
        if layer_name not in created:
            raise ValueError(f"Model config '{config.get('name')}' refers to a layer '{layer_name}' it does not "
                             f"define")
        layer = created[layer_name]
        if counted_from_zero and getattr(layer, "_is_graph_network", False):
            node_index += 1
        nodes = layer._inbound_nodes
        if node_index >= len(nodes):
            raise _Pending()
        return nodes[node_index].outputs[tensor_index]

    stalled = 0
    while pending:  # replay calls in an order where every input already exists
        layer, node_data = pending.popleft()
        try:
            args, kwargs = _call_of(node_data, tensor)
        except _Pending:
            pending.append((layer, node_data))
            stalled += 1
            if stalled > len(pending):
                raise ValueError(f"Model config '{config.get('name')}' cannot be rebuilt: layer '{layer.name}' "
                                 f"waits on inputs that are never created") from None
            continue
        stalled = 0
        layer(*args, **kwargs)

    def coordinates(spec):
        if spec and not isinstance(spec[0], (list, tuple)):
            spec = [spec]
        try:
            return [tensor(*entry[:3]) for entry in spec]
        except _Pending:
            raise ValueError(f"Model config '{config.get('name')}' names an input or output that its layers "
                             f"never produce") from None
    ins = coordinates(config["input_layers"])
    outs = coordinates(config["output_layers"])
    return (ins if len(ins) > 1 else ins[0]), (outs if len(outs) > 1 else outs[0]), config.get("name")


def _numeric_array(value, what):
    """value as a numpy array of real numbers; floating data becomes float32 (the models compute in it)."""
    try:
        arr = np.asarray(value)
    except ValueError as err:
        raise ValueError(f"{what} is not a rectangular array ({err})") from None
    if arr.dtype == object or arr.dtype.kind not in "fiub":
        raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
    return arr.astype(np.float32) if arr.dtype.kind == "f" and arr.dtype != np.float32 else arr


def as_numpy_inputs(model, x, cast=True):
    """Normalise user data for a model: one array per input, in input order, in the inputs' dtypes (with
    cast=False, checked but left in their own dtype, for the caller to cast batch by batch)."""
    if isinstance(x, dict):
        missing = [n for n in model.input_names if n not in x]
        if missing:
            raise ValueError(f"Model '{model.name}': missing data for input(s) {missing}; got keys {sorted(x)}")
        x = [x[n] for n in model.input_names]
    elif not isinstance(x, (list, tuple)) or len(model.inputs) == 1 and _is_ragged_or_scalar_list(x):
        x = [x]
    if len(x) != len(model.inputs):
        raise ValueError(f"Model '{model.name}' expects {len(model.inputs)} input array(s), but received {len(x)}")
    arrays = []
    for t, value in zip(model.inputs, x):
        try:
            arr = np.asarray(value)
        except ValueError as err:
            raise ValueError(f"Model '{model.name}': input '{t.node.layer.name}' is not a rectangular array "
                             f"({err})") from None
        if arr.dtype == object or arr.dtype.kind not in "fiub":
            raise ValueError(f"Model '{model.name}': input '{t.node.layer.name}' must be numeric, got dtype "
                             f"{arr.dtype}")
        if cast and arr.dtype != t.dtype.as_numpy_dtype:
            arr = arr.astype(t.dtype.as_numpy_dtype)
        arrays.append(arr)
    model._check_input_shapes([a.shape for a in arrays])
    return arrays


def _is_ragged_or_scalar_list(x):
    """A list meant as one input (nested numbers) rather than one array per input."""
    return bool(x) and not isinstance(x[0], np.ndarray) and not hasattr(x[0], "__array__")
