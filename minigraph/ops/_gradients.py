"""Helpers the ops and their gradient rules share: undoing broadcasting and reductions, axis arithmetic,
and the dtypes Keras computes in."""
import numpy as np


def unbroadcast(g, shape):
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


def axis_argument(axis):
    """Keras takes a list of axes where numpy wants a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


def normalize_axes(axis, ndim):
    """`axis` (None, an int or a sequence) as a tuple of non-negative axes; None means all of them."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    return tuple(int(a) % ndim if ndim else 0 for a in axes)


def expand_reduced(g, shape, axis, keepdims):
    """g of a reduction over `axis`, broadcast back to the input's `shape`."""
    if axis is None:
        return np.broadcast_to(np.reshape(g, (1,) * len(shape)), shape)
    if not keepdims:
        g = np.expand_dims(g, normalize_axes(axis, len(shape)))
    return np.broadcast_to(g, shape)


def reduced_count(shape, axis):
    """How many input elements each output element of a reduction over `axis` sums."""
    return int(np.prod([shape[a] for a in normalize_axes(axis, len(shape))], dtype=np.int64))


def as_float(x):
    """x itself when floating, else as float32: Keras computes exp, mean, ... of integers in floatx."""
    x = np.asarray(x)
    return x if x.dtype.kind in "fc" else x.astype(np.float32)


def grad_like(g, x):
    """g in the dtype of the floating argument x (a gradient never widens its variable)."""
    dtype = np.result_type(x)
    return g.astype(dtype, copy=False) if dtype.kind == "f" else g
