"""ONNX forms of the recurrent layers (SimpleRNN, LSTM, GRU, RNN of their cells, Bidirectional): ONNX's
own RNN/LSTM/GRU ops, with Keras's gate order, biases and activations, go_backwards, return_sequences,
return_state, initial states, and masks through the ops' sequence_lens."""
import numpy as np

from minigraph import activations
from minigraph import layers as L
from minigraph.saving.onnx_common import cast, needed_mask, single_input, unsupported

# the recurrent ops name their activations; ONNX Runtime's LSTM/GRU/RNN know these
_RNN_ACTIVATIONS = {"sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}), "relu": ("Relu", {}),
                    "linear": ("Affine", {"alpha": 1.0, "beta": 0.0})}

# Keras's gate blocks in the order of ONNX's: LSTM i,f,c,o -> i,o,f,c; GRU z,r,h and RNN are the same
_GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (0, 1, 2), "RNN": (0,)}
_N_STATES = {"LSTM": 2, "GRU": 1, "RNN": 1}


class _Gates:
    """Weight transform: (rows, gates * units) in Keras's gate order -> (1, gates * units, rows) in ONNX's."""

    def __init__(self, order, units):
        self.order, self.units = tuple(order), units

    def __call__(self, value):
        blocks = [value[..., k * self.units:(k + 1) * self.units] for k in self.order]
        return np.concatenate(blocks, axis=-1).T[None]

    def __eq__(self, other):
        return isinstance(other, _Gates) and (other.order, other.units) == (self.order, self.units)

    def __hash__(self):
        return hash((self.order, self.units))


def _rnn_kind(layer):
    cell = layer.cell
    kind = {L.LSTMCell: "LSTM", L.GRUCell: "GRU", L.SimpleRNNCell: "RNN"}.get(type(cell))  # a subclass may differ
    if kind is not None:
        return kind
    raise unsupported(layer, f"runs the cell {type(cell).__name__}, which has no ONNX recurrent op")


def _rnn_activations(layer, kind):
    cell = layer.cell
    fns = [cell.activation] if kind == "RNN" else [cell.recurrent_activation, cell.activation]
    if kind == "LSTM":
        fns.append(cell.activation)  # ONNX's h: the activation of the cell state
    names, alphas, betas = [], [], []
    for fn in fns:
        key = activations.serialize(fn)
        if key not in _RNN_ACTIVATIONS:
            raise unsupported(layer, f"has the recurrent activation {key!r}, which ONNX's {kind} op has no "
                                     f"form for here (known: {', '.join(_RNN_ACTIVATIONS)})")
        op_name, params = _RNN_ACTIVATIONS[key]
        names.append(op_name)
        if params:  # the parameters are consumed in order by the activations that take them
            alphas.append(params["alpha"])
            betas.append(params["beta"])
    attrs = {"activations": names}
    if alphas:
        attrs.update(activation_alpha=alphas, activation_beta=betas)
    return attrs


def _rnn_bias(layer, kind, gates):
    """ONNX's B: the input biases, then the recurrent ones, in ONNX's gate order, shape (1, 2 * gates * units)."""
    cell, units = layer.cell, layer.cell.units
    order = _GATE_ORDER[kind]
    dtype = cell.kernel.numpy().dtype
    if not cell.use_bias:
        return np.zeros((1, 2 * gates * units), dtype)
    bias = np.asarray(cell.bias.numpy(), dtype)
    if kind == "GRU" and cell.reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros_like(bias)
    reorder = lambda b: np.concatenate([b[k * units:(k + 1) * units] for k in order])  # noqa: E731
    return np.concatenate([reorder(input_bias), reorder(recurrent_bias)])[None]


def _reverse_time(g, x, hint):
    """x[:, ::-1] on (batch, time, ...)."""
    return g.op("Slice", [x, g.ints([-1], f"{hint}/start"), g.ints([np.iinfo(np.int64).min], f"{hint}/end"),
                          g.ints([1], f"{hint}/axis"), g.ints([-1], f"{hint}/step")], hint)


def _kept_steps_first(g, x, mask, hint):
    """The masked sequence made right-padded, for ONNX's sequence_lens: each row's kept steps moved to the
    front in their order (the masked ones after them), and the number of kept steps per row (int32).

    A Keras RNN skips a masked step (its states carry over), so running the kept steps alone, in order,
    gives the same states at every kept step whatever the mask's pattern; the sort keys are distinct
    (kept step t -> t, masked step t -> steps + t), so no tie rule is relied on."""
    steps = g.op("Gather", [g.op("Shape", [x], hint), g.ints(1, f"{hint}/time_axis")], hint, axis=0)
    positions = g.op("Range", [g.ints(0, f"{hint}/zero"), steps, g.ints(1, f"{hint}/one")], hint)
    masked = cast(g, g.op("Not", [mask], hint), np.int64, hint)
    keys = g.op("Add", [g.op("Mul", [masked, steps], hint), positions], hint)
    _, order = g.op("TopK", [keys, g.op("Unsqueeze", [steps, g.ints([0], f"{hint}/axis0")], hint)], hint,
                    outputs=2, axis=1, largest=0, sorted=1)
    index = g.op("Expand", [g.op("Unsqueeze", [order, g.ints([2], f"{hint}/feature_axis")], hint),
                            g.op("Shape", [x], hint)], hint)
    lengths = g.reduce("ReduceSum", cast(g, mask, np.int32, hint), [1], False, hint)
    return g.op("GatherElements", [x, index], hint, axis=1), lengths


def _steps_in_place(g, y, mask, zero_output_for_mask, dtype, hint):
    """The outputs of the right-padded run `y` (batch, time, units) at the original steps: step t shows the
    output of the last kept step up to t (Keras repeats it over masked steps; zeros before the first kept
    step, and at every masked step with zero_output_for_mask)."""
    counts = g.op("CumSum", [cast(g, mask, np.int64, hint), g.ints(1, f"{hint}/time_axis")], hint)
    source = g.op("Max", [g.op("Sub", [counts, g.ints(1, f"{hint}/one")], hint), g.ints(0, f"{hint}/zero")], hint)
    index = g.op("Expand", [g.op("Unsqueeze", [source, g.ints([2], f"{hint}/feature_axis")], hint),
                            g.op("Shape", [y], hint)], hint)
    shown = mask if zero_output_for_mask else g.op("Greater", [counts, g.ints(0, f"{hint}/zero")], hint)
    return _rows_where(g, shown, g.op("GatherElements", [y, index], hint, axis=1), None, dtype, hint)


def _rows_where(g, condition, a, b, dtype, hint):
    """Where(condition, a, b) with condition (batch, ...) broadcast over a's last axis; b None: zeros."""
    condition = g.op("Unsqueeze", [condition, g.ints([-1], f"{hint}/last_axis")], hint)
    return g.op("Where", [condition, a, g.scalar(0, dtype, f"{hint}/zero") if b is None else b], hint)


def _run_rnn(g, layer, x, initial_states, node, mask):
    """One RNN layer (LSTM, GRU, SimpleRNN) on the ONNX name `x` (batch, time, features) with the ONNX
    name of its mask (or None): its outputs as the layer returns them (the output, then the final states
    with return_state)."""
    if layer.stateful:
        raise unsupported(layer, "is stateful; ONNX's recurrent ops start from given states each call")
    kind = _rnn_kind(layer)
    cell, units, gates = layer.cell, layer.cell.units, len(_GATE_ORDER[kind])
    name = layer.name
    if layer.go_backwards:  # Keras reads the reversed sequence forwards and returns outputs in that order
        x = _reverse_time(g, x, name)
        mask = None if mask is None else _reverse_time(g, mask, name)
    lengths = ""  # no sequence_lens: every step runs
    if mask is not None:
        x, lengths = _kept_steps_first(g, x, mask, name)
    seq = g.op("Transpose", [x], name, perm=[1, 0, 2])  # ONNX's layout: (time, batch, features)
    gate_order = _Gates(_GATE_ORDER[kind], units)
    w = g.weight(cell.kernel, f"{name}/W", gate_order)
    r = g.weight(cell.recurrent_kernel, f"{name}/R", gate_order)
    b = g.constant(_rnn_bias(layer, kind, gates), f"{name}/B")
    states = [g.op("Unsqueeze", [s, g.ints([0], f"{name}/state_axis")], name) for s in initial_states]
    inputs = [seq, w, r, b, lengths] + states
    attrs = dict(hidden_size=units, direction="forward", **_rnn_activations(layer, kind))
    if kind == "GRU":
        attrs["linear_before_reset"] = int(cell.reset_after)
    n_states = _N_STATES[kind]
    outs = g.op(kind, inputs, name, outputs=1 + n_states, **attrs)
    y, finals = outs[0], outs[1:]
    finals = [g.op("Squeeze", [s, g.ints([0], f"{name}/dir_axis")], name) for s in finals]
    last = finals[0]  # the last output is the last hidden state
    if mask is not None:  # a row with no kept step keeps its initial states and outputs zeros
        started = g.op("Greater", [lengths, g.constant(np.zeros((), np.int32), f"{name}/zero")], name)
        shown = started
        if layer.zero_output_for_mask:
            shown = g.op("Gather", [mask, g.ints(-1, f"{name}/last_step")], name, axis=1)
        dtype = cell.kernel.numpy().dtype
        last = _rows_where(g, shown, last, None, dtype, name)
        finals = [_rows_where(g, started, f, s, dtype, name)
                  for f, s in zip(finals, initial_states or [None] * n_states)]
    if layer.return_sequences:
        # (time, directions = 1, batch, units) -> (batch, time, units)
        y = g.op("Squeeze", [y, g.ints([1], f"{name}/dir_axis")], name)
        out = g.op("Transpose", [y], name, perm=[1, 0, 2])
        if mask is not None:
            out = _steps_in_place(g, out, mask, layer.zero_output_for_mask, cell.kernel.numpy().dtype, name)
    else:
        out = g.op("Identity", [last], name)
    return [out] + finals if layer.return_state else [out]


def _initial_state_names(g, layer, node, count):
    states = node.call_kwargs.get("initial_state")
    if states is None and len(node.call_args) > 1:
        states = node.call_args[1]
    if states is None:
        return None
    names = [g.name_of(s) for s in (states if isinstance(states, (list, tuple)) else [states])]
    if len(names) != count:
        raise unsupported(layer, f"got {len(names)} initial state tensor(s), expected {count}")
    return names


def recurrent(g, layer, node):
    states = _initial_state_names(g, layer, node, _N_STATES[_rnn_kind(layer)]) or []
    return _run_rnn(g, layer, g.name_of(single_input(node)), states, node, needed_mask(g, layer, node))


def bidirectional(g, layer, node):
    forward, backward = layer.forward_layer, layer.backward_layer
    n_states = _N_STATES[_rnn_kind(forward)]
    states = _initial_state_names(g, layer, node, 2 * n_states) or []
    x, mask = g.name_of(single_input(node)), needed_mask(g, layer, node)
    ys = _run_rnn(g, forward, x, states[:n_states], node, mask)
    ys_rev = _run_rnn(g, backward, x, states[n_states:], node, mask)
    y, y_rev = ys[0], ys_rev[0]
    if layer.return_sequences:
        y_rev = _reverse_time(g, y_rev, backward.name)  # back in the input's order
    mode, name = layer.merge_mode, layer.name
    if mode == "concat":
        merged = [g.op("Concat", [y, y_rev], name, axis=-1)]
    elif mode == "sum":
        merged = [g.op("Add", [y, y_rev], name)]
    elif mode == "mul":
        merged = [g.op("Mul", [y, y_rev], name)]
    elif mode == "ave":
        merged = [g.op("Mean", [y, y_rev], name)]
    else:
        merged = [y, y_rev]
    return merged + (ys[1:] + ys_rev[1:] if layer.return_state else [])
