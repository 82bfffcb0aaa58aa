"""The activation functions where tf_keras 2.21 (the Keras that writes the .h5 files minigraph reads) differs
from minigraph.ops (Keras 3's ops), each forward rule with its gradient: hard_sigmoid is Keras 2's
`clip(0.2 x + 0.5, 0, 1)`, gelu is the exact erf form unless `approximate`, and the ReLU layer's general
relu(x, max_value, negative_slope, threshold). The rest are minigraph.ops's own (same formulas)."""
import numpy as np

from minigraph import ops
from minigraph.autodiff import differentiable

__all__ = ["relu_general", "relu6", "gelu", "hard_sigmoid", "swish", "silu", "elu", "selu", "softplus",
           "softsign", "exponential", "leaky_relu"]


def _like(a, value):
    return np.asarray(value, dtype=a.dtype)


@differentiable
def relu_general(a, max_value=None, negative_slope=0.0, threshold=0.0):
    """Keras's `relu(x, alpha, max_value, threshold)` (the ReLU layer): x above `threshold` (clipped to
    [0, max_value]), `negative_slope * (x - threshold)` at or below it.  Without a threshold NaN stays NaN,
    as in ops.relu, TensorFlow's relu6 and the fused kernels."""
    if threshold:
        clipped = np.where(a > threshold, a, _like(a, 0))
    else:  # one pass each for the floor and the cap; MobileNetV2's relu6 runs here
        clipped = np.maximum(a, _like(a, 0))
    if max_value is not None:
        np.minimum(clipped, _like(a, max_value), out=clipped)
    y = clipped
    if negative_slope:
        y = clipped - _like(a, negative_slope) * np.maximum(_like(a, threshold) - a, 0)

    def backward(g, needs):
        passes = (a > threshold) & (clipped == a)  # neither clipped at max_value nor at 0
        slope = np.where(passes, _like(a, 1), _like(a, negative_slope) * (a < threshold))
        return (g * slope.astype(g.dtype, copy=False),)
    return y.astype(a.dtype, copy=False), backward


def relu6(a):
    return relu_general(a, max_value=6.0)


def gelu(a, approximate=False):
    """keras.activations.gelu: the exact form by default (ops.gelu defaults to the tanh form, as Keras's op)."""
    return ops.gelu(a, approximate=approximate)


@differentiable
def hard_sigmoid(a):
    lin = _like(a, 0.2) * a + _like(a, 0.5)
    out = np.clip(lin, 0, 1).astype(a.dtype, copy=False)
    inside = (lin > 0) & (lin < 1)
    return out, lambda g, needs: (g * (_like(a, 0.2) * inside),)


swish = silu = ops.silu
elu, selu, softplus, softsign, exponential = ops.elu, ops.selu, ops.softplus, ops.softsign, ops.exp


def leaky_relu(a, negative_slope=0.2):
    return ops.leaky_relu(a, negative_slope=negative_slope)
