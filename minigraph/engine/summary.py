"""model.summary() in the classic tf.keras 2 table format."""
from minigraph.engine.functional import registry_name
from minigraph.layers.input_layer import InputLayer


def _row(fields, positions):
    """Each field cut to its column; the last character of a cut column becomes a space (as tf.keras)."""
    line = ""
    for i, field in enumerate(fields):
        if i > 0:
            line = line[:-1] + " "
        line += str(field)
        line = line[:positions[i]]
        line += " " * (positions[i] - len(line))
    return line


def _wrapped(text, width):
    """A field too long for its column as the lines tf_keras prints it on: cut after the last ")," (the end of
    one of several shapes) that fits, else at the column's edge."""
    pieces = []
    while len(text) > width:
        cut = text.rfind("),", 0, width) + 2
        cut = cut if cut > 1 else width
        pieces.append(text[:cut])
        text = text[cut:]
    return pieces + [text]


def _shape_rows(fields, positions, extra_columns):
    """The rows of one layer: the output shape (fields[1]) continued on further rows rather than cut off."""
    shapes = _wrapped(str(fields[1]), positions[1] - positions[0] - 1)
    rows = [_row([fields[0], shapes[0]] + list(fields[2:]), positions)]
    rows += [_row(["", rest] + [""] * extra_columns, positions) for rest in shapes[1:]]
    return rows


def _is_sequential_like(model):
    if type(model).__name__ == "Sequential" or not model._is_graph_network:
        return True  # a subclassed model's table lists its layers, as tf.keras 2 does
    relevant = []
    for nodes in model._nodes_by_depth.values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(nodes[0].inputs) > 1):
            return False
        relevant.extend(nodes)
    for layer in model.layers:  # a layer called twice inside the model makes it a graph
        if sum(1 for node in layer._inbound_nodes if node in relevant) > 1:
            return False
    return True


def _output_shape(layer, model):
    if not model._is_graph_network:
        return "multiple"  # its layers were called eagerly: no graph records their shapes
    try:
        shape = layer.output_shape
    except AttributeError:
        return "multiple"
    return [shape] if isinstance(layer, InputLayer) else shape


def summary_lines(model, line_length=None, positions=None):
    sequential_like = _is_sequential_like(model)
    if sequential_like:
        line_length = line_length or 65
        positions = positions or [0.45, 0.85, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #"]
    else:
        line_length = line_length or 98
        positions = positions or [0.33, 0.55, 0.67, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
    if positions[-1] <= 1:
        positions = [int(line_length * p) for p in positions]
    relevant = ({node for nodes in model._nodes_by_depth.values() for node in nodes}
                if model._is_graph_network else set())

    lines = [f'Model: "{model.name}"', "_" * line_length, _row(header, positions), "=" * line_length]
    layers = model.layers
    for i, layer in enumerate(layers):
        fields = [f"{layer.name} ({registry_name(layer)})", _output_shape(layer, model), layer.count_params()]
        if sequential_like:
            lines.extend(_shape_rows(fields, positions, 1))
        else:
            connections = [f"{inbound.name}[{node_index}][{tensor_index}]"
                           for node in layer._inbound_nodes if node in relevant
                           for inbound, node_index, tensor_index in node.iterate_inbound()]
            rows = _shape_rows(fields + [connections[0] if connections else ""], positions, 2)
            for i_row, c in enumerate(connections[1:], 1):  # further connections share the shape's rows
                if i_row < len(rows):
                    rows[i_row] = rows[i_row][:positions[2]] + c
                else:
                    rows.append(_row(["", "", "", c], positions))
            lines.extend(rows)
        lines.append(("=" if i == len(layers) - 1 else "_") * line_length)
    trainable = sum(int(w.value.size) for w in model.trainable_weights)
    non_trainable = sum(int(w.value.size) for w in model.non_trainable_weights)
    lines += [f"Total params: {trainable + non_trainable:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {non_trainable:,}", "_" * line_length]
    return lines


def print_summary(model, line_length=None, positions=None, print_fn=None):
    for line in summary_lines(model, line_length, positions):
        (print_fn or print)(line)
