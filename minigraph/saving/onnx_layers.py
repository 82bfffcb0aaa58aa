"""ONNX forms of minigraph's layers: one converter per layer class, for the export's graph walk.

A converter takes the graph being built (`onnx_export.OnnxGraph`), the layer and one of its call nodes,
and returns the ONNX names of the node's outputs. Keras layouts are channels_last with kernels
(*window, in, out); ONNX's Conv, pooling and Resize work on NCHW with weights (out, in, *window), so
those layers transpose around the op (ONNX Runtime folds the transposes between neighbours). The
recurrent layers' converters are in `onnx_recurrent`, what both share in `onnx_common`.

Masks are ONNX values too: a mask source's converter (Embedding(mask_zero=True), Masking) sets its
output's mask, `pass_masks` carries masks on as the layers' compute_mask rules do, and a layer whose call
applies a mask either has a converter that applies it (the RNNs, GlobalAveragePooling1D) or is refused.
"""
import numpy as np

from minigraph import activations
from minigraph.kernels import shapes
from minigraph import layers as L
from minigraph.layers.base import KerasTensor, Layer, flatten
from minigraph.layers.merge import _Merge
from minigraph.layers.preprocessing import _aspect_crop
from minigraph.ops.nn import _SELU_ALPHA, _SELU_SCALE
from minigraph.saving.onnx_common import NO_MASK_FORM, cast, dtype_of, needed_mask, single_input, unsupported
from minigraph.saving.onnx_recurrent import bidirectional, recurrent

_INT64_MAX = np.iinfo(np.int64).max


# ------------------------------------------------------------------------------------------------ activations
def _unary(op_type, **attrs):
    return lambda g, x, dtype, hint: g.op(op_type, [x], hint, **attrs)


def _clip(g, x, low, high, dtype, hint):
    bounds = [("" if v is None else g.scalar(v, dtype, f"{hint}/clip")) for v in (low, high)]
    return g.op("Clip", [x] + bounds, hint)


def _swish(g, x, dtype, hint):
    return g.op("Mul", [x, g.op("Sigmoid", [x], hint)], hint)


def _gelu(g, x, dtype, hint):
    """The exact form, x * (1 + erf(x / sqrt(2))) / 2 (ONNX's Gelu op needs opset 20)."""
    erf = g.op("Erf", [g.op("Mul", [x, g.scalar(1 / np.sqrt(2), dtype, f"{hint}/rsqrt2")], hint)], hint)
    half_x = g.op("Mul", [x, g.scalar(0.5, dtype, f"{hint}/half")], hint)
    return g.op("Mul", [half_x, g.op("Add", [erf, g.scalar(1, dtype, f"{hint}/one")], hint)], hint)


# keras.activations by name -> (g, x, dtype, hint) -> the ONNX name of the activation of x
_ACTIVATIONS = {
    "linear": lambda g, x, dtype, hint: x,
    "relu": _unary("Relu"),
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "softmax": _unary("Softmax", axis=-1),
    "relu6": lambda g, x, dtype, hint: _clip(g, x, 0, 6, dtype, hint),
    "swish": _swish,
    "silu": _swish,
    "gelu": _gelu,
    "hard_sigmoid": _unary("HardSigmoid", alpha=0.2, beta=0.5),  # Keras 2's clip(0.2 x + 0.5, 0, 1)
    "elu": _unary("Elu", alpha=1.0),
    "selu": _unary("Selu", alpha=_SELU_ALPHA, gamma=_SELU_SCALE),
    "softplus": _unary("Softplus"),
    "softsign": _unary("Softsign"),
    "exponential": _unary("Exp"),
    "leaky_relu": _unary("LeakyRelu", alpha=0.2),  # keras.activations.leaky_relu's default slope
}


def activate(g, layer, x, fn, dtype):
    """`fn(x)` for a Keras activation function `fn` (the exact function a name gives, not a look-alike)."""
    name = activations.serialize(fn)
    if name not in _ACTIVATIONS or activations.get(name) is not fn:
        raise unsupported(layer, f"has the activation {name!r}, which has no ONNX form here (known: "
                                 f"{', '.join(_ACTIVATIONS)})")
    return _ACTIVATIONS[name](g, x, dtype, layer.name)


def _to_channels_first(g, x, rank, hint):
    return g.op("Transpose", [x], hint, perm=[0, rank + 1] + list(range(1, rank + 1)))


def _to_channels_last(g, x, rank, hint):
    return g.op("Transpose", [x], hint, perm=[0] + list(range(2, rank + 2)) + [1])


def _window_pads(layer, in_dims, extents, strides, padding):
    """ONNX's explicit pads (all begins, then all ends) for TensorFlow's valid/same/causal rules, for
    windows spanning `extents` input cells (the kernel size, dilated)."""
    if padding == "valid":
        return [0] * (2 * len(extents))
    if padding == "causal":
        return [extents[0] - 1, 0]
    if any(n is None for n in in_dims):
        raise unsupported(layer, f"uses padding='same' on an input with undefined spatial sizes {in_dims}")
    totals = [max((shapes.conv_output_length(n, k, s, "same") - 1) * s + k - n, 0)
              for n, k, s in zip(in_dims, extents, strides)]
    begins = [t // 2 for t in totals]
    return begins + [t - b for t, b in zip(totals, begins)]


def _spatial_slice(g, x, margins, hint):
    """x with margins[i] = (before, after) cells cut from spatial axis i + 1."""
    axes = list(range(1, len(margins) + 1))
    starts = [b for b, _ in margins]
    ends = [-a if a else _INT64_MAX for _, a in margins]
    return g.op("Slice", [x, g.ints(starts, f"{hint}/starts"), g.ints(ends, f"{hint}/ends"),
                          g.ints(axes, f"{hint}/axes")], hint)


# ------------------------------------------------------------------------------------------------ core
def dense(g, layer, node):
    x = g.name_of(single_input(node))
    y = g.op("MatMul", [x, g.weight(layer.kernel, f"{layer.name}/kernel")], layer.name)
    if layer.use_bias:
        y = g.op("Add", [y, g.weight(layer.bias, f"{layer.name}/bias")], layer.name)
    return [activate(g, layer, y, layer.activation, dtype_of(node.outputs[0]))]


def activation(g, layer, node):
    return [activate(g, layer, g.name_of(single_input(node)), layer.activation, dtype_of(node.outputs[0]))]


def identity(g, layer, node):
    """Dropout and the noise layers: the identity at inference."""
    return [g.op("Identity", [g.name_of(single_input(node))], layer.name)]


def flatten_layer(g, layer, node):
    t = single_input(node)
    x = g.name_of(t)
    if layer.data_format == "channels_first" and len(t.shape) >= 3:
        x = g.op("Transpose", [x], layer.name, perm=[0] + list(range(2, len(t.shape))) + [1])
    return [g.op("Flatten", [x], layer.name, axis=1)]


def reshape(g, layer, node):
    target = g.ints([0] + list(layer.target_shape), f"{layer.name}/shape")  # 0: the batch size, copied
    return [g.op("Reshape", [g.name_of(single_input(node)), target], layer.name)]


def repeat_vector(g, layer, node):
    x = g.op("Unsqueeze", [g.name_of(single_input(node)), g.ints([1], f"{layer.name}/axis")], layer.name)
    return [g.op("Tile", [x, g.ints([1, layer.n, 1], f"{layer.name}/repeats")], layer.name)]


def permute(g, layer, node):
    return [g.op("Transpose", [g.name_of(single_input(node))], layer.name, perm=[0, *layer.dims])]


def rescaling(g, layer, node):
    x, dtype = g.name_of(single_input(node)), dtype_of(node.outputs[0])
    if dtype_of(single_input(node)) != dtype:  # integer images become floats first
        x = cast(g, x, dtype, layer.name)
    y = g.op("Mul", [x, g.scalar(layer.scale, dtype, f"{layer.name}/scale")], layer.name)
    return [g.op("Add", [y, g.scalar(layer.offset, dtype, f"{layer.name}/offset")], layer.name)]


# ------------------------------------------------------------------------------------------------ activation layers
def relu_layer(g, layer, node):
    """Keras's relu(x, negative_slope, max_value, threshold): x above threshold, clipped to [0, max_value];
    negative_slope * (x - threshold) at or below it."""
    x, dtype, name = g.name_of(single_input(node)), dtype_of(node.outputs[0]), layer.name
    if layer.threshold:
        above = g.op("Greater", [x, g.scalar(layer.threshold, dtype, f"{name}/threshold")], name)
        y = g.op("Where", [above, x, g.scalar(0, dtype, f"{name}/zero")], name)
    else:
        y = g.op("Relu", [x], name)
    if layer.max_value is not None:
        y = _clip(g, y, None, layer.max_value, dtype, name)
    if layer.negative_slope:
        below = g.op("Relu", [g.op("Sub", [g.scalar(layer.threshold, dtype, f"{name}/threshold"), x], name)], name)
        y = g.op("Sub", [y, g.op("Mul", [below, g.scalar(layer.negative_slope, dtype, f"{name}/slope")], name)],
                 name)
    return [y]


def leaky_relu_layer(g, layer, node):
    return [g.op("LeakyRelu", [g.name_of(single_input(node))], layer.name, alpha=layer.alpha)]


def elu_layer(g, layer, node):
    return [g.op("Elu", [g.name_of(single_input(node))], layer.name, alpha=layer.alpha)]


def prelu_layer(g, layer, node):
    # alpha has the input's shape after the batch (ones on the shared axes): it broadcasts as ONNX's slope
    return [g.op("PRelu", [g.name_of(single_input(node)), g.weight(layer.alpha, f"{layer.name}/alpha")], layer.name)]


def softmax_layer(g, layer, node):
    x = g.name_of(single_input(node))
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    if len(axes) == 1:
        return [g.op("Softmax", [x], layer.name, axis=axes[0])]
    rank = len(single_input(node).shape)  # several axes: the softmax of the flattened group
    axes = [a % rank for a in axes]
    e = g.op("Exp", [g.op("Sub", [x, g.reduce("ReduceMax", x, axes, True, layer.name)], layer.name)], layer.name)
    return [g.op("Div", [e, g.reduce("ReduceSum", e, axes, True, layer.name)], layer.name)]


# ------------------------------------------------------------------------------------------------ convolutions
def _conv_nchw(g, layer, x, kernel, bias, t, extents, **attrs):
    """ONNX's Conv on the channels-first `x` of the channels_last input `t`, with TensorFlow's padding."""
    pads = _window_pads(layer, t.shape[1:-1], extents, layer.strides, layer.padding)
    return g.op("Conv", [x, kernel] + ([bias] if bias else []), layer.name, strides=list(layer.strides), pads=pads,
                **attrs)


def _dilated(layer):
    return [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]


def _bias(g, layer):
    return g.weight(layer.bias, f"{layer.name}/bias") if layer.use_bias else None


def conv(g, layer, node):
    t = single_input(node)
    rank = layer.rank
    x = _to_channels_first(g, g.name_of(t), rank, layer.name)
    perm = (rank + 1, rank) + tuple(range(rank))  # (*window, in, out) -> (out, in, *window)
    w = g.weight(layer.kernel, f"{layer.name}/kernel", _Transposed(perm))
    y = _conv_nchw(g, layer, x, w, _bias(g, layer), t, _dilated(layer), kernel_shape=list(layer.kernel_size),
                   dilations=list(layer.dilation_rate), group=layer.groups)
    return [activate(g, layer, _to_channels_last(g, y, rank, layer.name), layer.activation, dtype_of(t))]


def _depthwise_nchw(g, layer, t, bias):
    """The depthwise part: a Conv with one group per input channel, kernel (kh, kw, c, m) -> (c * m, 1, kh, kw)."""
    channels, multiplier = layer.depthwise_kernel.shape[2:]
    x = _to_channels_first(g, g.name_of(t), 2, layer.name)
    w = g.weight(layer.depthwise_kernel, f"{layer.name}/depthwise_kernel",
                 _Transposed((2, 3, 0, 1), (channels * multiplier, 1, *layer.kernel_size)))
    return _conv_nchw(g, layer, x, w, bias, t, _dilated(layer), kernel_shape=list(layer.kernel_size),
                      dilations=list(layer.dilation_rate), group=channels)


def depthwise_conv(g, layer, node):
    t = single_input(node)
    y = _depthwise_nchw(g, layer, t, _bias(g, layer))
    return [activate(g, layer, _to_channels_last(g, y, 2, layer.name), layer.activation, dtype_of(t))]


def separable_conv(g, layer, node):
    t = single_input(node)
    mid = _depthwise_nchw(g, layer, t, None)
    w = g.weight(layer.pointwise_kernel, f"{layer.name}/pointwise_kernel", _Transposed((3, 2, 0, 1)))
    y = g.op("Conv", [mid, w] + ([_bias(g, layer)] if layer.use_bias else []), layer.name, kernel_shape=[1, 1])
    return [activate(g, layer, _to_channels_last(g, y, 2, layer.name), layer.activation, dtype_of(t))]


def conv_transpose(g, layer, node):
    t = single_input(node)
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
    return [activate(g, layer, _to_channels_last(g, y, rank, layer.name), layer.activation, dtype_of(t))]


class _Transposed:
    """A weight transform for OnnxGraph.weight (axes permuted, then reshaped when `shape` is given), hashable
    so the transformed weight is stored once."""

    def __init__(self, perm, shape=None):
        self.perm, self.shape = tuple(perm), None if shape is None else tuple(shape)

    def __call__(self, value):
        value = np.transpose(value, self.perm)
        return value if self.shape is None else np.reshape(value, self.shape)

    def __eq__(self, other):
        return isinstance(other, _Transposed) and (other.perm, other.shape) == (self.perm, self.shape)

    def __hash__(self):
        return hash((self.perm, self.shape))


# ------------------------------------------------------------------------------------------------ pooling
def pool(op_type, **attrs):
    """MaxPool (never takes a padded cell as the max) or AveragePool over the cells inside the input
    (count_include_pad=0), as TensorFlow's pools with padding='same'."""
    def convert(g, layer, node):
        t = single_input(node)
        rank = layer.rank
        x = _to_channels_first(g, g.name_of(t), rank, layer.name)
        pads = _window_pads(layer, t.shape[1:1 + rank], layer.pool_size, layer.strides, layer.padding)
        y = g.op(op_type, [x], layer.name, kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                 pads=pads, **attrs)
        return [_to_channels_last(g, y, rank, layer.name)]
    return convert


def global_pool(op_type):
    def convert(g, layer, node):
        axes = list(range(1, layer.rank + 1))
        return [g.reduce(op_type, g.name_of(single_input(node)), axes, layer.keepdims, layer.name)]
    return convert


def global_average_pool_1d(g, layer, node):
    """The mean over the steps; with a mask, over the kept steps (a row with none kept gives zeros)."""
    t = single_input(node)
    mask = needed_mask(g, layer, node)
    if mask is None:
        return global_pool("ReduceMean")(g, layer, node)
    name, dtype = layer.name, dtype_of(t)
    keep = g.op("Unsqueeze", [cast(g, mask, dtype, name), g.ints([2], f"{name}/feature_axis")], name)
    total = g.reduce("ReduceSum", g.op("Mul", [g.name_of(t), keep], name), [1], layer.keepdims, name)
    count = g.op("Max", [g.reduce("ReduceSum", keep, [1], layer.keepdims, name), g.scalar(1, dtype, f"{name}/one")],
                 name)
    return [g.op("Div", [total, count], name)]


# ------------------------------------------------------------------------------------------------ reshaping
def _resize_nchw(g, layer, x, sizes, mode):
    """ONNX's Resize of the channels_last image `x` to `sizes` (height, width) by TensorFlow's half-pixel
    rules: bilinear interpolates between the clamped neighbours; nearest takes floor(src + 0.5), ONNX's
    round_prefer_ceil of the half-pixel source coordinate."""
    y = _to_channels_first(g, x, 2, layer.name)
    out_shape = g.op("Concat", [g.op("Slice", [g.op("Shape", [y], layer.name), g.ints([0], f"{layer.name}/start"),
                                               g.ints([2], f"{layer.name}/end")], layer.name),
                                g.ints(list(sizes), f"{layer.name}/sizes")], layer.name, axis=0)
    attrs = dict(mode="linear") if mode == "bilinear" else dict(mode="nearest", nearest_mode="round_prefer_ceil")
    y = g.op("Resize", [y, "", "", out_shape], layer.name, coordinate_transformation_mode="half_pixel", **attrs)
    return _to_channels_last(g, y, 2, layer.name)


def _image_size(layer, t):
    if None in t.shape[1:3]:
        raise unsupported(layer, f"needs the image's height and width defined, got input shape {t.shape}")
    return t.shape[1:3]


def upsampling(g, layer, node):
    t = single_input(node)
    if layer.interpolation == "bilinear":
        h, w = _image_size(layer, t)
        return [_resize_nchw(g, layer, g.name_of(t), (h * layer.size[0], w * layer.size[1]), "bilinear")]
    x = _to_channels_first(g, g.name_of(t), 2, layer.name)
    scales = g.constant(np.array([1, 1, *layer.size], dtype=np.float32), f"{layer.name}/scales")
    # asymmetric + floor: output pixel i reads input pixel i // size, Keras's repeat
    y = g.op("Resize", [x, "", scales], layer.name, mode="nearest", coordinate_transformation_mode="asymmetric",
             nearest_mode="floor")
    return [_to_channels_last(g, y, 2, layer.name)]


def upsampling_1d(g, layer, node):
    """Each step repeated `size` times: (batch, steps, 1, features) tiled along the new axis, then merged."""
    t, name = single_input(node), layer.name
    x = g.op("Unsqueeze", [g.name_of(t), g.ints([2], f"{name}/axis")], name)
    x = g.op("Tile", [x, g.ints([1, 1, layer.size, 1], f"{name}/repeats")], name)
    return [g.op("Reshape", [x, g.ints([0, -1, t.shape[2]], f"{name}/shape")], name)]


def zero_padding(g, layer, node):
    begins = [0] + [b for b, _ in layer.padding] + [0]
    ends = [0] + [a for _, a in layer.padding] + [0]
    return [g.op("Pad", [g.name_of(single_input(node)), g.ints(begins + ends, f"{layer.name}/pads")], layer.name,
                 mode="constant")]


def cropping(g, layer, node):
    return [_spatial_slice(g, g.name_of(single_input(node)), layer.cropping, layer.name)]


def _centred_box(g, layer, x, box, in_size):
    top, left, height, width = box
    h, w = in_size
    if (top, left, height, width) == (0, 0, h, w):
        return x
    return _spatial_slice(g, x, ((top, h - top - height), (left, w - left - width)), layer.name)


def _resized(g, layer, x, in_size, interpolation):
    if tuple(in_size) == (layer.height, layer.width):
        return x
    return _resize_nchw(g, layer, x, (layer.height, layer.width), interpolation)


def resizing(g, layer, node):
    t = single_input(node)
    size, x = _image_size(layer, t), g.name_of(t)
    if layer.crop_to_aspect_ratio:
        box = _aspect_crop(*size, layer.height, layer.width)
        x, size = _centred_box(g, layer, x, box, size), box[2:]
    return [_resized(g, layer, x, size, layer.interpolation)]


def center_crop(g, layer, node):
    t = single_input(node)
    (h, w), x = _image_size(layer, t), g.name_of(t)
    if h >= layer.height and w >= layer.width:
        box = ((h - layer.height) // 2, (w - layer.width) // 2, layer.height, layer.width)
        return [_centred_box(g, layer, x, box, (h, w))]
    box = _aspect_crop(h, w, layer.height, layer.width)  # smaller than the target: smart_resize
    return [_resized(g, layer, _centred_box(g, layer, x, box, (h, w)), box[2:], "bilinear")]


# ------------------------------------------------------------------------------------------------ merges
def merge(op_type):
    def convert(g, layer, node):
        xs = [g.name_of(t) for t in single_input(node)]
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
    return [g.op("Concat", [g.name_of(t) for t in single_input(node)], layer.name, axis=layer.axis)]


# ------------------------------------------------------------------------------------------------ sequences
def embedding(g, layer, node):
    t = single_input(node)
    ids, ids_dtype = g.name_of(t), dtype_of(t)
    if ids_dtype.kind != "i":
        ids, ids_dtype = cast(g, ids, np.int64, layer.name), np.dtype(np.int64)
    if layer.mask_zero:  # the mask: the steps whose id is not 0
        padding = g.scalar(0, ids_dtype, f"{layer.name}/padding_id")
        g.set_mask(node.outputs[0], g.op("Not", [g.op("Equal", [ids, padding], layer.name)], layer.name))
    return [g.op("Gather", [g.weight(layer.embeddings, f"{layer.name}/embeddings"), ids], layer.name, axis=0)]


def masking(g, layer, node):
    """The steps whose features all equal mask_value are masked, and zeroed."""
    t, name = single_input(node), layer.name
    x, dtype = g.name_of(t), dtype_of(t)
    differs = cast(g, g.op("Not", [g.op("Equal", [x, g.scalar(layer.mask_value, dtype, f"{name}/mask_value")], name)],
                            name), dtype, name)
    keep = g.reduce("ReduceMax", differs, [len(t.shape) - 1], True, name)
    g.set_mask(node.outputs[0], cast(g, g.op("Squeeze", [keep, g.ints([-1], f"{name}/feature_axis")], name),
                                      np.bool_, name))
    return [g.op("Mul", [x, keep], name)]


class _InnerCall:
    """The call node a wrapped layer would have had: TimeDistributed runs its layer on (batch * time, ...)
    without a graph node of its own, and the converters read shapes from nodes."""

    def __init__(self, input_tensor, output_tensor):
        self.call_args, self.call_kwargs = (input_tensor,), {}
        self.inputs, self.outputs = [input_tensor], [output_tensor]


def time_distributed(g, layer, node):
    t = single_input(node)
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
    x = g.name_of(single_input(node))
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
    inputs = [g.name_of(single_input(node)), gamma]
    if layer.beta is not None:
        inputs.append(g.weight(layer.beta, f"{layer.name}/beta"))
    if layer.gamma is not None and tuple(layer.gamma.shape) != tuple(sizes):
        inputs[1] = g.constant(np.reshape(layer.gamma.numpy(), sizes), f"{layer.name}/gamma")
        if layer.beta is not None:
            inputs[2] = g.constant(np.reshape(layer.beta.numpy(), sizes), f"{layer.name}/beta")
    return [g.op("LayerNormalization", inputs, layer.name, axis=axes[0], epsilon=layer.epsilon)]


def normalization(g, layer, node):
    """The adapted (or given) statistics: (x - mean) / std, or x * std + mean with invert."""
    x, dtype = g.name_of(single_input(node)), dtype_of(node.outputs[0])
    mean, std = (g.constant(np.ascontiguousarray(a), f"{layer.name}/{what}")
                 for a, what in zip(layer._stats(dtype), ("mean", "std")))
    if layer.invert:
        return [g.op("Add", [g.op("Mul", [x, std], layer.name), mean], layer.name)]
    return [g.op("Div", [g.op("Sub", [x, mean], layer.name), std], layer.name)]


def _scale_and_center(g, layer, y, shape):
    if layer.gamma is not None:
        y = g.op("Mul", [y, g.constant(np.reshape(layer.gamma.numpy(), shape), f"{layer.name}/gamma")], layer.name)
    if layer.beta is not None:
        y = g.op("Add", [y, g.constant(np.reshape(layer.beta.numpy(), shape), f"{layer.name}/beta")], layer.name)
    return y


def group_normalization(g, layer, node):
    """Each sample's channel groups normalised over the group and the other feature axes, from primitive
    ops (ONNX's GroupNormalization op needs opset 18 and changed meaning in 21)."""
    t, name = single_input(node), layer.name
    shape, a, dtype = tuple(t.shape), layer._axes[0], dtype_of(t)
    grouped = [0] + [-1 if n is None else n for n in shape[1:a]] + [layer.groups, shape[a] // layer.groups] + \
        [-1 if n is None else n for n in shape[a + 1:]]
    if grouped.count(-1) > 1:
        raise unsupported(layer, f"needs at most one undefined size besides the batch, got input shape {shape}")
    x = g.name_of(t)
    y = g.op("Reshape", [x, g.ints(grouped, f"{name}/grouped")], name)
    axes = [i for i in range(1, len(grouped)) if i != a]
    centred = g.op("Sub", [y, g.reduce("ReduceMean", y, axes, True, name)], name)
    variance = g.reduce("ReduceMean", g.op("Mul", [centred, centred], name), axes, True, name)
    std = g.op("Sqrt", [g.op("Add", [variance, g.scalar(layer.epsilon, dtype, f"{name}/epsilon")], name)], name)
    y = g.op("Reshape", [g.op("Div", [centred, std], name), g.op("Shape", [x], name)], name)
    return [_scale_and_center(g, layer, y, layer._broadcast_shape())]


def unit_normalization(g, layer, node):
    """x / sqrt(max(sum(x^2), 1e-12)) over the layer's axes."""
    t, name = single_input(node), layer.name
    x = g.name_of(t)
    squares = g.reduce("ReduceSum", g.op("Mul", [x, x], name), list(layer._axes), True, name)
    floor = g.scalar(1e-12, dtype_of(t), f"{name}/epsilon")
    return [g.op("Div", [x, g.op("Sqrt", [g.op("Max", [squares, floor], name)], name)], name)]


# ------------------------------------------------------------------------------------------------ masks
def _passes_mask(layer):
    """Whether a layer's output mask is its input's mask unchanged (the RNNs: on their sequence outputs)."""
    return type(layer).compute_mask is Layer.compute_mask or isinstance(layer, (L.RNN, L.Bidirectional))


def pass_masks(g, layer, node):
    """After a layer's conversion: the masks its outputs carry, where its converter did not set them (a
    mask source does): the input's mask passed on, the merges' logical and of their inputs' masks, or
    NO_MASK_FORM for any other rule."""
    inputs = [t for t in flatten(node.call_args[0]) if isinstance(t, KerasTensor)] if node.call_args else []
    incoming = [g.mask_of(t) for t in inputs]
    present = [m for m in incoming if m is not None]
    for t in node.outputs:
        if not getattr(t, "has_mask", False) or g.mask_of(t) is not None:
            continue
        if not present or NO_MASK_FORM in present:
            mask = NO_MASK_FORM
        elif isinstance(layer, _Merge):
            mask = present[0]
            for m in present[1:]:
                mask = g.op("And", [mask, m], layer.name)
        elif _passes_mask(layer) and len(set(present)) == 1 and (
                not isinstance(layer, (L.RNN, L.Bidirectional)) or len(t.shape) == 3):
            mask = present[0]
        else:
            mask = NO_MASK_FORM
        g.set_mask(t, mask)


# ------------------------------------------------------------------------------------------------ the table
CONVERTERS = {
    L.Dense: dense,
    L.Activation: activation,
    L.ReLU: relu_layer,
    L.LeakyReLU: leaky_relu_layer,
    L.PReLU: prelu_layer,
    L.ELU: elu_layer,
    L.Softmax: softmax_layer,
    L.Dropout: identity,
    L.SpatialDropout2D: identity,
    L.GaussianNoise: identity,
    L.GaussianDropout: identity,
    L.ActivityRegularization: identity,
    L.Flatten: flatten_layer,
    L.Reshape: reshape,
    L.RepeatVector: repeat_vector,
    L.Permute: permute,
    L.Rescaling: rescaling,
    L.Conv1D: conv,
    L.Conv2D: conv,
    L.Conv1DTranspose: conv_transpose,
    L.Conv2DTranspose: conv_transpose,
    L.DepthwiseConv2D: depthwise_conv,
    L.SeparableConv2D: separable_conv,
    L.MaxPooling1D: pool("MaxPool"),
    L.MaxPooling2D: pool("MaxPool"),
    L.AveragePooling1D: pool("AveragePool", count_include_pad=0),
    L.AveragePooling2D: pool("AveragePool", count_include_pad=0),
    L.GlobalMaxPooling1D: global_pool("ReduceMax"),
    L.GlobalMaxPooling2D: global_pool("ReduceMax"),
    L.GlobalAveragePooling1D: global_average_pool_1d,
    L.GlobalAveragePooling2D: global_pool("ReduceMean"),
    L.UpSampling1D: upsampling_1d,
    L.UpSampling2D: upsampling,
    L.ZeroPadding1D: zero_padding,
    L.ZeroPadding2D: zero_padding,
    L.Cropping1D: cropping,
    L.Cropping2D: cropping,
    L.Resizing: resizing,
    L.CenterCrop: center_crop,
    L.Add: merge("Sum"),
    L.Subtract: merge("Sub"),
    L.Multiply: merge("Mul"),
    L.Average: merge("Mean"),
    L.Maximum: merge("Max"),
    L.Minimum: merge("Min"),
    L.Concatenate: concatenate,
    L.Embedding: embedding,
    L.Masking: masking,
    L.SimpleRNN: recurrent,
    L.LSTM: recurrent,
    L.GRU: recurrent,
    L.RNN: recurrent,
    L.Bidirectional: bidirectional,
    L.TimeDistributed: time_distributed,
    L.BatchNormalization: batch_normalization,
    L.LayerNormalization: layer_normalization,
    L.GroupNormalization: group_normalization,
    L.UnitNormalization: unit_normalization,
    L.Normalization: normalization,
}
# the converters that apply the mask their layer's call takes (the others refuse a masked input)
_MASK_USERS = {recurrent, bidirectional, global_average_pool_1d}


def convert(g, layer, node):
    """The ONNX names of one layer call's outputs; a layer with no converter is an error naming it."""
    converter = CONVERTERS.get(type(layer))  # the exact class: a subclass may compute something else
    if converter is None:
        raise unsupported(layer, f"has no ONNX form; layers that export: "
                                 f"{', '.join(sorted(cls.__name__ for cls in CONVERTERS))}")
    given = isinstance(node.call_kwargs.get("mask"), KerasTensor)
    if converter not in _MASK_USERS and layer._signature[2] and (
            given or any(g.mask_of(t) is not None for t in node.inputs)):
        raise unsupported(layer, "is called with a mask (from Embedding(mask_zero=True) or Masking), which its "
                                 "ONNX form does not apply")
    return converter(g, layer, node)
