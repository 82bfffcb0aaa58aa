"""The op table: every public op with sample arguments, its value checked against plain numpy, and the
gradient of every differentiable argument by central finite differences in float64."""
import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special

from minigraph import ops
from minigraph.autodiff import Tape, Variable

RNG = np.random.default_rng(1234)


def away_from_zero(*shape, low=0.3, high=1.5):
    """Random values of either sign with |v| in [low, high]: no op here has a kink there."""
    return RNG.uniform(low, high, shape) * RNG.choice([-1.0, 1.0], shape)


def positive(*shape, low=0.5, high=2.0):
    return RNG.uniform(low, high, shape)


def distinct(*shape):
    """Values far apart from each other, so that max/min/sort have no near-ties."""
    return RNG.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) * 0.37 - 2.0


class Row:
    def __init__(self, name, fn, args, reference, grad=(), kwargs=None, id=None):
        self.name = id or name
        self.fn = fn
        self.args = args
        self.kwargs = kwargs or {}
        self.reference = reference
        self.grad = grad  # indices of the arguments to differentiate

    def __repr__(self):
        return self.name


def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


def softmax_ref(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conv2d_ref(x, kernel, bias, strides, padding):
    kh, kw = kernel.shape[:2]
    if padding == "same":
        ph = max((math.ceil(x.shape[1] / strides[0]) - 1) * strides[0] + kh - x.shape[1], 0)
        pw = max((math.ceil(x.shape[2] / strides[1]) - 1) * strides[1] + kw - x.shape[2], 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::strides[0], ::strides[1]]
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias


def conv2d_transpose_ref(x, kernel, bias, strides):
    """'valid' transposed convolution from its definition; kernel (kh, kw, out, in) as Keras stores it."""
    n, h, w, _ = x.shape
    kh, kw, cout, _ = kernel.shape
    out = np.zeros((n, (h - 1) * strides[0] + kh, (w - 1) * strides[1] + kw, cout))
    for i in range(h):
        for j in range(w):
            out[:, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw] += np.einsum(
                "nc,aboc->nabo", x[:, i, j], kernel)
    return out + bias


def max_pool_ref(x, size):
    return sliding_window_view(x, size, axis=(1, 2))[:, ::size[0], ::size[1]].max(axis=(-2, -1))


def gelu_tanh_ref(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


A, B = away_from_zero(3, 4), away_from_zero(3, 4)
ROW = away_from_zero(4)
P = positive(3, 4)
D = distinct(3, 4)
D3 = distinct(2, 3, 4)
INTS = np.array([[0, 2, 1], [3, 3, 0]])
NHWC = away_from_zero(2, 5, 5, 3)
LABELS = softmax_ref(away_from_zero(3, 4))


def _sig(z):
    return 1 / (1 + np.exp(-z))


def lstm_ref(x, k, r, b, h, c, **_):
    """Keras's LSTM step loop (gates i, f, c, o), packed as the op packs it: outputs, then h, then c."""
    u, outs = h.shape[1], []
    for t in range(x.shape[1]):
        z = x[:, t] @ k + h @ r + b
        i, f, g, o = _sig(z[:, :u]), _sig(z[:, u:2 * u]), np.tanh(z[:, 2 * u:3 * u]), _sig(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.concatenate([np.stack(outs, 1), h[:, None], c[:, None]], axis=1)


def gru_ref(x, k, r, b, h, **_):
    """Keras's GRU with reset_after (gates z, r, h; bias rows input and recurrent)."""
    u, outs = h.shape[1], []
    for t in range(x.shape[1]):
        xp, hp = x[:, t] @ k + b[0], h @ r + b[1]
        z, rr = _sig(xp[:, :u] + hp[:, :u]), _sig(xp[:, u:2 * u] + hp[:, u:2 * u])
        h = z * h + (1 - z) * np.tanh(xp[:, 2 * u:] + rr * hp[:, 2 * u:])
        outs.append(h)
    return np.concatenate([np.stack(outs, 1), h[:, None]], axis=1)


def simple_rnn_ref(x, k, r, b, h, **_):
    outs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ k + h @ r + b)
        outs.append(h)
    return np.concatenate([np.stack(outs, 1), h[:, None]], axis=1)


SEQ = away_from_zero(2, 3, 4) * 0.5

ROWS = [
    # creation
    Row("zeros", ops.zeros, [(2, 3)], lambda s: np.zeros(s, np.float32)),
    Row("ones", ops.ones, [(2, 3)], lambda s: np.ones(s, np.float32)),
    Row("zeros_like", ops.zeros_like, [A], np.zeros_like),
    Row("ones_like", ops.ones_like, [A], np.ones_like),
    Row("full", ops.full, [(2, 2), 7.5], lambda s, v: np.full(s, v, np.float32)),
    Row("full_like", ops.full_like, [A, 2.0], np.full_like),
    Row("eye", ops.eye, [3], lambda n: np.eye(n, dtype=np.float32)),
    Row("eye", ops.eye, [3, 4], lambda n, m, k: np.eye(n, m, k, dtype=np.float32), kwargs={"k": 1}, id="eye-k"),
    Row("arange", ops.arange, [5], lambda n: np.arange(n, dtype=np.int32)),
    Row("arange", ops.arange, [1.0, 2.0, 0.25], lambda a, b, c: np.arange(a, b, c, dtype=np.float32),
        id="arange-float"),
    Row("convert_to_tensor", ops.convert_to_tensor, [[1.0, 2.0]], lambda v: np.array(v, np.float32)),
    Row("convert_to_numpy", ops.convert_to_numpy, [A], np.array),
    Row("cast", ops.cast, [A, "float32"], lambda x, d: x.astype(np.float32)),
    Row("cast", ops.cast, [A * 3, "int32"], lambda x, d: x.astype(np.int32), id="cast-int"),
    Row("cast", ops.cast, [A, "float64"], lambda x, d: x, grad=(0,), id="cast-float64"),
    Row("stop_gradient", ops.stop_gradient, [A], lambda x: x),
    # elementwise arithmetic
    Row("add", ops.add, [A, B], np.add, grad=(0, 1)),
    Row("add", ops.add, [A, ROW], np.add, grad=(0, 1), id="add-broadcast"),
    Row("subtract", ops.subtract, [A, ROW], np.subtract, grad=(0, 1)),
    Row("multiply", ops.multiply, [A, B], np.multiply, grad=(0, 1)),
    Row("divide", ops.divide, [A, ROW], np.divide, grad=(0, 1)),
    Row("negative", ops.negative, [A], np.negative, grad=(0,)),
    Row("mod", ops.mod, [A * 3, ROW], np.mod, grad=(0, 1)),
    Row("floor_divide", ops.floor_divide, [A * 3, ROW], np.floor_divide),
    Row("power", ops.power, [P, B], np.power, grad=(0, 1)),
    Row("power", ops.power, [A, 3], np.power, grad=(0,), id="power-int"),
    Row("square", ops.square, [A], np.square, grad=(0,)),
    Row("sqrt", ops.sqrt, [P], np.sqrt, grad=(0,)),
    Row("exp", ops.exp, [A], np.exp, grad=(0,)),
    Row("log", ops.log, [P], np.log, grad=(0,)),
    Row("log1p", ops.log1p, [P], np.log1p, grad=(0,)),
    Row("expm1", ops.expm1, [A], np.expm1, grad=(0,)),
    Row("abs", ops.abs, [A], np.abs, grad=(0,)),
    Row("sin", ops.sin, [A], np.sin, grad=(0,)),
    Row("cos", ops.cos, [A], np.cos, grad=(0,)),
    Row("tanh", ops.tanh, [A], np.tanh, grad=(0,)),
    Row("maximum", ops.maximum, [A, B], np.maximum, grad=(0, 1)),
    Row("minimum", ops.minimum, [A, ROW], np.minimum, grad=(0, 1)),
    Row("clip", ops.clip, [A, -0.9, 0.8], np.clip, grad=(0,)),
    Row("where", ops.where, [A > 0, A, B], np.where, grad=(1, 2)),
    Row("where", ops.where, [A > 0], np.nonzero, id="where-indices"),
    Row("where_mask", ops.where_mask, [A > 0, A, ROW], np.where, grad=(1, 2)),
    Row("sign", ops.sign, [A], np.sign),
    Row("floor", ops.floor, [A * 3], np.floor),
    Row("round", ops.round, [A * 3], np.round),
    # comparisons and logic
    Row("equal", ops.equal, [INTS, 3], np.equal),
    Row("not_equal", ops.not_equal, [INTS, 3], np.not_equal),
    Row("greater", ops.greater, [A, B], np.greater),
    Row("greater_equal", ops.greater_equal, [A, B], np.greater_equal),
    Row("less", ops.less, [A, B], np.less),
    Row("less_equal", ops.less_equal, [A, B], np.less_equal),
    Row("logical_and", ops.logical_and, [A > 0, B > 0], np.logical_and),
    Row("logical_or", ops.logical_or, [A > 0, B > 0], np.logical_or),
    Row("logical_xor", ops.logical_xor, [A > 0, B > 0], np.logical_xor),
    Row("logical_not", ops.logical_not, [A > 0], np.logical_not),
    Row("all", ops.all, [A > -2], lambda x, axis: np.all(x, axis), kwargs={"axis": 1}),
    Row("any", ops.any, [A > 1], np.any),
    # shapes
    Row("shape", ops.shape, [D3], np.shape),
    Row("reshape", ops.reshape, [D3, (4, 6)], np.reshape, grad=(0,)),
    Row("reshape", ops.reshape, [D3, (-1, 2)], np.reshape, grad=(0,), id="reshape-infer"),
    Row("transpose", ops.transpose, [D3], np.transpose, grad=(0,)),
    Row("transpose", ops.transpose, [D3, (1, 2, 0)], np.transpose, grad=(0,), id="transpose-axes"),
    Row("expand_dims", ops.expand_dims, [A, 1], np.expand_dims, grad=(0,)),
    Row("squeeze", ops.squeeze, [A[:, None, :]], np.squeeze, grad=(0,)),
    Row("squeeze", ops.squeeze, [A[:, None, :, None]], np.squeeze, grad=(0,), kwargs={"axis": -1},
        id="squeeze-axis"),
    Row("concatenate", lambda a, b: ops.concatenate([a, b]), [A, B], lambda a, b: np.concatenate([a, b]),
        grad=(0, 1)),
    Row("concatenate", lambda a, b: ops.concatenate([a, b], axis=-1), [A, P],
        lambda a, b: np.concatenate([a, b], axis=-1), grad=(0, 1), id="concatenate-last"),
    Row("stack", lambda a, b: ops.stack([a, b], axis=1), [A, B], lambda a, b: np.stack([a, b], axis=1),
        grad=(0, 1)),
    Row("split", lambda x: ops.concatenate([p * (i + 1) for i, p in enumerate(ops.split(x, [1, 3], axis=1))],
                                          axis=1),
        [A], lambda x: np.concatenate([p * (i + 1) for i, p in enumerate(np.split(x, [1, 3], axis=1))], axis=1),
        grad=(0,)),
    Row("tile", ops.tile, [A, (2, 1)], np.tile, grad=(0,)),
    Row("tile", ops.tile, [ROW, (3, 2)], np.tile, grad=(0,), id="tile-new-axis"),
    Row("repeat", ops.repeat, [A, 2], lambda x, r, axis: np.repeat(x, r, axis), grad=(0,), kwargs={"axis": 1}),
    Row("repeat", ops.repeat, [A, [1, 0, 3]], lambda x, r, axis: np.repeat(x, r, axis), grad=(0,),
        kwargs={"axis": 0}, id="repeat-counts"),
    Row("repeat", ops.repeat, [A, 2], np.repeat, grad=(0,), id="repeat-flat"),
    # indexing
    Row("get_item", ops.get_item, [D3, (slice(None), 1, slice(None, None, 2))], lambda x, k: x[k], grad=(0,)),
    Row("get_item", ops.get_item, [D3, (Ellipsis, np.array([0, 0, 3]))], lambda x, k: x[k], grad=(0,),
        id="get_item-repeated-indices"),
    Row("get_item", ops.get_item, [A, A > 0], lambda x, k: x[k], grad=(0,), id="get_item-mask"),
    Row("get_item", ops.get_item, [A, (None, slice(1, None), -1)], lambda x, k: x[k], grad=(0,),
        id="get_item-newaxis"),
    Row("take", ops.take, [D3, np.array([[2, 0], [2, 1]])], lambda x, i, axis: np.take(x, i, axis), grad=(0,),
        kwargs={"axis": 1}),
    Row("take", ops.take, [A, np.array([5, 5, 0])], np.take, grad=(0,), id="take-flat"),
    Row("take_along_axis", ops.take_along_axis, [A, np.array([[0, 0, 3]] * 3)],
        lambda x, i, axis: np.take_along_axis(x, i, axis), grad=(0,), kwargs={"axis": 1}),
    Row("take_along_axis", ops.take_along_axis, [D3, np.array([[[1], [0], [2]]])],
        lambda x, i, axis: np.take_along_axis(x, np.broadcast_to(i, (2, 3, 1)), axis), grad=(0,),
        kwargs={"axis": -1}, id="take_along_axis-broadcast"),
    Row("one_hot", ops.one_hot, [INTS, 4], lambda x, n: np.eye(n, dtype=np.float32)[x]),
    Row("one_hot", ops.one_hot, [np.array([0, 5, -1]), 3],
        lambda x, n: np.array([[1, 0, 0], [0, 0, 0], [0, 0, 0]], np.float32), id="one_hot-out-of-range"),
    # reductions
    Row("sum", ops.sum, [D3], np.sum, grad=(0,)),
    Row("sum", ops.sum, [D3], lambda x, axis, keepdims: np.sum(x, axis, keepdims=keepdims), grad=(0,),
        kwargs={"axis": (0, 2), "keepdims": True}, id="sum-axes"),
    Row("mean", ops.mean, [D3], lambda x, axis: np.mean(x, axis), grad=(0,), kwargs={"axis": 1}),
    Row("mean", ops.mean, [INTS], lambda x: np.float32(np.mean(x)), id="mean-int"),
    Row("max", ops.max, [D3], lambda x, axis: np.max(x, axis), grad=(0,), kwargs={"axis": -1}),
    Row("max", ops.max, [np.array([[1.0, 3.0, 3.0], [2.0, 0.5, 1.0]])], np.max, grad=(0,), id="max-tie"),
    Row("min", ops.min, [D3], lambda x, axis, keepdims: np.min(x, tuple(axis), keepdims=keepdims), grad=(0,),
        kwargs={"axis": [0, 1], "keepdims": True}),
    Row("argmax", ops.argmax, [D3], lambda x, axis: np.argmax(x, axis), kwargs={"axis": 1}),
    Row("argmin", ops.argmin, [D3], np.argmin),
    Row("std", ops.std, [D3], lambda x, axis: np.std(x, axis), grad=(0,), kwargs={"axis": 1}),
    Row("var", ops.var, [D3], np.var, grad=(0,)),
    Row("var", ops.var, [D3], lambda x, axis, keepdims: np.var(x, axis, keepdims=keepdims), grad=(0,),
        kwargs={"axis": (0, 2), "keepdims": True}, id="var-axes"),
    Row("prod", ops.prod, [A], lambda x, axis: np.prod(x, axis), grad=(0,), kwargs={"axis": 0}),
    Row("prod", ops.prod, [np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5]])],
        lambda x, axis: np.prod(x, axis), grad=(0,), kwargs={"axis": 1}, id="prod-zeros"),
    Row("cumsum", ops.cumsum, [D3], lambda x, axis: np.cumsum(x, axis), grad=(0,), kwargs={"axis": 1}),
    Row("cumsum", ops.cumsum, [A], np.cumsum, grad=(0,), id="cumsum-flat"),
    Row("logsumexp", ops.logsumexp, [A], lambda x, axis: np.log(np.exp(x).sum(axis)), grad=(0,),
        kwargs={"axis": -1}),
    Row("norm", ops.norm, [A], np.linalg.norm, grad=(0,)),
    Row("norm", ops.norm, [A], lambda x, axis, ord: np.linalg.norm(x, ord, axis), grad=(0,),
        kwargs={"axis": 1, "ord": 1}, id="norm-l1"),
    Row("rsqrt", ops.rsqrt, [P], lambda x: 1 / np.sqrt(x), grad=(0,)),
    Row("erf", ops.erf, [A], special.erf, grad=(0,)),
    # products
    Row("matmul", ops.matmul, [A, B.T], np.matmul, grad=(0, 1)),
    Row("matmul", ops.matmul, [D3, away_from_zero(4, 2)], np.matmul, grad=(0, 1), id="matmul-batched"),
    Row("matmul", ops.matmul, [A, ROW], np.matmul, grad=(0, 1), id="matmul-vector"),
    Row("dot", ops.dot, [A, B.T], np.dot, grad=(0, 1)),
    Row("dot", ops.dot, [D3, away_from_zero(2, 4, 3)], np.dot, grad=(0, 1), id="dot-nd"),
    Row("dot", ops.dot, [A, ROW], np.dot, grad=(0, 1), id="dot-vector"),
    Row("dot", ops.dot, [A, 2.5], np.dot, grad=(0,), id="dot-scalar"),
    Row("einsum", lambda a, b: ops.einsum("ij,kj->ik", a, b), [A, B], lambda a, b: np.einsum("ij,kj->ik", a, b),
        grad=(0, 1)),
    Row("einsum", lambda a, b: ops.einsum("bij,j->b", a, b), [D3, ROW], lambda a, b: np.einsum("bij,j->b", a, b),
        grad=(0, 1), id="einsum-sum-alone"),
    Row("einsum", lambda a, b: ops.einsum("...j,jk", a, b), [D3, away_from_zero(4, 2)],
        lambda a, b: np.einsum("...j,jk", a, b), grad=(0, 1), id="einsum-ellipsis-implicit"),
    # activations
    Row("relu", ops.relu, [A], lambda x: np.maximum(x, 0), grad=(0,)),
    Row("relu6", ops.relu6, [A * 5], lambda x: np.clip(x, 0, 6), grad=(0,)),
    Row("sigmoid", ops.sigmoid, [A], sigmoid_ref, grad=(0,)),
    Row("softmax", ops.softmax, [A], softmax_ref, grad=(0,)),
    Row("softmax", ops.softmax, [A], softmax_ref, grad=(0,), kwargs={"axis": 0}, id="softmax-axis0"),
    Row("log_softmax", ops.log_softmax, [A], lambda x: np.log(softmax_ref(x)), grad=(0,)),
    Row("softplus", ops.softplus, [A], lambda x: np.log1p(np.exp(x)), grad=(0,)),
    Row("softsign", ops.softsign, [A], lambda x: x / (1 + np.abs(x)), grad=(0,)),
    Row("silu", ops.silu, [A], lambda x: x * sigmoid_ref(x), grad=(0,)),
    Row("swish", ops.swish, [A], lambda x: x * sigmoid_ref(x)),
    Row("gelu", ops.gelu, [A], gelu_tanh_ref, grad=(0,)),
    Row("gelu", ops.gelu, [A], lambda x, approximate: x * 0.5 * (1 + special.erf(x / math.sqrt(2))), grad=(0,),
        kwargs={"approximate": False}, id="gelu-exact"),
    Row("elu", ops.elu, [A], lambda x, alpha: np.where(x > 0, x, alpha * (np.exp(x) - 1)), grad=(0,),
        kwargs={"alpha": 0.7}),
    Row("selu", ops.selu, [A],
        lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(x) - 1)), grad=(0,)),
    Row("leaky_relu", ops.leaky_relu, [A], lambda x: np.where(x > 0, x, 0.2 * x), grad=(0,)),
    Row("hard_sigmoid", ops.hard_sigmoid, [A * 4], lambda x: np.clip(x / 6 + 0.5, 0, 1), grad=(0,)),
    Row("hard_silu", ops.hard_silu, [A * 4], lambda x: x * np.clip(x / 6 + 0.5, 0, 1), grad=(0,)),
    Row("linear", ops.linear, [A], lambda x: x),
    # layers' ops on the kernels
    Row("dense", ops.dense, [A, away_from_zero(4, 5), away_from_zero(5)], lambda x, k, b: x @ k + b,
        grad=(0, 1, 2)),
    Row("dense", ops.dense, [D3, away_from_zero(4, 5), away_from_zero(5)],
        lambda x, k, b, relu: np.maximum(x @ k + b, 0), grad=(0, 1, 2), kwargs={"relu": True}, id="dense-relu"),
    Row("bias_add", ops.bias_add, [A, ROW], np.add, grad=(0, 1)),
    Row("conv2d", ops.conv2d, [NHWC, away_from_zero(3, 3, 3, 4), away_from_zero(4)],
        lambda x, k, b: conv2d_ref(x, k, b, (1, 1), "valid"), grad=(0, 1, 2)),
    Row("conv2d", ops.conv2d, [NHWC, away_from_zero(3, 2, 3, 2), away_from_zero(2)],
        lambda x, k, b, strides, padding: conv2d_ref(x, k, b, strides, padding), grad=(0, 1, 2),
        kwargs={"strides": (2, 1), "padding": "same"}, id="conv2d-same-strided"),
    Row("conv2d_transpose", ops.conv2d_transpose, [NHWC, away_from_zero(3, 3, 2, 3), away_from_zero(2)],
        lambda x, k, b, strides: conv2d_transpose_ref(x, k, b, strides), grad=(0, 1, 2),
        kwargs={"strides": (2, 2)}),
    Row("conv", ops.conv, [NHWC, away_from_zero(2, 3, 3, 2)],
        lambda x, k, strides, padding: conv2d_ref(x, k, 0.0, (strides, strides), padding), grad=(0, 1),
        kwargs={"strides": 2, "padding": "same"}),
    Row("conv_transpose", ops.conv_transpose, [NHWC, away_from_zero(2, 2, 4, 3)],
        lambda x, k, strides: conv2d_transpose_ref(x, k, 0.0, strides), grad=(0, 1), kwargs={"strides": (1, 2)}),
    Row("max_pool", ops.max_pool, [distinct(2, 4, 6, 3), 2], lambda x, s: max_pool_ref(x, (s, s)), grad=(0,)),
    Row("max_pool2d", ops.max_pool2d, [distinct(2, 4, 6, 3), (2, 3)], max_pool_ref, grad=(0,)),
    Row("global_max_pool2d", ops.global_max_pool2d, [distinct(2, 3, 4, 3)], lambda x: x.max(axis=(1, 2)),
        grad=(0,)),
    Row("global_avg_pool2d", ops.global_avg_pool2d, [NHWC], lambda x: x.mean(axis=(1, 2)), grad=(0,)),
    # recurrent ops and the embedding lookup (compiled kernels)
    Row("lstm_sequence", ops.lstm_sequence, [SEQ, away_from_zero(4, 12) * 0.4, away_from_zero(3, 12) * 0.4,
                                             away_from_zero(12) * 0.3, away_from_zero(2, 3) * 0.5,
                                             away_from_zero(2, 3) * 0.5], lstm_ref, grad=(0, 1, 2, 3, 4, 5)),
    Row("gru_sequence", ops.gru_sequence, [SEQ, away_from_zero(4, 9) * 0.4, away_from_zero(3, 9) * 0.4,
                                           away_from_zero(2, 9) * 0.3, away_from_zero(2, 3) * 0.5], gru_ref,
        grad=(0, 1, 2, 3, 4)),
    Row("simple_rnn_sequence", ops.simple_rnn_sequence, [SEQ, away_from_zero(4, 3) * 0.4,
                                                         away_from_zero(3, 3) * 0.4, away_from_zero(3) * 0.3,
                                                         away_from_zero(2, 3) * 0.5], simple_rnn_ref,
        grad=(0, 1, 2, 3, 4)),
    Row("embedding_lookup", ops.embedding_lookup, [np.array([[0, 3], [3, 1]]), away_from_zero(4, 2)],
        lambda ids, table: table[ids], grad=(1,)),
    Row("upsampling2d", ops.upsampling2d, [NHWC, (2, 3)], lambda x, s: x.repeat(s[0], 1).repeat(s[1], 2),
        grad=(0,)),
    # losses on logits
    Row("softmax_cross_entropy_with_logits", ops.softmax_cross_entropy_with_logits, [LABELS, A],
        lambda y, z: -(y * np.log(softmax_ref(z))).sum(-1), grad=(1,)),
    Row("sparse_softmax_cross_entropy_with_logits", ops.sparse_softmax_cross_entropy_with_logits,
        [np.array([0, 3, 1]), A], lambda y, z: -np.log(softmax_ref(z))[np.arange(3), y], grad=(1,)),
    Row("sigmoid_cross_entropy_with_logits", ops.sigmoid_cross_entropy_with_logits, [(A > 0) * 1.0, B * 3],
        lambda y, z: -(y * np.log(sigmoid_ref(z)) + (1 - y) * np.log(1 - sigmoid_ref(z))), grad=(1,)),
]


def _as_list(value):
    return list(value) if isinstance(value, tuple) else [value]


def test_every_public_op_is_in_the_table():
    covered = {row.name.split("-")[0] for row in ROWS} | {"convert", "true_divide", "absolute", "hard_swish",
                                                           "dtype"}
    assert sorted(set(ops.__all__) - covered) == []


@pytest.mark.parametrize("row", ROWS, ids=repr)
def test_value_matches_numpy(row):
    out = row.fn(*row.args, **row.kwargs)
    expected = row.reference(*row.args, **row.kwargs)
    for got, want in zip(_as_list(out), _as_list(expected)):
        got, want = np.asarray(got), np.asarray(want)
        assert got.shape == want.shape
        if want.dtype.kind in "biu":
            np.testing.assert_array_equal(got, want)
        else:
            assert got.dtype == want.dtype, (got.dtype, want.dtype)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def _loss(row, values, cotangent):
    args = list(row.args)
    for i, v in zip(row.grad, values):
        args[i] = v
    return np.vdot(np.asarray(row.fn(*args, **row.kwargs), dtype=np.float64), cotangent)


GRAD_ROWS = [row for row in ROWS if row.grad]


@pytest.mark.parametrize("row", GRAD_ROWS, ids=repr)
def test_gradient_matches_finite_differences(row):
    variables = [Variable(np.array(row.args[i], dtype=np.float64)) for i in row.grad]
    args = list(row.args)
    for i, v in zip(row.grad, variables):
        args[i] = v
    with Tape() as tape:
        out = row.fn(*args, **row.kwargs)
    cotangent = RNG.standard_normal(np.shape(out))
    analytic = tape.gradient(out, variables, output_gradient=cotangent)
    eps = 1e-6
    for k, v in enumerate(variables):
        numeric = np.empty_like(v.value)
        values = [w.value.copy() for w in variables]
        flat = values[k].reshape(-1)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = _loss(row, values, cotangent)
            flat[j] = original - eps
            minus = _loss(row, values, cotangent)
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        assert analytic[k].shape == v.shape
        np.testing.assert_allclose(analytic[k], numeric, rtol=1e-5, atol=1e-7,
                                   err_msg=f"{row.name}: gradient of argument {row.grad[k]}")
