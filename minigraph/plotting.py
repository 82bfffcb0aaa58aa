"""keras.utils.plot_model and model_to_dot: a model's layer graph drawn by Graphviz through pydot.

Each layer is one box labelled as Keras 3 labels it (name and class, optionally activation, input and
output shapes, output dtype, trainable); an edge joins the layer that makes a tensor to each layer that
takes it. Nested models are one box each, or with expand_nested=True a dashed cluster of their layers.
"""
import html
import os

try:
    import pydot
except ImportError:  # optional: pip install ".[plot]"
    pydot = None

from minigraph.engine.sequential import Sequential
from minigraph.layers.input_layer import InputLayer

_PYDOT_MISSING = ("You must install pydot (`pip install pydot`, or `pip install \"minigraph[plot]\"`) for "
                  "`{}` to work.")
_GRAPHVIZ_MISSING = ("You must install Graphviz, whose `dot` program draws the graph (Debian/Ubuntu: "
                     "`apt-get install graphviz`, macOS: `brew install graphviz`, others: "
                     "https://graphviz.gitlab.io/download/), for `plot_model` to work.")


def check_pydot():
    return pydot is not None


def check_graphviz():
    """Whether pydot can run Graphviz's `dot`."""
    if pydot is None:
        return False
    try:
        pydot.Dot.create(pydot.Dot())
        return True
    except (OSError, getattr(pydot, "PydotException", OSError)):
        return False


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 splines="ortho"):
    """The model's graph as a pydot.Dot (a pydot.Cluster with subgraph=True)."""
    if pydot is None:
        raise ImportError(_PYDOT_MISSING.format("model_to_dot"))
    _check_built(model)
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"model_to_dot: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if subgraph:
        dot = pydot.Cluster(graph_name=_cluster_name(model), style="dashed", label=_html_text(model.name),
                            labeljust="l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    label_options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                         show_layer_activations=show_layer_activations, show_trainable=show_trainable)

    if not _is_graph_model(model):  # a subclassed model: one box
        dot.add_node(_make_node(model, None, label_options))
        return dot
    model_nodes = _nodes_of(model)
    layers = model.layers
    for layer in layers:
        if expand_nested and _is_graph_model(layer):
            dot.add_subgraph(model_to_dot(layer, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested,
                                          dpi, subgraph=True, show_layer_activations=show_layer_activations,
                                          show_trainable=show_trainable, splines=splines))
        else:
            dot.add_node(_make_node(layer, _layer_nodes(layer, model_nodes), label_options))

    if isinstance(model, Sequential):
        for source, destination in zip(layers, layers[1:]):
            _add_edge(dot, source, 0, destination, 0, expand_nested)
        return dot
    for layer in layers:
        for node in _layer_nodes(layer, model_nodes):
            for input_index, tensor in enumerate(node.inputs):
                _add_edge(dot, tensor.node.layer, tensor.tensor_index, layer, input_index, expand_nested)
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
               expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False, splines="ortho"):
    """Draw the model to `to_file`; the suffix picks the format (png, svg, pdf, ...; png without one).

    Returns an IPython Image of a png, jpeg or gif when IPython is installed (for notebooks), else None.
    """
    if pydot is None:
        raise ImportError(_PYDOT_MISSING.format("plot_model"))
    _check_built(model)
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    formats = getattr(pydot.Dot(), "formats", None)
    if formats is not None and extension not in formats:
        raise ValueError(f"plot_model: cannot write '{to_file}': Graphviz has no format '{extension}' "
                         f"(use .png, .svg or .pdf)")
    if not check_graphviz():
        raise ImportError(_GRAPHVIZ_MISSING)
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines)
    dot.write(to_file, format=extension)
    if extension in ("png", "jpeg", "gif"):
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file, format=extension)
    return None


# ---------------------------------------------------------------------------------------------- graph walk
def _check_built(model):
    if not getattr(model, "built", False):
        raise ValueError(f"plot_model: model '{model.name}' has not yet been built. Build the model first by "
                         f"calling `build()` or by calling the model on a batch of data.")


def _is_graph_model(layer):
    """A Functional or Sequential model with its graph built (a subclassed model has no symbolic outputs)."""
    return hasattr(layer, "layers") and bool(getattr(layer, "outputs", None))


def _nodes_of(model):
    """The nodes between the model's inputs and outputs, found by walking back from its outputs."""
    found, stack = set(), [t.node for t in model.outputs]
    while stack:
        node = stack.pop()
        if node in found:
            continue
        found.add(node)
        stack.extend(t.node for t in node.inputs)
    return found


def _layer_nodes(layer, model_nodes):
    """The calls of `layer` inside this model (a shared layer has several), without a model's own node 0."""
    if model_nodes is None:
        return []
    return [node for node in layer._inbound_nodes
            if node in model_nodes and node.inputs and not getattr(node, "internal", False)]


def _add_edge(dot, source, tensor_index, destination, input_index, expand_nested):
    if expand_nested:
        # a nested model has no box of its own: the edge starts at the layer inside that makes the output...
        while _is_graph_model(source):
            tensor = source.outputs[tensor_index]
            source, tensor_index = tensor.node.layer, tensor.tensor_index
        # ...and ends at the input layer (or, in a Sequential, the first layer) inside that takes it
        while _is_graph_model(destination):
            if isinstance(destination, Sequential):
                destination = destination.layers[0]
            else:
                destination = destination.inputs[min(input_index, len(destination.inputs) - 1)].node.layer
                input_index = 0
    src, dst = str(id(source)), str(id(destination))
    if not dot.get_edge(src, dst):
        edge = pydot.Edge(src, dst)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


# ---------------------------------------------------------------------------------------------- labels
def _cluster_name(model):
    return "".join(c if c.isalnum() or c == "_" else "_" for c in model.name) + f"_{id(model)}"


def _html_text(text):
    return html.escape(str(text), quote=False)


def _make_node(layer, nodes, options):
    node = pydot.Node(str(id(layer)), label=_layer_label(layer, nodes, **options))
    node.set("fontname", "Helvetica")
    node.set("border", "0")
    node.set("margin", "0")
    return node


def _shape_text(tensors, as_list):
    shapes = [tuple(t.shape) for t in tensors]
    if not shapes:
        return "?"
    return str(shapes) if as_list or len(shapes) > 1 else str(shapes[0])


def _dtype_text(tensors):
    if not tensors:
        return "?"
    dtype = tensors[0].dtype
    return str(getattr(dtype, "name", dtype))


def _layer_shapes(layer, nodes):
    """(input shape text, output shape text, output dtype text) of the layer's one call in this model."""
    if isinstance(layer, InputLayer):
        outputs = layer._inbound_nodes[0].outputs
        return "?", _shape_text(outputs, False), _dtype_text(outputs)
    if not nodes:
        return "?", "?", "?"
    if len(nodes) > 1:
        return "multiple", "multiple", _dtype_text(nodes[0].outputs)
    node = nodes[0]
    as_list = bool(node.call_args) and isinstance(node.call_args[0], (list, tuple))
    return (_shape_text(node.inputs, as_list), _shape_text(node.outputs, False),
            _dtype_text(node.outputs))


def _activation_name(activation):
    return getattr(activation, "name", None) or getattr(activation, "__name__", None) or str(activation)


def _layer_label(layer, nodes, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    class_name = type(layer).__name__
    columns = int(bool(show_dtype)) + int(bool(show_trainable)) + (2 if show_shapes else 0)
    span = max(1, columns)
    title = (f"<b>{_html_text(layer.name)}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>")
    rows = [f'<tr><td colspan="{span}" bgcolor="black"><font point-size="16" color="white">{title}</font></td></tr>']
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        rows.append(f'<tr><td bgcolor="white" colspan="{span}"><font point-size="14">Activation: '
                    f"<b>{_html_text(_activation_name(layer.activation))}</b></font></td></tr>")
    cells = []
    input_text, output_text, dtype_text = _layer_shapes(layer, nodes)
    if show_shapes:
        if not isinstance(layer, InputLayer):
            cells.append(_cell(f"Input shape: <b>{_html_text(input_text)}</b>"))
        cells.append(_cell(f"Output shape: <b>{_html_text(output_text)}</b>"))
    if show_dtype:
        cells.append(_cell(f"Output dtype: <b>{_html_text(dtype_text)}</b>"))
    if show_trainable and layer.weights:
        if layer.trainable:
            cells.append('<td bgcolor="forestgreen"><font point-size="14" color="white"><b>Trainable</b></font></td>')
        else:
            cells.append('<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b>'
                         '</font></td>')
    if cells:
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">' + "".join(rows) + "</table>>"


def _cell(text):
    return f'<td bgcolor="white"><font point-size="14">{text}</font></td>'
