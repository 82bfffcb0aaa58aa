"""Math ops (keras.ops.math and keras.ops.linalg's norm): logsumexp, rsqrt, erf, norm."""
import math

import numpy as np
from scipy import special

from minigraph.autodiff import differentiable
from minigraph.ops._gradients import as_float, axis_argument, expand_reduced, grad_like, normalize_axes

__all__ = ["logsumexp", "rsqrt", "erf", "norm"]


@differentiable
def logsumexp(x, axis=None, keepdims=False):
    x = as_float(x)
    axis = axis_argument(axis)
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    weights = np.exp(x - peak)
    total = np.sum(weights, axis=axis, keepdims=True)
    out_kept = np.log(total) + peak
    out = out_kept if keepdims else np.squeeze(out_kept, axis=normalize_axes(axis, x.ndim))
    return out.astype(x.dtype), lambda g, needs: (
        grad_like(expand_reduced(g, x.shape, axis, keepdims) * (weights / total), x),)


@differentiable
def rsqrt(x):
    x = as_float(x)
    out = 1 / np.sqrt(x)
    return out, lambda g, needs: (-0.5 * g * out / x,)


@differentiable
def erf(x):
    x = as_float(x)
    return special.erf(x).astype(x.dtype), lambda g, needs: (
        (g * (2 / math.sqrt(math.pi)) * np.exp(-x * x)).astype(g.dtype),)


@differentiable
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument name
    """numpy.linalg.norm's values. Differentiable: the 2-norm of a vector (or of everything, ord None or
    'fro') and the 1-norm of a vector; the matrix norms of other orders carry no gradient."""
    x = as_float(x)
    axis = axis_argument(axis)
    vector = np.isscalar(axis) or (axis is None and x.ndim == 1)
    if ord is None or ord == "fro" or (ord == 2 and vector):
        out = np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))

        def backward(g, needs):
            kept = expand_reduced(out, x.shape, axis, keepdims)
            safe = np.where(kept > 0, kept, 1)
            return (grad_like(np.where(kept > 0, expand_reduced(g, x.shape, axis, keepdims) * x / safe, 0), x),)
        return out.astype(x.dtype), backward
    if ord == 1 and vector:
        out = np.sum(np.abs(x), axis=axis, keepdims=keepdims)
        return out, lambda g, needs: (grad_like(expand_reduced(g, x.shape, axis, keepdims) * np.sign(x), x),)
    out = np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)

    def no_gradient(g, needs):
        raise NotImplementedError(f"norm: no gradient for ord={ord!r}")
    return out.astype(x.dtype), no_gradient
