"""Differentiable ops of the normalization and vision layers, in numpy: each forward rule with its gradient.

These are the reference implementations (channels_last). Where a compiled kernel covers a case, the layers
route to it and the tests compare the two.
"""
import numpy as np

from minigraph.autodiff import differentiable
from minigraph.ops._gradients import unbroadcast as _unbroadcast


def _reduce_count(shape, axes):
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


# ----------------------------------------------------------------------------------------------- normalization
def moments(x, axes):
    """Mean and biased variance over `axes` (keepdims), in float64."""
    mean = np.mean(x, axis=axes, keepdims=True, dtype=np.float64)
    variance = np.mean(np.square(x - mean), axis=axes, keepdims=True)
    return mean, variance


@differentiable
def normalize(x, gamma=None, beta=None, axes=(), param_shape=None, epsilon=1e-3, stats=None):
    """`(x - mean) / sqrt(variance + epsilon) * gamma + beta` with the mean and biased variance over `axes`
    of x itself (batch statistics, layer or group statistics); gamma and beta are reshaped to
    `param_shape`, which broadcasts against x. The gradient flows through the statistics. When `stats` is
    a list, the statistics (keepdims, in x's dtype) are appended to it for the caller (the moving averages).

    The statistics and the gradient's sums are float64 whatever x's dtype: a BN layer's input gradient is a
    difference of near-equal sums, and Adam magnifies its rounding on small gradients."""
    mean, variance = moments(x, axes)
    if stats is not None:
        stats.extend((mean.astype(x.dtype), variance.astype(x.dtype)))
    inv_std = 1.0 / np.sqrt(variance + epsilon)
    x_hat = (x - mean) * inv_std
    g_ = None if gamma is None else np.reshape(gamma, param_shape)
    y = x_hat if g_ is None else x_hat * g_
    if beta is not None:
        y = y + np.reshape(beta, param_shape)
    count = _reduce_count(x.shape, axes)

    def backward(g, needs):
        dx = dgamma = dbeta = None
        g64 = g.astype(np.float64)
        if needs[0]:
            d_hat = g64 if g_ is None else g64 * g_
            sum_d = np.sum(d_hat, axis=axes, keepdims=True)
            sum_dx = np.sum(d_hat * x_hat, axis=axes, keepdims=True)
            dx = ((inv_std / count) * (count * d_hat - sum_d - x_hat * sum_dx)).astype(x.dtype)
        if gamma is not None and needs[1]:
            dgamma = _unbroadcast(g64 * x_hat, param_shape).reshape(np.shape(gamma)).astype(x.dtype)
        if beta is not None and needs[2]:
            dbeta = _unbroadcast(g64, param_shape).reshape(np.shape(beta)).astype(x.dtype)
        return dx, dgamma, dbeta
    return y.astype(x.dtype), backward


@differentiable
def scale_shift_normalize(x, mean, variance, gamma=None, beta=None, param_shape=None, epsilon=1e-3):
    """`(x - mean) / sqrt(variance + epsilon) * gamma + beta` with given (constant) statistics: batch
    normalization in inference mode. Gradients for x, gamma and beta."""
    inv_std = (1.0 / np.sqrt(np.reshape(variance, param_shape).astype(np.float64) + epsilon)).astype(x.dtype)
    mean = np.reshape(mean, param_shape)
    g_ = None if gamma is None else np.reshape(gamma, param_shape)
    scale = inv_std if g_ is None else inv_std * g_
    y = (x - mean) * scale
    if beta is not None:
        y = y + np.reshape(beta, param_shape)

    def backward(g, needs):
        dx = g * scale if needs[0] else None
        dgamma = (_unbroadcast(g * (x - mean) * inv_std, param_shape).reshape(np.shape(gamma))
                  if gamma is not None and needs[3] else None)
        dbeta = _unbroadcast(g, param_shape).reshape(np.shape(beta)) if beta is not None and needs[4] else None
        return dx, None, None, dgamma, dbeta
    return y.astype(x.dtype, copy=False), backward


# ----------------------------------------------------------------------------------------------- windows
def same_padding(size, window, stride, dilation=1):
    """TensorFlow's 'same' padding of one axis: (before, after), the odd cell after."""
    extent = (window - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2


def _window_geometry(x_shape, window, strides, padding, dilation=(1, 1)):
    """(pads per spatial axis, output size per spatial axis) of a window slid over (n, h, w, c)."""
    pads, outs = [], []
    for size, k, s, d in zip(x_shape[1:3], window, strides, dilation):
        extent = (k - 1) * d + 1
        pad = same_padding(size, k, s, d) if padding == "same" else (0, 0)
        pads.append(pad)
        outs.append((size + sum(pad) - extent) // s + 1)
    return pads, outs


def _tap(a, i, j, out_hw, strides, dilation=(1, 1)):
    """The (n, oh, ow, c) view of a padded input that window tap (i, j) reads."""
    (oh, ow), (sh, sw), (dh, dw) = out_hw, strides, dilation
    return a[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]


@differentiable
def avg_pool2d(x, pool_size, strides=None, padding="valid"):
    """The mean of each window's cells inside the input (padded cells are not counted, as TF/Keras)."""
    strides = pool_size if strides is None else strides
    pads, out_hw = _window_geometry(x.shape, pool_size, strides, padding)
    spec = ((0, 0), pads[0], pads[1], (0, 0))
    padded = np.pad(x, spec)
    inside = np.pad(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), spec)
    total = np.zeros((x.shape[0],) + tuple(out_hw) + (x.shape[3],), dtype=x.dtype)
    count = np.zeros((1,) + tuple(out_hw) + (1,), dtype=x.dtype)
    for i in range(pool_size[0]):
        for j in range(pool_size[1]):
            total += _tap(padded, i, j, out_hw, strides)
            count += _tap(inside, i, j, out_hw, strides)

    def backward(g, needs):
        share = g / count
        dpad = np.zeros_like(padded)
        for i in range(pool_size[0]):
            for j in range(pool_size[1]):
                _tap(dpad, i, j, out_hw, strides)[...] += share
        return (dpad[:, pads[0][0]:pads[0][0] + x.shape[1], pads[1][0]:pads[1][0] + x.shape[2]],)
    return total / count, backward


@differentiable
def depthwise_conv2d(x, kernel, bias=None, strides=(1, 1), padding="valid", dilation_rate=(1, 1)):
    """Keras's depthwise convolution: output channel `c * multiplier + m` is input channel c convolved with
    kernel[:, :, c, m] (kernel (kh, kw, cin, multiplier))."""
    kh, kw, cin, mult = kernel.shape
    pads, out_hw = _window_geometry(x.shape, (kh, kw), strides, padding, dilation_rate)
    padded = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    n = x.shape[0]
    out = np.zeros((n,) + tuple(out_hw) + (cin, mult), dtype=np.result_type(x, kernel))
    for i in range(kh):
        for j in range(kw):
            out += _tap(padded, i, j, out_hw, strides, dilation_rate)[..., None] * kernel[i, j]
    out = out.reshape((n,) + tuple(out_hw) + (cin * mult,))
    if bias is not None:
        out += bias

    def backward(g, needs):
        g5 = g.reshape((n,) + tuple(out_hw) + (cin, mult))
        dx = dkernel = dbias = None
        if needs[0]:
            dpad = np.zeros_like(padded)
            for i in range(kh):
                for j in range(kw):
                    _tap(dpad, i, j, out_hw, strides, dilation_rate)[...] += (g5 * kernel[i, j]).sum(axis=-1)
            dx = dpad[:, pads[0][0]:pads[0][0] + x.shape[1], pads[1][0]:pads[1][0] + x.shape[2]]
        if needs[1]:
            dkernel = np.empty_like(kernel)
            for i in range(kh):
                for j in range(kw):
                    tap = _tap(padded, i, j, out_hw, strides, dilation_rate)
                    dkernel[i, j] = np.einsum("nhwc,nhwcm->cm", tap, g5)
        if bias is not None and needs[2]:
            dbias = g.reshape(-1, g.shape[-1]).sum(axis=0)
        return dx, dkernel, dbias
    return out, backward


# ----------------------------------------------------------------------------------------------- shapes
@differentiable
def pad(x, paddings):
    """Zero padding, `paddings` one (before, after) pair per axis."""
    index = tuple(slice(b, b + n) for (b, _), n in zip(paddings, x.shape))
    return np.pad(x, paddings), lambda g, needs: (g[index],)


@differentiable
def crop(x, croppings):
    """The inverse of pad: `croppings` one (before, after) pair per axis removed."""
    index = tuple(slice(b, n - a) for (b, a), n in zip(croppings, x.shape))
    return x[index], lambda g, needs: (np.pad(g, croppings),)


def bilinear_weights(in_size, out_size, scale=None):
    """(out_size, in_size) matrix of TensorFlow's half-pixel bilinear resize along one axis."""
    scale = in_size / out_size if scale is None else scale
    src = (np.arange(out_size) + 0.5) * scale - 0.5
    floor = np.floor(src)
    lower = np.maximum(floor, 0).astype(np.int64)
    upper = np.minimum(np.ceil(src), in_size - 1).astype(np.int64)
    frac = src - floor
    weights = np.zeros((out_size, in_size))
    rows = np.arange(out_size)
    np.add.at(weights, (rows, lower), 1 - frac)
    np.add.at(weights, (rows, upper), frac)
    return weights


def nearest_weights(in_size, out_size):
    """(out_size, in_size) one-hot matrix of TensorFlow's half-pixel nearest-neighbour resize."""
    src = np.minimum(np.floor((np.arange(out_size) + 0.5) * (in_size / out_size)), in_size - 1).astype(np.int64)
    weights = np.zeros((out_size, in_size))
    weights[np.arange(out_size), src] = 1
    return weights


@differentiable
def resize(x, rows, cols):
    """Separable resize of (n, h, w, c): out = rows @ image @ cols.T per channel, with constant weight
    matrices rows (oh, h) and cols (ow, w)."""
    rows = rows.astype(x.dtype)
    cols = cols.astype(x.dtype)
    out = np.einsum("oh,nhwc->nowc", rows, x)
    out = np.einsum("pw,nowc->nopc", cols, out)

    def backward(g, needs):
        back = np.einsum("pw,nopc->nowc", cols, g)
        return (np.einsum("oh,nowc->nhwc", rows, back),)
    return out, backward


@differentiable
def dilate_kernel(kernel, rate):
    """A (kh, kw, ...) kernel spread out to ((kh - 1) * rh + 1, (kw - 1) * rw + 1, ...) with zeros between its
    taps: a convolution with it is the dilated convolution with the original."""
    (rh, rw), (kh, kw) = rate, kernel.shape[:2]
    out = np.zeros(((kh - 1) * rh + 1, (kw - 1) * rw + 1) + kernel.shape[2:], dtype=kernel.dtype)
    out[::rh, ::rw] = kernel
    return out, lambda g, needs: (np.ascontiguousarray(g[::rh, ::rw]), None)


@differentiable
def channel_slice(x, start, stop):
    """x[..., start:stop] (the last axis)."""
    def backward(g, needs):
        full = np.zeros(x.shape, dtype=g.dtype)
        full[..., start:stop] = g
        return (full, None, None)
    return np.ascontiguousarray(x[..., start:stop]), backward
