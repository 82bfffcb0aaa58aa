"""ONNX forms of minigraph's layers: one converter per layer class, for the export's graph walk.

A converter takes the graph being built (`onnx_export.OnnxGraph`), the layer and one of its call nodes,
and returns the ONNX names of the node's outputs. Keras layouts are channels_last with kernels
(*window, in, out); ONNX's Conv, pooling and Resize work on NCHW with weights (out, in, *window), so
those layers transpose around the op (ONNX Runtime folds the transposes between neighbours).
"""
import numpy as np

from minigraph import activations, ops
from minigraph.kernels import shapes
from minigraph import layers as L
from minigraph.layers.base import KerasTensor

_ACTIVATION_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}
# the recurrent ops name their activations; ONNX Runtime's LSTM/GRU/RNN know these
_RNN_ACTIVATIONS = {"sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}), "relu": ("Relu", {}),
                    "linear": ("Affine", {"alpha": 1.0, "beta": 0.0})}


def _who(layer):
    return f"layer '{layer.name}' ({type(layer).__name__})"


def unsupported(layer, why):
    return ValueError(f"ONNX export: {_who(layer)} {why}")


# ------------------------------------------------------------------------------------------------ helpers
def _activation_name(layer, fn):
    name = activations.serialize(fn)
    if fn is not ops.linear and fn not in (activations.get(n) for n in _ACTIVATION_OPS):
        raise unsupported(layer, f"has the activation {name!r}, which has no ONNX form here (known: linear, "
                                 f"{', '.join(_ACTIVATION_OPS)})")
    return name


def activate(g, layer, x, fn):
    name = _activation_name(layer, fn)
    if name == "linear":
        return x
    if name == "softmax":
        return g.op("Softmax", [x], layer.name, axis=-1)
    return g.op(_ACTIVATION_OPS[name], [x], layer.name)


def _to_channels_first(g, x, rank, hint):
    return g.op("Transpose", [x], hint, perm=[0, rank + 1] + list(range(1, rank + 1)))


def _to_channels_last(g, x, rank, hint):
    return g.op("Transpose", [x], hint, perm=[0] + list(range(2, rank + 2)) + [1])


def _window_pads(layer, in_dims, window, strides, padding):
    """ONNX's explicit pads (all begins, then all ends) for TensorFlow's valid/same/causal rules."""
    if padding == "valid":
        return [0] * (2 * len(window))
    if padding == "causal":
        return [window[0] - 1, 0]
    if any(n is None for n in in_dims):
        raise unsupported(layer, f"uses padding='same' on an input with undefined spatial sizes {in_dims}")
    totals = [max((shapes.conv_output_length(n, k, s, "same") - 1) * s + k - n, 0)
              for n, k, s in zip(in_dims, window, strides)]
    begins = [t // 2 for t in totals]
    return begins + [t - b for t, b in zip(totals, begins)]


def _single(node):
    return node.call_args[0]


# ------------------------------------------------------------------------------------------------ core
def dense(g, layer, node):
    x = g.name_of(_single(node))
    y = g.op("MatMul", [x, g.weight(layer.kernel, f"{layer.name}/kernel")], layer.name)
    if layer.use_bias:
        y = g.op("Add", [y, g.weight(layer.bias, f"{layer.name}/bias")], layer.name)
    return [activate(g, layer, y, layer.activation)]


def activation(g, layer, node):
    return [activate(g, layer, g.name_of(_single(node)), layer.activation)]


def identity(g, layer, node):
    return [g.op("Identity", [g.name_of(_single(node))], layer.name)]


def flatten_layer(g, layer, node):
    t = _single(node)
    x = g.name_of(t)
    if layer.data_format == "channels_first" and len(t.shape) >= 3:
        x = g.op("Transpose", [x], layer.name, perm=[0] + list(range(2, len(t.shape))) + [1])
    return [g.op("Flatten", [x], layer.name, axis=1)]


def reshape(g, layer, node):
    target = g.ints([0] + list(layer.target_shape), f"{layer.name}/shape")  # 0: the batch size, copied
    return [g.op("Reshape", [g.name_of(_single(node)), target], layer.name)]


# ------------------------------------------------------------------------------------------------ convolutions
def conv(g, layer, node):
    t = _single(node)
    rank = layer.rank
    x = _to_channels_first(g, g.name_of(t), rank, layer.name)
    perm = (rank + 1, rank) + tuple(range(rank))  # (*window, in, out) -> (out, in, *window)
    w = g.weight(layer.kernel, f"{layer.name}/kernel", _Transposed(perm))
    # the pads follow the dilated kernel's reach
    pads = _window_pads(layer, t.shape[1:1 + rank], layer._extent, layer.strides, layer.padding)
    inputs = [x, w] + ([g.weight(layer.bias, f"{layer.name}/bias")] if layer.use_bias else [])
    y = g.op("Conv", inputs, layer.name, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
             pads=pads, dilations=list(layer.dilation_rate), group=layer.groups)
    return [activate(g, layer, _to_channels_last(g, y, rank, layer.name), layer.activation)]


def conv_transpose(g, layer, node):
    t = _single(node)
    rank = layer.rank
    in_dims, out_dims = t.shape[1:1 + rank], node.outputs[0].shape[1:1 + rank]
    if None in in_dims or None in out_dims:
        raise unsupported(layer, f"needs defined spatial sizes, got input {t.shape}")
    begins, ends, extra = [], [], []
    for n, o, k, s, d in zip(in_dims, out_dims, layer.kernel_size, layer.strides, layer.dilation_rate):
        # the full transposed convolution is (n - 1) * s + extent long; Keras keeps `o` values of it from the
        # forward conv's padding before, and anything past its end is bias only (ONNX's output_padding)
        extent = (k - 1) * d + 1
        full, before = (n - 1) * s + extent, shapes.conv_pad_before(o, extent, s, layer.padding)
        begins.append(before)
        ends.append(max(full - before - o, 0))
        extra.append(max(o - (full - before), 0))
    x = _to_channels_first(g, g.name_of(t), rank, layer.name)
    # (*window, out, in) -> ONNX's (in, out, *window): the kernel of the conv whose gradient this is, unflipped
    w = g.weight(layer.kernel, f"{layer.name}/kernel", _Transposed((rank + 1, rank) + tuple(range(rank))))
    inputs = [x, w] + ([g.weight(layer.bias, f"{layer.name}/bias")] if layer.use_bias else [])
    y = g.op("ConvTranspose", inputs, layer.name, kernel_shape=list(layer.kernel_size),
             strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=begins + ends,
             output_padding=extra)
    return [activate(g, layer, _to_channels_last(g, y, rank, layer.name), layer.activation)]


class _Transposed:
    """A weight transform for OnnxGraph.weight, hashable so the transformed weight is stored once."""

    def __init__(self, perm):
        self.perm = tuple(perm)

    def __call__(self, value):
        return np.transpose(value, self.perm)

    def __eq__(self, other):
        return isinstance(other, _Transposed) and other.perm == self.perm

    def __hash__(self):
        return hash(self.perm)


# ------------------------------------------------------------------------------------------------ pooling
def max_pool(g, layer, node):
    t = _single(node)
    rank = layer.rank
    x = _to_channels_first(g, g.name_of(t), rank, layer.name)
    pads = _window_pads(layer, t.shape[1:1 + rank], layer.pool_size, layer.strides, layer.padding)
    y = g.op("MaxPool", [x], layer.name, kernel_shape=list(layer.pool_size), strides=list(layer.strides),
             pads=pads)  # ONNX's MaxPool never takes a padded value as the max, as TensorFlow's
    return [_to_channels_last(g, y, rank, layer.name)]


def global_pool(op_type):
    def convert(g, layer, node):
        axes = list(range(1, layer.rank + 1))
        return [g.reduce(op_type, g.name_of(_single(node)), axes, layer.keepdims, layer.name)]
    return convert


def upsampling(g, layer, node):
    x = _to_channels_first(g, g.name_of(_single(node)), 2, layer.name)
    scales = g.constant(np.array([1, 1, *layer.size], dtype=np.float32), f"{layer.name}/scales")
    # asymmetric + floor: output pixel i reads input pixel i // size, Keras's repeat
    y = g.op("Resize", [x, "", scales], layer.name, mode="nearest", coordinate_transformation_mode="asymmetric",
             nearest_mode="floor")
    return [_to_channels_last(g, y, 2, layer.name)]


# ------------------------------------------------------------------------------------------------ merges
def merge(op_type):
    def convert(g, layer, node):
        xs = [g.name_of(t) for t in _single(node)]
        if len(xs) == 1:
            return [g.op("Identity", xs, layer.name)]
        if op_type in ("Sub", "Mul"):  # binary ops, folded left to right as the layer does
            y = xs[0]
            for x in xs[1:]:
                y = g.op(op_type, [y, x], layer.name)
            return [y]
        return [g.op(op_type, xs, layer.name)]
    return convert


def concatenate(g, layer, node):
    return [g.op("Concat", [g.name_of(t) for t in _single(node)], layer.name, axis=layer.axis)]


# ------------------------------------------------------------------------------------------------ sequences
def embedding(g, layer, node):
    t = _single(node)
    ids = g.name_of(t)
    if np.dtype(t.dtype.as_numpy_dtype).kind != "i":
        ids = g.op("Cast", [ids], layer.name, to=g.onnx.TensorProto.INT64)
    return [g.op("Gather", [g.weight(layer.embeddings, f"{layer.name}/embeddings"), ids], layer.name, axis=0)]


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


def _run_rnn(g, layer, x, initial_states, node):
    """One RNN layer (LSTM, GRU, SimpleRNN) on the ONNX name `x` (batch, time, features): its outputs as
    the layer returns them (the output, then the final states with return_state)."""
    if layer.stateful:
        raise unsupported(layer, "is stateful; ONNX's recurrent ops start from given states each call")
    if any(g.is_masked(t) for t in node.inputs):
        raise unsupported(layer, "is called with a mask (Embedding(mask_zero=True) or Masking); ONNX's recurrent "
                                 "ops take sequence lengths, not per-step masks")
    kind = _rnn_kind(layer)
    cell, units, gates = layer.cell, layer.cell.units, len(_GATE_ORDER[kind])
    name = layer.name
    if layer.go_backwards:  # Keras reads the reversed sequence forwards and returns outputs in that order
        x = _reverse_time(g, x, name)
    seq = g.op("Transpose", [x], name, perm=[1, 0, 2])  # ONNX's layout: (time, batch, features)
    gate_order = _Gates(_GATE_ORDER[kind], units)
    w = g.weight(cell.kernel, f"{name}/W", gate_order)
    r = g.weight(cell.recurrent_kernel, f"{name}/R", gate_order)
    b = g.constant(_rnn_bias(layer, kind, gates), f"{name}/B")
    states = [g.op("Unsqueeze", [s, g.ints([0], f"{name}/state_axis")], name) for s in initial_states]
    inputs = [seq, w, r, b, ""] + states  # "" : no sequence_lens
    attrs = dict(hidden_size=units, direction="forward", **_rnn_activations(layer, kind))
    if kind == "GRU":
        attrs["linear_before_reset"] = int(cell.reset_after)
    n_states = _N_STATES[kind]
    outs = g.op(kind, inputs, name, outputs=1 + n_states, **attrs)
    y, finals = outs[0], outs[1:]
    finals = [g.op("Squeeze", [s, g.ints([0], f"{name}/dir_axis")], name) for s in finals]
    if layer.return_sequences:
        # (time, directions = 1, batch, units) -> (time, batch, units)
        y = g.op("Squeeze", [y, g.ints([1], f"{name}/dir_axis")], name)
        out = g.op("Transpose", [y], name, perm=[1, 0, 2])
    else:
        out = g.op("Identity", [finals[0]], name)  # the last output is the last hidden state
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
    return _run_rnn(g, layer, g.name_of(_single(node)), states, node)


def bidirectional(g, layer, node):
    forward, backward = layer.forward_layer, layer.backward_layer
    n_states = _N_STATES[_rnn_kind(forward)]
    states = _initial_state_names(g, layer, node, 2 * n_states) or []
    x = g.name_of(_single(node))
    ys = _run_rnn(g, forward, x, states[:n_states], node)
    ys_rev = _run_rnn(g, backward, x, states[n_states:], node)
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


class _InnerCall:
    """The call node a wrapped layer would have had: TimeDistributed runs its layer on (batch * time, ...)
    without a graph node of its own, and the converters read shapes from nodes."""

    def __init__(self, input_tensor, output_tensor):
        self.call_args, self.call_kwargs = (input_tensor,), {}
        self.inputs, self.outputs = [input_tensor], [output_tensor]


def time_distributed(g, layer, node):
    t = _single(node)
    inner_in = (None,) + tuple(t.shape[2:])
    inner_out = layer.layer.compute_output_shape(inner_in)
    if None in inner_in[1:] or None in tuple(inner_out[1:]):
        raise unsupported(layer, f"needs the per-step shape defined, got input {t.shape}")
    name = layer.name
    x = g.name_of(t)
    steps = g.op("Reshape", [x, g.ints([-1, *inner_in[1:]], f"{name}/steps_shape")], name)
    inner = _InnerCall(KerasTensor(inner_in, t.dtype), KerasTensor(inner_out, t.dtype))
    g.bind(inner.call_args[0], steps)
    y, = convert(g, layer.layer, inner)
    batch_and_time = g.op("Slice", [g.op("Shape", [x], name), g.ints([0], f"{name}/start"),
                                    g.ints([2], f"{name}/end")], name)
    shape = g.op("Concat", [batch_and_time, g.ints(list(inner_out[1:]), f"{name}/step_shape")], name, axis=0)
    return [g.op("Reshape", [y, shape], name)]


# ------------------------------------------------------------------------------------------------ normalization
def batch_normalization(g, layer, node):
    """Inference mode, folded: x * scale + shift with scale = gamma / sqrt(moving_variance + epsilon) and
    shift = beta - moving_mean * scale, shaped to broadcast over the normalised axes."""
    shape = layer._broadcast_shape()
    inv = 1.0 / np.sqrt(layer.moving_variance.numpy().astype(np.float64) + layer.epsilon)
    scale = inv * (layer.gamma.numpy() if layer.gamma is not None else 1.0)
    shift = (layer.beta.numpy() if layer.beta is not None else 0.0) - layer.moving_mean.numpy() * scale
    dtype = layer.moving_mean.numpy().dtype
    x = g.name_of(_single(node))
    y = g.op("Mul", [x, g.constant(np.reshape(scale, shape).astype(dtype), f"{layer.name}/scale")], layer.name)
    return [g.op("Add", [y, g.constant(np.reshape(shift, shape).astype(dtype), f"{layer.name}/shift")],
                 layer.name)]


def layer_normalization(g, layer, node):
    """ONNX's LayerNormalization (opset 17): the normalised axes must be the trailing ones."""
    axes = sorted(layer._axes)
    if axes != list(range(layer._rank - len(axes), layer._rank)):
        raise unsupported(layer, f"normalises axes {axes}, which are not the trailing axes of its rank-"
                                 f"{layer._rank} input (ONNX's LayerNormalization needs those)")
    sizes = layer._broadcast_shape()[axes[0]:]
    dtype = np.dtype(layer.dtype)
    gamma = (g.weight(layer.gamma, f"{layer.name}/gamma", transform=None) if layer.gamma is not None
             else g.constant(np.ones(sizes, dtype), f"{layer.name}/gamma"))
    inputs = [g.name_of(_single(node)), gamma]
    if layer.beta is not None:
        inputs.append(g.weight(layer.beta, f"{layer.name}/beta"))
    if layer.gamma is not None and tuple(layer.gamma.shape) != tuple(sizes):
        inputs[1] = g.constant(np.reshape(layer.gamma.numpy(), sizes), f"{layer.name}/gamma")
        if layer.beta is not None:
            inputs[2] = g.constant(np.reshape(layer.beta.numpy(), sizes), f"{layer.name}/beta")
    return [g.op("LayerNormalization", inputs, layer.name, axis=axes[0], epsilon=layer.epsilon)]


# ------------------------------------------------------------------------------------------------ the table
CONVERTERS = {
    L.Dense: dense,
    L.Activation: activation,
    L.Dropout: identity,
    L.Flatten: flatten_layer,
    L.Reshape: reshape,
    L.Conv1D: conv,
    L.Conv2D: conv,
    L.Conv1DTranspose: conv_transpose,
    L.Conv2DTranspose: conv_transpose,
    L.MaxPooling1D: max_pool,
    L.MaxPooling2D: max_pool,
    L.GlobalMaxPooling1D: global_pool("ReduceMax"),
    L.GlobalMaxPooling2D: global_pool("ReduceMax"),
    L.GlobalAveragePooling1D: global_pool("ReduceMean"),
    L.GlobalAveragePooling2D: global_pool("ReduceMean"),
    L.UpSampling2D: upsampling,
    L.Add: merge("Sum"),
    L.Subtract: merge("Sub"),
    L.Multiply: merge("Mul"),
    L.Average: merge("Mean"),
    L.Maximum: merge("Max"),
    L.Minimum: merge("Min"),
    L.Concatenate: concatenate,
    L.Embedding: embedding,
    L.SimpleRNN: recurrent,
    L.LSTM: recurrent,
    L.GRU: recurrent,
    L.RNN: recurrent,
    L.Bidirectional: bidirectional,
    L.TimeDistributed: time_distributed,
    L.BatchNormalization: batch_normalization,
    L.LayerNormalization: layer_normalization,
}


def convert(g, layer, node):
    """The ONNX names of one layer call's outputs; a layer with no converter is an error naming it."""
    converter = CONVERTERS.get(type(layer))  # the exact class: a subclass may compute something else
    if converter is None:
        raise unsupported(layer, f"has no ONNX form; layers that export: "
                                 f"{', '.join(sorted(cls.__name__ for cls in CONVERTERS))}")
    return converter(g, layer, node)
