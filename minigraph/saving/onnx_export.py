"""ONNX export (`model.export(path, format="onnx")`, Keras 3's call): the graph walk and the file.

The model's functional graph is walked in the order its own execution plan runs (nested models inlined,
shared layers converted once per call, their weights stored once), each layer call becoming ONNX nodes
through its converter in `onnx_layers`. The graph is built with the `onnx` package's helper API, with a
dynamic batch dimension and the model's input and output names, and written atomically.
"""
import os

import numpy as np

from minigraph import registry
from minigraph.layers.base import flatten
from minigraph.layers.input_layer import InputLayer
from minigraph.saving import hdf5_store

NO_MASK_FORM = object()  # a tensor's mask that the export does not compute
DEFAULT_OPSET = 17  # the lowest opset exported: ReduceMax/ReduceMean take axes as attributes up to 17


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("Exporting to ONNX needs the onnx package: pip install onnx (or minigraph's "
                          "'.[onnx]' extra)") from None
    return onnx


class OnnxGraph:
    """The nodes, weights and names of the graph being built: converters add to it through `op` and
    `constant`, and look up the ONNX name of a symbolic tensor with `name_of`."""

    def __init__(self, onnx, opset):
        self.onnx = onnx
        self.helper = onnx.helper
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self._names = {}  # id(KerasTensor) -> ONNX value name
        self._weights = {}  # id(Variable) -> initializer name, so a shared layer's weights are stored once
        self._used = set()
        self._masks = {}  # id(KerasTensor) -> the ONNX name of its mask (bool), or NO_MASK_FORM

    def fresh(self, hint):
        """A value name not used yet, made from `hint`."""
        hint = "".join(c if c.isalnum() or c in "_/.-" else "_" for c in str(hint)) or "value"
        name, k = hint, 1
        while name in self._used:
            name, k = f"{hint}_{k}", k + 1
        self._used.add(name)
        return name

    def op(self, op_type, inputs, hint, outputs=1, **attrs):
        """Add one node; returns its output name (or the list of them when outputs > 1)."""
        names = [self.fresh(f"{hint}/{op_type}" if outputs == 1 else f"{hint}/{op_type}_{i}")
                 for i in range(outputs)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, name=self.fresh(f"{hint}/{op_type}"),
                                                **attrs))
        return names[0] if outputs == 1 else names

    def constant(self, array, hint):
        """An initializer holding `array` (its dtype kept)."""
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def ints(self, values, hint):
        return self.constant(np.asarray(values, dtype=np.int64), hint)

    def scalar(self, value, dtype, hint):
        """A 0-d initializer of `value` in `dtype` (the dtype of the tensor it meets)."""
        return self.constant(np.asarray(value, dtype=dtype), hint)

    def weight(self, variable, hint, transform=None):
        """The initializer of a layer's weight (in its dtype), stored once per variable and transform."""
        key = (id(variable), transform)
        if key not in self._weights:
            value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
            if transform is not None:
                value = transform(value)
            self._weights[key] = self.constant(value, hint)
        return self._weights[key]

    def reduce(self, op_type, x, axes, keepdims, hint):
        """A Reduce* op over `axes`: ReduceSum takes them as an input (from opset 13), the others as an
        attribute up to opset 17 and as an input from opset 18."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes, f"{hint}/axes")], hint, keepdims=int(keepdims))
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=int(keepdims))

    def bind(self, tensor, name):
        self._names[id(tensor)] = name

    def set_mask(self, tensor, name):
        """`tensor` carries a mask: `name` is its ONNX value (bool, batch x steps), or NO_MASK_FORM where the
        export does not compute it (a layer that needs it then refuses)."""
        self._masks[id(tensor)] = name

    def carry_mask(self, source, target):
        """A nested model's boundary: `target` is `source` under another name, and has its mask where the
        model's own run gives it one (`has_mask`)."""
        if id(source) in self._masks and getattr(target, "has_mask", False):
            self._masks[id(target)] = self._masks[id(source)]

    def mask_of(self, tensor):
        """The ONNX name of `tensor`'s mask, None when it has none, NO_MASK_FORM when it is not computed."""
        return self._masks.get(id(tensor))

    def name_of(self, tensor):
        try:
            return self._names[id(tensor)]
        except KeyError:
            raise ValueError(f"ONNX export: tensor {tensor.name} is used before the layer that makes it was "
                             f"converted") from None


def _value_info(onnx, name, tensor, batch_name):
    dims = [batch_name if i == 0 else (f"{name}_dim{i}" if d is None else d) for i, d in enumerate(tensor.shape)]
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(tensor.dtype.as_numpy_dtype))
    return onnx.helper.make_tensor_value_info(name, elem, dims)


def _walk(graph, model):
    """Convert every node of `model`'s graph, in plan order; a nested model's nodes are converted in place
    (its inputs bound to the outer tensors it was called on)."""
    from minigraph.saving import onnx_layers

    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.is_input:
                continue
            layer = node.layer
            if getattr(layer, "_is_graph_network", False):
                args = flatten(node.call_args[0] if len(node.call_args) == 1 else node.call_args)
                for inner, outer in zip(layer.inputs, args):
                    graph.bind(inner, graph.name_of(outer))
                    graph.carry_mask(outer, inner)
                _walk(graph, layer)
                for inner, outer in zip(layer.outputs, node.outputs):
                    graph.bind(outer, graph.name_of(inner))
                    graph.carry_mask(inner, outer)
                continue
            if isinstance(layer, InputLayer):
                continue
            names = onnx_layers.convert(graph, layer, node)
            for t, name in zip(node.outputs, names):
                graph.bind(t, name)
            onnx_layers.pass_masks(graph, layer, node)


def _output_names(model):
    """The model's output names (its output layers' names), made unique where one layer gives several."""
    names = model.output_names
    out, seen = [], {}
    for name in names:
        seen[name] = seen.get(name, -1) + 1
        out.append(name if names.count(name) == 1 else f"{name}_{seen[name]}")
    return out


def build_model_proto(model, opset_version=DEFAULT_OPSET):
    """The ONNX ModelProto of a functional (or Sequential) model."""
    onnx = _onnx()
    if not getattr(model, "_is_graph_network", False):
        raise ValueError(f"ONNX export: model '{model.name}' ({type(model).__name__}) has no functional graph; "
                         f"only Functional and Sequential models (built, with an input shape) can be exported")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset_version, bool) or not isinstance(opset_version, int) or not (
            DEFAULT_OPSET <= opset_version <= newest):
        raise ValueError(f"ONNX export: opset_version must be an int from {DEFAULT_OPSET} to {newest} (the onnx "
                         f"package's newest), got {opset_version!r}")
    graph = OnnxGraph(onnx, opset_version)
    inputs = []
    for t, name in zip(model.inputs, model.input_names):
        graph._used.add(name)
        graph.bind(t, name)
        inputs.append(_value_info(onnx, name, t, "batch"))
    _walk(graph, model)
    outputs = []
    for t, name in zip(model.outputs, _output_names(model)):
        graph._used.add(name)
        graph.nodes.append(onnx.helper.make_node("Identity", [graph.name_of(t)], [name],
                                                 name=graph.fresh(f"{name}/output")))
        outputs.append(_value_info(onnx, name, t, "batch"))
    proto_graph = onnx.helper.make_graph(graph.nodes, model.name, inputs, outputs, graph.initializers)
    proto = onnx.helper.make_model(proto_graph, opset_imports=[onnx.helper.make_opsetid("", opset_version)],
                                   producer_name="minigraph")
    # the oldest IR version that carries the opset, so that older ONNX Runtimes read the file too
    proto.ir_version = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    return proto


def export_model(model, filepath, format="onnx", verbose=None, input_signature=None,  # noqa: A002 - Keras' name
                 opset_version=None, **kwargs):
    """Write `model` as an ONNX file at `filepath` (Keras 3's `model.export(filepath, format="onnx")`)."""
    if kwargs:
        raise TypeError(f"export() got unexpected keyword argument(s) {sorted(kwargs)}")
    if format != "onnx":
        raise ValueError(f"export(): format={format!r} is not supported; minigraph exports format='onnx' (serve "
                         f"it with ONNX Runtime), or save('m.keras') for Keras 3 and its other export formats")
    if input_signature is not None:
        raise ValueError("export(): input_signature is not supported; the model's own inputs are exported, with a "
                         "dynamic batch dimension")
    onnx = _onnx()
    proto = build_model_proto(model, DEFAULT_OPSET if opset_version is None else opset_version)
    onnx.checker.check_model(proto)
    with hdf5_store.atomic_path(filepath, overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            f.write(proto.SerializeToString())
    if verbose:
        print(f"Saved artifact at '{os.fspath(filepath)}'.")


registry.provide("export_model", export_model)
