"""The functional graph: a model made of the nodes between its inputs and outputs.

One walk of the graph, computed once when the model is built (the graph is static), serves everything:
the execution plan that runs the model, `model.layers` in Keras' order, the summary, and the
serialized config. The walk is iterative, so deep graphs don't hit Python's recursion limit.
"""
import collections

import numpy as np

from minigraph import registry
from minigraph.layers.base import KerasTensor, Layer, Node, flatten, shape_str, unique_name
from minigraph.layers.input_layer import InputLayer


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
                    raise ValueError(
                        f"Graph disconnected: cannot obtain value for tensor {t.name} of shape {shape_str(t.shape)} "
                        f"at layer '{node.layer.name}'. The following previous layers were accessed without "
                        f"issue: {done}")
            computable.update(id(t) for t in node.outputs)
            done.append(node.layer.name)
    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the model. '
                             f"All layer names should be unique.")
    return set(node_depth), nodes_by_depth, layers


class Network(Layer):
    """A layer whose computation is a graph of other layers (Keras' Functional)."""

    _is_graph_network = True

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name or unique_name("model"), trainable=trainable, **kwargs)
        if inputs is not None:
            self._init_graph(inputs, outputs)

    # ------------------------------------------------------------------ construction
    def _init_graph(self, inputs, outputs):
        if isinstance(inputs, dict):
            inputs = list(inputs.values())
        self._nested_inputs, self._nested_outputs = inputs, outputs
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise ValueError(f"Model '{self.name}': inputs and outputs must be symbolic tensors from "
                                 f"keras.Input and layers, got {type(t).__name__}")
        for t in self.inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model '{self.name}': input tensors must come from keras.Input, got the output "
                                 f"of layer '{t.node.layer.name}'")
        self._network_nodes, self._nodes_by_depth, self._layers = map_graph(self.inputs, self.outputs)
        self._input_layers = [t.node.layer for t in self.inputs]
        self._output_coordinates = [t._keras_history for t in self.outputs]
        self._input_coordinates = [t._keras_history for t in self.inputs]
        self._plan = self._make_plan()
        self.built = True
        Node(self, self.inputs, self.outputs, internal=True)  # node 0: the model's own graph

    def _make_plan(self):
        """Execution plan: (layer, input slots, takes_list, output slots, kwargs, slots to free) per node."""
        slot = {}
        for t in self.inputs:
            slot.setdefault(id(t), len(slot))
        steps = []
        for depth in sorted(self._nodes_by_depth, reverse=True):
            for node in self._nodes_by_depth[depth]:
                if node.is_input:
                    continue
                ins = [slot[id(t)] for t in node.inputs]
                outs = []
                for t in node.outputs:
                    outs.append(slot.setdefault(id(t), len(slot)))
                steps.append([node.layer, ins, node.input_structure == "list", outs, node.call_kwargs])
        # free each intermediate after its last use so inference keeps only what it still needs
        keep = {slot[id(t)] for t in self.outputs}
        last_use = {}
        for i, step in enumerate(steps):
            for s in step[1]:
                last_use[s] = i
        frees = [[] for _ in steps]
        for s, i in last_use.items():
            if s not in keep:
                frees[i].append(s)
        self._n_slots = len(slot)
        self._input_slots = [slot[id(t)] for t in self.inputs]
        self._output_slots = [slot[id(t)] for t in self.outputs]
        return [tuple(step) + (tuple(free),) for step, free in zip(steps, frees)]

    # ------------------------------------------------------------------ views
    @property
    def layers(self):
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            if not 0 <= index < len(self._layers):
                raise ValueError(f"Model '{self.name}' has {len(self._layers)} layers; index {index} is out of range")
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: {[lay.name for lay in self._layers]}.")

    def _dedup(self, attr):
        seen, out = set(), []
        for layer in self._layers:
            for w in getattr(layer, attr):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self):
        return self._dedup("trainable_weights") if self.trainable else []

    @property
    def non_trainable_weights(self):
        if self.trainable:
            return self._dedup("non_trainable_weights")
        return self._dedup("weights")  # Keras: each layer's variables in turn (the order h5 files hold them in)

    @property
    def input_names(self):
        return [layer.name for layer in self._input_layers]

    @property
    def output_names(self):
        return [layer.name for layer, _, _ in self._output_coordinates]

    # ------------------------------------------------------------------ running
    def build(self, input_shape):
        self.built = True

    def compute_output_shape(self, input_shape):
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        self._check_input_shapes(shapes)
        out = [t.shape for t in self.outputs]
        return out if isinstance(self._nested_outputs, (list, tuple)) else out[0]

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

    def call(self, inputs, training=None):
        flat = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        if isinstance(inputs, dict):
            flat = [inputs[name] for name in self.input_names]
        values = [None] * self._n_slots
        for s, x in zip(self._input_slots, flat):
            values[s] = x
        for layer, ins, takes_list, outs, kwargs, frees in self._plan:
            args = [values[s] for s in ins] if takes_list else values[ins[0]]
            result = layer._call_eager(args, training, kwargs)
            if len(outs) == 1:
                values[outs[0]] = result
            else:
                for s, r in zip(outs, result):
                    values[s] = r
            for s in frees:
                values[s] = None
        results = [values[s] for s in self._output_slots]
        return results if isinstance(self._nested_outputs, (list, tuple)) else results[0]

    # ------------------------------------------------------------------ serialization
    def _node_index_map(self):
        """Keras' node_conversion_map: a node's index counted only over this model's nodes."""
        conversion = {}
        for layer in self._layers:
            kept = 1 if isinstance(layer, Network) and layer._layers else 0  # a nested model's node 0 is its own
            for index, node in enumerate(layer._inbound_nodes):
                if node in self._network_nodes:
                    conversion[(layer.name, index)] = kept
                    kept += 1
        return conversion

    def get_config(self):
        conversion = self._node_index_map()
        layer_configs = []
        for layer in self._layers:
            inbound = []
            for node in layer._inbound_nodes:
                if node in self._network_nodes and not node.is_input:
                    inbound.append([[t.node.layer.name, conversion[(t.node.layer.name, idx)], ti, {}]
                                    for t in node.inputs
                                    for (_, idx, ti) in [t._keras_history]])
            layer_configs.append({"class_name": registry_name(layer), "config": layer.get_config(),
                                  "name": layer.name, "inbound_nodes": inbound})

        def coordinates(tensors):
            return [[layer.name, conversion[(layer.name, idx)], ti]
                    for layer, idx, ti in (t._keras_history for t in tensors)]
        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": coordinates(self.inputs), "output_layers": coordinates(self.outputs)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        inputs, outputs, name = rebuild_graph(config, custom_objects)
        model = cls(inputs=inputs, outputs=outputs, name=name)
        if config.get("trainable") is False:
            model.trainable = False
        return model


def registry_name(layer):
    return "Functional" if type(layer).__name__ in ("Model", "Functional") else type(layer).__name__


def rebuild_graph(config, custom_objects=None):
    """Recreate the layers of a Functional config and replay its calls; returns (inputs, outputs, name)."""
    created = {}
    pending = collections.deque()
    for layer_data in config["layers"]:
        layer = registry.deserialize(layer_data, custom_objects)
        created[layer_data["name"]] = layer
        for node_data in layer_data.get("inbound_nodes", []):
            pending.append((layer, node_data))

    def tensor(layer_name, node_index, tensor_index):
        layer = created[layer_name]
        nodes = layer._inbound_nodes
        if node_index >= len(nodes):
            return None
        return nodes[node_index].outputs[tensor_index]

    stalled = 0
    while pending:  # replay calls in an order where every input already exists
        layer, node_data = pending.popleft()
        entries = _node_entries(node_data)
        args = [tensor(e[0], e[1], e[2]) for e in entries]
        if any(a is None for a in args):
            pending.append((layer, node_data))
            stalled += 1
            if stalled > len(pending):
                raise ValueError(f"Model config '{config.get('name')}' cannot be rebuilt: layer '{layer.name}' "
                                 f"waits on inputs that are never created")
            continue
        stalled = 0
        kwargs = entries[0][3] if len(entries[0]) > 3 and entries[0][3] else {}
        layer(args if len(args) > 1 else args[0], **kwargs)

    def coordinates(spec):
        if spec and not isinstance(spec[0], (list, tuple)):
            spec = [spec]
        return [tensor(*entry[:3]) for entry in spec]
    ins = coordinates(config["input_layers"])
    outs = coordinates(config["output_layers"])
    return (ins if len(ins) > 1 else ins[0]), (outs if len(outs) > 1 else outs[0]), config.get("name")


def _node_entries(node_data):
    """Inbound-node entries in Keras 2's list form, or in Keras 2.13+'s dict form ({'args': ...})."""
    if isinstance(node_data, dict):
        args = node_data.get("args", [])
        flat = flatten(args)
        entries = []
        for item in flat:
            if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
                history = item["config"]["keras_history"]
                entries.append([history[0], history[1], history[2], {}])
        return entries
    return node_data


def as_numpy_inputs(model, x):
    """Normalise user data for a model: one array per input, in input order, floating."""
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
        if arr.dtype != t.dtype.as_numpy_dtype:
            arr = arr.astype(t.dtype.as_numpy_dtype)
        arrays.append(arr)
    model._check_input_shapes([a.shape for a in arrays])
    return arrays


def _is_ragged_or_scalar_list(x):
    """A list meant as one input (nested numbers) rather than one array per input."""
    return bool(x) and not isinstance(x[0], np.ndarray) and not hasattr(x[0], "__array__")
