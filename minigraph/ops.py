"""Differentiable operations: each forward rule with its gradient rule beside it.

Layers (and users' custom layers) are written with these ops, so anything built from them trains without
a hand-written gradient. The heavy ops call the compiled kernels in `minigraph.kernels`; the light ones
are numpy. Every op takes numpy arrays, `Variable`s or `Traced` values (see `minigraph.autodiff`).
"""
import numpy as np

from minigraph.autodiff import Traced, Variable, differentiable, value_of
from minigraph.kernels import bias as _bias
from minigraph.kernels import conv as _conv
from minigraph.kernels import dense as _dense
from minigraph.kernels import pool as _pool
from minigraph.kernels import upsample as _upsample

__all__ = [
    "add", "subtract", "multiply", "divide", "negative", "maximum", "minimum", "power", "square", "sqrt",
    "exp", "log", "abs", "clip", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "linear",
    "sum", "mean", "max", "reshape", "transpose", "concatenate", "cast", "where_mask",
    "matmul", "dense", "bias_add", "conv2d", "conv2d_transpose", "max_pool2d", "global_max_pool2d",
    "global_avg_pool2d", "upsampling2d", "softmax_cross_entropy_with_logits",
    "sparse_softmax_cross_entropy_with_logits", "sigmoid_cross_entropy_with_logits", "convert",
]


def convert(x, dtype=None):
    """Plain numpy value of x (float32 unless x is already floating)."""
    x = value_of(x)
    if dtype is not None:
        return np.asarray(x, dtype=dtype)
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


def _unbroadcast(g, shape):
    """Sum g down to `shape`, undoing numpy broadcasting."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _shape_of(x):
    return np.shape(x)


# ----------------------------------------------------------------------------------------------- elementwise
@differentiable
def add(a, b):
    sa, sb = _shape_of(a), _shape_of(b)
    return np.add(a, b), lambda g, needs: (_unbroadcast(g, sa) if needs[0] else None,
                                           _unbroadcast(g, sb) if needs[1] else None)


@differentiable
def subtract(a, b):
    sa, sb = _shape_of(a), _shape_of(b)
    return np.subtract(a, b), lambda g, needs: (_unbroadcast(g, sa) if needs[0] else None,
                                                _unbroadcast(-g, sb) if needs[1] else None)


@differentiable
def multiply(a, b):
    def backward(g, needs):
        return (_unbroadcast(g * b, np.shape(a)) if needs[0] else None,
                _unbroadcast(g * a, np.shape(b)) if needs[1] else None)
    return np.multiply(a, b), backward


@differentiable
def divide(a, b):
    out = np.divide(a, b)

    def backward(g, needs):
        return (_unbroadcast(g / b, np.shape(a)) if needs[0] else None,
                _unbroadcast(-g * out / b, np.shape(b)) if needs[1] else None)
    return out, backward


@differentiable
def negative(a):
    return np.negative(a), lambda g, needs: (-g,)


def _select(pick_a):
    """Gradient of maximum/minimum: each element's gradient goes to the argument that was picked."""
    def backward_for(a, b):
        def backward(g, needs):
            mask = pick_a(a, b)
            return (_unbroadcast(np.where(mask, g, 0), np.shape(a)) if needs[0] else None,
                    _unbroadcast(np.where(mask, 0, g), np.shape(b)) if needs[1] else None)
        return backward
    return backward_for


_max_backward = _select(np.greater_equal)
_min_backward = _select(np.less_equal)


@differentiable
def maximum(a, b):
    return np.maximum(a, b), _max_backward(a, b)


@differentiable
def minimum(a, b):
    return np.minimum(a, b), _min_backward(a, b)


@differentiable
def power(a, exponent):
    out = np.power(a, exponent)
    return out, lambda g, needs: (g * exponent * np.power(a, exponent - 1), None)


@differentiable
def square(a):
    return np.square(a), lambda g, needs: (2 * g * a,)


@differentiable
def sqrt(a):
    out = np.sqrt(a)
    return out, lambda g, needs: (g / (2 * out),)


@differentiable
def exp(a):
    out = np.exp(a)
    return out, lambda g, needs: (g * out,)


@differentiable
def log(a):
    return np.log(a), lambda g, needs: (g / a,)


@differentiable
def abs(a):  # noqa: A001 - the op is named as in numpy and Keras
    return np.abs(a), lambda g, needs: (g * np.sign(a),)


@differentiable
def clip(a, low, high):
    out = np.clip(a, low, high)
    return out, lambda g, needs: (np.where((a >= low) & (a <= high), g, 0).astype(g.dtype), None, None)


@differentiable
def where_mask(mask, a, b):
    """mask ? a : b, with mask a constant boolean array."""
    mask = np.asarray(mask, dtype=bool)
    return np.where(mask, a, b), lambda g, needs: (
        None,
        _unbroadcast(np.where(mask, g, 0), np.shape(a)) if needs[1] else None,
        _unbroadcast(np.where(mask, 0, g), np.shape(b)) if needs[2] else None)


@differentiable
def cast(a, dtype):
    src = np.asarray(a).dtype
    return np.asarray(a, dtype=dtype), lambda g, needs: (g.astype(src),)


# ----------------------------------------------------------------------------------------------- activations
@differentiable
def relu(a):
    out = np.maximum(a, 0)
    return out, lambda g, needs: (_relu_backward(g, out),)


def _epilogue_backward(g, out, relu, want_bias):
    """g through the fused ReLU, and the bias gradient (None unless wanted): one pass of the kernel."""
    if not relu and not want_bias:
        return g, None
    g, bias_grad = _bias.bias_relu_backward(g, out, relu)
    return g, bias_grad if want_bias else None


def _relu_backward(g, out):
    """g through a ReLU whose output was `out` (TensorFlow's ReluGrad: zero where out is 0)."""
    return g * (out > 0)


@differentiable
def _sigmoid(a):
    out = np.empty_like(a)
    # exp of a negative number only: no overflow warnings for large |a|
    pos = a >= 0
    z = np.exp(-np.abs(a))
    np.divide(1, 1 + z, out=out, where=pos)
    np.divide(z, 1 + z, out=out, where=~pos)
    return out, lambda g, needs: (g * out * (1 - out),)


@differentiable
def tanh(a):
    out = np.tanh(a)
    return out, lambda g, needs: (g * (1 - out * out),)


@differentiable
def _softmax(a, axis=-1):
    # in place, and the ufuncs' own reductions (ndarray.max/sum add a Python wrapper): a few microseconds
    # of a single-sample predict
    out = a - np.maximum.reduce(a, axis=axis, keepdims=True)
    np.exp(out, out=out)
    out /= np.add.reduce(out, axis=axis, keepdims=True)

    def backward(g, needs):
        return ((g - (g * out).sum(axis=axis, keepdims=True)) * out,)
    return out, backward


def _remember_logits(out, logits, op):
    if isinstance(out, Traced):
        out.logits = logits
        out.logits_op = op
    return out


def sigmoid(a):
    return _remember_logits(_sigmoid(a), a, "Sigmoid")


def softmax(a, axis=-1):
    # TF emits a Softmax op only over the last axis (other axes go through transposes): Keras' check sees no Softmax
    last = axis == -1 or axis == np.ndim(value_of(a)) - 1
    return _remember_logits(_softmax(a, axis=axis), a, "Softmax" if last else None)


@differentiable
def log_softmax(a, axis=-1):
    shifted = a - a.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g, needs):
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)
    return out, backward


def linear(a):
    return a


# ----------------------------------------------------------------------------------------------- reductions
def _expand_reduced(g, shape, axis, keepdims):
    if axis is None:
        return np.broadcast_to(np.reshape(g, (1,) * len(shape)), shape)
    if not keepdims:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
        g = np.expand_dims(g, tuple(a % len(shape) for a in axes))
    return np.broadcast_to(g, shape)


@differentiable
def sum(a, axis=None, keepdims=False):  # noqa: A001
    a = np.asarray(a)
    return np.sum(a, axis=axis, keepdims=keepdims), lambda g, needs: (
        np.array(_expand_reduced(g, a.shape, axis, keepdims), dtype=a.dtype),)


@differentiable
def mean(a, axis=None, keepdims=False):
    a = np.asarray(a)
    out = np.mean(a, axis=axis, keepdims=keepdims)
    count = a.size / np.size(out) if np.size(out) else 1
    return out, lambda g, needs: (
        np.array(_expand_reduced(g, a.shape, axis, keepdims), dtype=a.dtype) / a.dtype.type(count),)


@differentiable
def max(a, axis=None, keepdims=False):  # noqa: A001
    a = np.asarray(a)
    out = np.max(a, axis=axis, keepdims=keepdims)

    def backward(g, needs):
        full = _expand_reduced(out, a.shape, axis, keepdims)
        mask = (a == full)
        count = _expand_reduced(np.sum(mask, axis=axis, keepdims=keepdims), a.shape, axis, keepdims)
        return (mask * _expand_reduced(g, a.shape, axis, keepdims) / count,)
    return out, backward


# ----------------------------------------------------------------------------------------------- shapes
@differentiable
def reshape(a, shape):
    src = np.shape(a)
    return np.reshape(a, shape), lambda g, needs: (np.reshape(g, src),)


@differentiable
def transpose(a, axes=None):
    inverse = None if axes is None else tuple(np.argsort(axes))
    return np.transpose(a, axes), lambda g, needs: (np.transpose(g, inverse),)


@differentiable
def _concatenate(*arrays, axis=-1):
    bounds = np.cumsum([np.shape(a)[axis] for a in arrays])[:-1]
    return np.concatenate(arrays, axis=axis), lambda g, needs: tuple(np.split(g, bounds, axis=axis))


def concatenate(values, axis=-1):
    return _concatenate(*values, axis=axis)


# ----------------------------------------------------------------------------------------------- dense
@differentiable
def matmul(a, b):
    if a.ndim == 2 and b.ndim == 2:
        out = _dense.matmul(a, b)

        def backward(g, needs):
            return (_dense.matmul(g, b, trans_b=True) if needs[0] else None,
                    _dense.matmul(a, g, trans_a=True) if needs[1] else None)
        return out, backward
    out = np.matmul(a, b)

    def backward(g, needs):
        ga = np.matmul(g, np.swapaxes(b, -1, -2)) if needs[0] else None
        gb = np.matmul(np.swapaxes(a, -1, -2), g) if needs[1] else None
        return (ga if ga is None else _unbroadcast(ga, a.shape),
                gb if gb is None else _unbroadcast(gb, b.shape))
    return out, backward


@differentiable
def dense(x, kernel, bias=None, relu=False):
    """x @ kernel + bias over the last axis of x (any rank, as Keras' Dense), then ReLU when `relu` (fused
    into the kernel)."""
    x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
    out2 = _dense.dense_forward(x2, kernel, bias, "relu" if relu else None)
    out = out2 if x.ndim == 2 else out2.reshape(x.shape[:-1] + (kernel.shape[1],))

    def backward(g, needs):
        g2, bias_grad = _epilogue_backward(g.reshape(out2.shape), out2, relu, bias is not None and needs[2])
        dx, dk, _ = _dense.dense_backward(x2, kernel, g2, need_dx=needs[0], need_dbias=False)
        return (dx.reshape(x.shape) if dx is not None else None, dk if needs[1] else None, bias_grad)
    return out, backward


@differentiable
def bias_add(x, bias):
    return x + bias, lambda g, needs: (g if needs[0] else None,
                                       g.reshape(-1, g.shape[-1]).sum(axis=0) if needs[1] else None)


# ----------------------------------------------------------------------------------------------- conv
@differentiable
def conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", relu=False):
    """conv2d + bias, then ReLU when `relu` (both fused into the kernel's store)."""
    out = _conv.conv2d_forward(x, kernel, bias, strides, padding, "relu" if relu else None)
    hw = x.shape[1:3]

    def backward(g, needs):
        g, bias_grad = _epilogue_backward(g, out, relu, bias is not None and needs[2])
        return (_conv.conv2d_backward_input(g, kernel, hw, strides, padding) if needs[0] else None,
                _conv.conv2d_backward_kernel(x, g, kernel.shape[:2], strides, padding) if needs[1] else None,
                bias_grad)
    return out, backward


@differentiable
def conv2d_transpose(x, kernel, bias=None, strides=(1, 1), padding="valid", output_padding=None, relu=False):
    """conv2d_transpose + bias, then ReLU when `relu` (both fused into the kernel's store)."""
    out = _conv.conv2d_transpose_forward(x, kernel, bias, strides, padding, output_padding,
                                         "relu" if relu else None)

    def backward(g, needs):
        g, bias_grad = _epilogue_backward(g, out, relu, bias is not None and needs[2])
        return (_conv.conv2d_transpose_backward_input(g, kernel, strides, padding, output_padding)
                if needs[0] else None,
                _conv.conv2d_transpose_backward_kernel(x, g, kernel.shape[:2], strides, padding, output_padding)
                if needs[1] else None,
                bias_grad)
    return out, backward


# ----------------------------------------------------------------------------------------------- pooling
@differentiable
def max_pool2d(x, pool_size, strides=None, padding="valid"):
    out, argmax = _pool.max_pool2d_forward(x, pool_size, strides, padding)
    return out, lambda g, needs: (_pool.max_pool2d_backward(g, argmax, x.shape),)


@differentiable
def global_max_pool2d(x):
    out, argmax = _pool.global_max_pool2d_forward(x)
    return out, lambda g, needs: (_pool.global_max_pool2d_backward(g, argmax, x.shape),)


@differentiable
def global_avg_pool2d(x):
    return _pool.global_avg_pool2d_forward(x), lambda g, needs: (
        _pool.global_avg_pool2d_backward(g, x.shape),)


@differentiable
def upsampling2d(x, size):
    return _upsample.upsampling2d_forward(x, size), lambda g, needs: (
        _upsample.upsampling2d_backward(g, size),)


# ----------------------------------------------------------------------------------------------- losses
@differentiable
def softmax_cross_entropy_with_logits(labels, logits, axis=-1):
    """Per-sample -sum(labels * log_softmax(logits)); labels are constants."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    out = -(labels * (shifted - log_z)).sum(axis=axis)

    def backward(g, needs):
        probs = np.exp(shifted - log_z)
        grad = (probs * labels.sum(axis=axis, keepdims=True) - labels) * np.expand_dims(g, axis)
        return (None, grad.astype(logits.dtype))
    return out, backward


@differentiable
def sparse_softmax_cross_entropy_with_logits(labels, logits):
    """Per-sample -log_softmax(logits)[label]; labels are integer class indices, constants."""
    idx = np.asarray(labels).astype(np.int64).reshape(logits.shape[:-1])
    if idx.size and (idx.min() < 0 or idx.max() >= logits.shape[-1]):
        raise ValueError(f"sparse labels must lie in [0, {logits.shape[-1]}), got values from "
                         f"{idx.min()} to {idx.max()}")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    out = -np.take_along_axis(log_probs, idx[..., None], axis=-1)[..., 0]

    def backward(g, needs):
        grad = np.exp(log_probs)
        np.put_along_axis(grad, idx[..., None], np.take_along_axis(grad, idx[..., None], axis=-1) - 1, axis=-1)
        return (None, (grad * g[..., None]).astype(logits.dtype))
    return out, backward


@differentiable
def sigmoid_cross_entropy_with_logits(labels, logits):
    """Elementwise max(x, 0) - x * z + log(1 + exp(-|x|)), the stable form TensorFlow uses."""
    out = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))

    def backward(g, needs):
        p = np.where(logits >= 0, 1 / (1 + np.exp(-np.abs(logits))),
                     np.exp(-np.abs(logits)) / (1 + np.exp(-np.abs(logits))))
        return (None, (g * (p - labels)).astype(logits.dtype))
    return out, backward


# ----------------------------------------------------------------------------------------------- operators
def _install_operators(cls):
    """Arithmetic on Traced values and Variables goes through the ops, so it is differentiable."""
    cls.__add__ = lambda a, b: add(a, b)
    cls.__radd__ = lambda a, b: add(b, a)
    cls.__sub__ = lambda a, b: subtract(a, b)
    cls.__rsub__ = lambda a, b: subtract(b, a)
    cls.__mul__ = lambda a, b: multiply(a, b)
    cls.__rmul__ = lambda a, b: multiply(b, a)
    cls.__truediv__ = lambda a, b: divide(a, b)
    cls.__rtruediv__ = lambda a, b: divide(b, a)
    cls.__matmul__ = lambda a, b: matmul(a, b)
    cls.__rmatmul__ = lambda a, b: matmul(b, a)
    cls.__neg__ = lambda a: negative(a)
    cls.__pow__ = lambda a, b: power(a, b)


_install_operators(Traced)
_install_operators(Variable)
