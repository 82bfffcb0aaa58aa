"""Elementwise activation ops beyond relu/sigmoid/tanh/softmax, each forward rule with its gradient.

Formulas are tf_keras 2.21's (the Keras that writes the .h5 files minigraph reads): hard_sigmoid is
`clip(0.2 x + 0.5, 0, 1)`, gelu is the exact erf form unless `approximate`, leaky_relu's slope is 0.2.
Every op keeps its input's float dtype.
"""
import numpy as np
from scipy import special

from minigraph.autodiff import differentiable

__all__ = ["relu6", "swish", "silu", "gelu", "hard_sigmoid", "elu", "selu", "softplus", "softsign",
           "exponential", "leaky_relu", "relu_general"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _like(a, value):
    return np.asarray(value, dtype=a.dtype)


@differentiable
def relu_general(a, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras's `relu(x, alpha, max_value, threshold)` (the ReLU layer): x above `threshold` (clipped to
    [0, max_value]), `negative_slope * (x - threshold)` at or below it."""
    above = a > threshold
    y = np.where(above, a, _like(a, 0))
    if max_value is not None:
        y = np.clip(y, 0, max_value).astype(a.dtype, copy=False)
    passes = above & (y == a)  # neither clipped at max_value nor at 0
    if negative_slope:
        y = y - _like(a, negative_slope) * np.maximum(_like(a, threshold) - a, 0)

    def backward(g, needs):
        slope = np.where(passes, _like(a, 1), _like(a, negative_slope) * (a < threshold))
        return (g * slope.astype(g.dtype, copy=False),)
    return y.astype(a.dtype, copy=False), backward


def relu6(a):
    return relu_general(a, max_value=6.0)


@differentiable
def leaky_relu(a, negative_slope=0.2):
    slope = np.where(a > 0, _like(a, 1), _like(a, negative_slope))
    return a * slope, lambda g, needs: (g * slope,)


def _stable_sigmoid(a):
    z = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z)).astype(a.dtype, copy=False)


@differentiable
def swish(a):
    s = _stable_sigmoid(a)
    return a * s, lambda g, needs: (g * (s * (1 + a * (1 - s))),)


silu = swish


@differentiable
def gelu(a, approximate=False):
    if approximate:  # tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        c = _like(a, np.sqrt(2 / np.pi))
        inner = c * (a + _like(a, 0.044715) * a ** 3)
        t = np.tanh(inner)
        out = 0.5 * a * (1 + t)

        def backward(g, needs):
            d_inner = c * (1 + _like(a, 3 * 0.044715) * a * a)
            return (g * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * d_inner),)
        return out, backward
    cdf = (0.5 * (1 + special.erf(a / _like(a, np.sqrt(2))))).astype(a.dtype, copy=False)
    out = a * cdf

    def backward(g, needs):
        pdf = np.exp(-0.5 * a * a) / _like(a, np.sqrt(2 * np.pi))
        return (g * (cdf + a * pdf),)
    return out, backward


@differentiable
def hard_sigmoid(a):
    lin = _like(a, 0.2) * a + _like(a, 0.5)
    out = np.clip(lin, 0, 1).astype(a.dtype, copy=False)
    inside = (lin > 0) & (lin < 1)
    return out, lambda g, needs: (g * (_like(a, 0.2) * inside),)


def _elu_parts(a, alpha):
    neg = a <= 0
    expm1 = np.expm1(np.minimum(a, 0))
    return neg, expm1, np.where(neg, _like(a, alpha) * expm1, a)


@differentiable
def elu(a, alpha=1.0):
    neg, expm1, out = _elu_parts(a, alpha)
    return out, lambda g, needs: (g * np.where(neg, _like(a, alpha) * (expm1 + 1), _like(a, 1)),)


@differentiable
def selu(a):
    neg, expm1, out = _elu_parts(a, _SELU_ALPHA)
    scale = _like(a, _SELU_SCALE)
    return scale * out, lambda g, needs: (
        g * scale * np.where(neg, _like(a, _SELU_ALPHA) * (expm1 + 1), _like(a, 1)),)


@differentiable
def softplus(a):
    out = np.logaddexp(_like(a, 0), a)
    return out, lambda g, needs: (g * _stable_sigmoid(a),)


@differentiable
def softsign(a):
    denom = 1 + np.abs(a)
    return a / denom, lambda g, needs: (g / (denom * denom),)


@differentiable
def exponential(a):
    out = np.exp(a)
    return out, lambda g, needs: (g * out,)
