"""Neural-network ops (keras.ops.nn): activations, dense, convolution, pooling and the losses on logits.

The heavy ops call the compiled kernels in `minigraph.kernels`; dense and the convolutions fuse the bias
and a ReLU into the kernel's store. softmax and sigmoid remember their logits on a Traced result, so
that the crossentropies can use them as Keras does.
"""
import math

import numpy as np
from scipy import special

from minigraph.autodiff import Symbolic, Traced, _state, differentiable, dispatching, symbolic_call, value_of
from minigraph.kernels import bias as _bias
from minigraph.kernels import conv as _conv
from minigraph.kernels import dense as _dense
from minigraph.kernels import pool as _pool
from minigraph.kernels import shapes as _shapes
from minigraph.kernels import softmax as _softmax_kernel
from minigraph.ops._gradients import as_float
from minigraph.ops.core import standardize_dtype

__all__ = [
    "relu", "relu6", "sigmoid", "softmax", "log_softmax", "softplus", "softsign", "silu", "swish", "gelu",
    "elu", "selu", "leaky_relu", "hard_sigmoid", "hard_silu", "hard_swish", "linear", "one_hot",
    "dense", "bias_add", "conv2d", "conv2d_transpose", "max_pool2d", "global_max_pool2d", "global_avg_pool2d",
    "conv", "conv_transpose", "max_pool",
    "softmax_cross_entropy_with_logits", "sparse_softmax_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ----------------------------------------------------------------------------------------------- activations
@differentiable
def relu(x):
    out = np.maximum(x, 0)
    return out, lambda g, needs: (_relu_backward(g, out),)


def _relu_backward(g, out):
    """g through a ReLU whose output was `out` (TensorFlow's ReluGrad: zero where out is 0)."""
    return g * (out > 0)


def _epilogue_backward(g, out, relu, want_bias):
    """g through the fused ReLU, and the bias gradient (None unless wanted): one pass of the kernel."""
    if not relu and not want_bias:
        return g, None
    g, bias_grad = _bias.bias_relu_backward(g, out, relu)
    return g, bias_grad if want_bias else None


@differentiable
def relu6(x):
    out = np.clip(x, 0, 6)
    return out, lambda g, needs: (g * ((out > 0) & (out < 6)),)


def _sigmoid_of(x):
    out = np.empty_like(x)
    # exp of a negative number only: no overflow warnings for large |x|
    positive = x >= 0
    z = np.exp(-np.abs(x))
    np.divide(1, 1 + z, out=out, where=positive)
    np.divide(z, 1 + z, out=out, where=~positive)
    return out


@differentiable
def _sigmoid(x):
    out = _sigmoid_of(as_float(x))
    return out, lambda g, needs: (g * out * (1 - out),)


def softmax_values(x, axis=-1):
    """softmax of an array, the forward of ops.softmax: over the last axis of float32 or float64 data the
    kernel (whose rows the inference plan's fused Dense epilogue shares), else numpy."""
    if (type(x) is np.ndarray and (axis == -1 or axis == x.ndim - 1) and x.ndim and x.shape[-1]
            and (x.dtype == np.float32 or x.dtype == np.float64)):
        return _softmax_kernel.softmax_forward(x)
    # in place, and the ufuncs' own reductions (ndarray.max/sum add a Python wrapper)
    out = x - np.maximum.reduce(x, axis=axis, keepdims=True)
    np.exp(out, out=out)
    out /= np.add.reduce(out, axis=axis, keepdims=True)
    return out


@differentiable
def _softmax(x, axis=-1):
    out = softmax_values(x, axis)

    def backward(g, needs):
        return ((g - (g * out).sum(axis=axis, keepdims=True)) * out,)
    return out, backward


class _WithLogits(np.ndarray):
    """An activation's output array that remembers its logits (see autodiff.keeping_logits)."""


def _remember_logits(out, logits, op):
    if isinstance(out, Traced):
        out.logits = logits
        out.logits_op = op
    elif _state.keep_logits and isinstance(out, np.ndarray):
        out = out.view(_WithLogits)
        out.logits = value_of(logits)
        out.logits_op = op
    return out


def sigmoid(x):
    if isinstance(x, Symbolic):  # checked inline: softmax and sigmoid end most predict calls
        return symbolic_call(sigmoid, (x,), {})
    return _remember_logits(_sigmoid(x), x, "Sigmoid")


def softmax(x, axis=-1):
    if isinstance(x, Symbolic):
        return symbolic_call(softmax, (x,), {"axis": axis})
    # TF emits a Softmax op only over the last axis (other axes go through transposes): Keras' check sees no Softmax
    last = axis == -1 or axis == np.ndim(value_of(x)) - 1
    return _remember_logits(_softmax(x, axis=axis), x, "Softmax" if last else None)


@differentiable
def log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g, needs):
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)
    return out, backward


@differentiable
def softplus(x):
    x = as_float(x)
    return np.logaddexp(x, 0), lambda g, needs: (g * _sigmoid_of(x),)


@differentiable
def softsign(x):
    x = as_float(x)
    denominator = 1 + np.abs(x)
    return x / denominator, lambda g, needs: (g / (denominator * denominator),)


@differentiable
def silu(x):
    x = as_float(x)
    s = _sigmoid_of(x)
    return x * s, lambda g, needs: (g * s * (1 + x * (1 - s)),)


swish = silu

_GELU_C = math.sqrt(2 / math.pi)


@differentiable
def gelu(x, approximate=True):
    """x Φ(x); approximate=True (Keras's default) is the tanh form."""
    x = as_float(x)
    if approximate:
        inner = _GELU_C * (x + 0.044715 * x ** 3)
        t = np.tanh(inner)
        out = 0.5 * x * (1 + t)

        def backward(g, needs):
            return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _GELU_C * (1 + 3 * 0.044715 * x * x)),)
        return out, backward
    cdf = 0.5 * (1 + special.erf(x / math.sqrt(2)))
    out = (x * cdf).astype(x.dtype)
    return out, lambda g, needs: (
        (g * (cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))).astype(g.dtype),)


@differentiable
def elu(x, alpha=1.0):
    x = as_float(x)
    negative = alpha * np.expm1(np.minimum(x, 0))
    out = np.where(x > 0, x, negative).astype(x.dtype)
    return out, lambda g, needs: (np.where(x > 0, g, g * (negative + alpha)).astype(g.dtype),)


@differentiable
def selu(x):
    x = as_float(x)
    negative = _SELU_ALPHA * np.expm1(np.minimum(x, 0))
    out = (_SELU_SCALE * np.where(x > 0, x, negative)).astype(x.dtype)
    return out, lambda g, needs: (
        (_SELU_SCALE * np.where(x > 0, g, g * (negative + _SELU_ALPHA))).astype(g.dtype),)


@differentiable
def leaky_relu(x, negative_slope=0.2):
    x = as_float(x)
    out = np.where(x > 0, x, negative_slope * x).astype(x.dtype)
    return out, lambda g, needs: (np.where(x > 0, g, negative_slope * g).astype(g.dtype),)


@differentiable
def hard_sigmoid(x):
    """relu6(x + 3) / 6, Keras 3's definition."""
    x = as_float(x)
    out = np.clip(x / 6 + 0.5, 0, 1).astype(x.dtype)
    return out, lambda g, needs: (np.where((x > -3) & (x < 3), g / 6, 0).astype(g.dtype),)


@differentiable
def hard_silu(x):
    x = as_float(x)
    h = np.clip(x / 6 + 0.5, 0, 1).astype(x.dtype)
    return x * h, lambda g, needs: (g * (h + np.where((x > -3) & (x < 3), x / 6, 0)),)


hard_swish = hard_silu


def linear(a):
    return a


@dispatching
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """1 at each integer's position along a new axis (all zeros for an index outside [0, num_classes))."""
    if sparse:
        raise ValueError("one_hot: sparse=True is not supported")
    indices = np.asarray(value_of(x)).astype(np.int64)
    out = (indices[..., None] == np.arange(num_classes)).astype(standardize_dtype(dtype or "float32"))
    return out if axis == -1 else np.moveaxis(out, -1, axis)


# ----------------------------------------------------------------------------------------------- dense
@differentiable(tensors=("x", "kernel", "bias"))
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
@differentiable(tensors=("x", "kernel", "bias"))
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


@differentiable(tensors=("x", "kernel", "bias"))
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
@differentiable(tensors=("x",))
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


# ----------------------------------------------------------------------------------------------- Keras 3's names
def _keras_window_args(fn, inputs, data_format, dilation_rate=1):
    """What the kernels cover of keras.ops' conv/pool arguments: 2-D, channels_last, no dilation."""
    rank = np.ndim(value_of(inputs))
    if rank != 4:
        raise NotImplementedError(f"{fn}: only 2-D windows (inputs of rank 4, NHWC) are supported, got inputs "
                                  f"of shape {np.shape(value_of(inputs))}")
    if data_format not in (None, "channels_last"):
        raise NotImplementedError(f"{fn}: data_format={data_format!r} is not supported (only 'channels_last')")
    if _shapes.normalize_pair(dilation_rate, "dilation_rate") != (1, 1):
        raise NotImplementedError(f"{fn}: dilation_rate={dilation_rate!r} is not supported (only 1)")


@dispatching
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """keras.ops.conv for 2-D: kernel (kh, kw, in, out)."""
    _keras_window_args("conv", inputs, data_format, dilation_rate)
    return conv2d(inputs, kernel, None, _shapes.normalize_pair(strides, "strides"),
                  _shapes.normalize_padding(padding))


@dispatching
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """keras.ops.conv_transpose for 2-D: kernel (kh, kw, out, in), as Keras stores it."""
    _keras_window_args("conv_transpose", inputs, data_format, dilation_rate)
    if output_padding is not None:
        output_padding = _shapes.normalize_pair(output_padding, "output_padding")
    return conv2d_transpose(inputs, kernel, None, _shapes.normalize_pair(strides, "strides"),
                            _shapes.normalize_padding(padding), output_padding)


@dispatching
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """keras.ops.max_pool for 2-D; strides default to pool_size."""
    _keras_window_args("max_pool", inputs, data_format)
    pool_size = _shapes.normalize_pair(pool_size, "pool_size")
    strides = pool_size if strides is None else _shapes.normalize_pair(strides, "strides")
    return max_pool2d(inputs, pool_size, strides, _shapes.normalize_padding(padding))


# ----------------------------------------------------------------------------------------------- losses
@differentiable(tensors=("labels", "logits"))
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
    """Per-sample -log_softmax(logits)[label]; labels are integer class indices, constants.  One kernel pass
    per row for the loss and the probabilities the gradient reads."""
    lead, classes = logits.shape[:-1], logits.shape[-1]
    idx = np.asarray(labels).astype(np.int64).reshape(lead)
    rows = logits.reshape(-1, classes)
    loss, probs = _softmax_kernel.sparse_xent_forward(rows, idx.reshape(-1))
    out = loss.reshape(lead).astype(logits.dtype, copy=False)

    def backward(g, needs):
        grad = _softmax_kernel.sparse_xent_backward(probs, idx.reshape(-1), g)
        return (None, grad.reshape(logits.shape).astype(logits.dtype, copy=False))
    return out, backward


@differentiable
def sigmoid_cross_entropy_with_logits(labels, logits):
    """Elementwise max(x, 0) - x * z + log(1 + exp(-|x|)), the stable form TensorFlow uses."""
    out = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))

    def backward(g, needs):
        return (None, (g * (_sigmoid_of(logits) - labels)).astype(logits.dtype))
    return out, backward
