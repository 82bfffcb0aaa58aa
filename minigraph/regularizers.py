"""keras.regularizers: penalties on a weight's value, added to the loss.

A regularizer is called on a weight (a numpy array, a `Variable`, or a `Traced` value under a tape) and
returns a scalar. It is written with `minigraph.ops`, so under a tape the penalty is differentiable.
Factors are kept as float32 values, as tf_keras keeps them, so configs read back as tf_keras writes them
(l2=0.01 is written 0.009999999776482582).
"""
import math
import numbers

import numpy as np

from minigraph import ops
from minigraph.autodiff import Traced, Variable
from minigraph.identifiers import ObjectTable

_EPSILON = 1e-7  # Keras's backend.epsilon(): the smallest norm a row is divided by


def _factor(value, name, owner, default):
    """A non-negative finite factor as the float32 value tf_keras keeps (None means the default)."""
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}: argument {name} must be a non-negative finite number, got {value!r}")
    return float(np.float32(value))


def _tensor(x):
    """An op argument: Variables and Traced values as they are (so gradients flow), anything else as an array."""
    if isinstance(x, (Variable, Traced)):
        return x
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


class Regularizer:
    """Base class: `regularizer(x)` returns the penalty for the weight x (0.0 here)."""

    def __call__(self, x):
        return 0.0

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _scaled(factor, reduced, dtype):
    return ops.multiply(np.asarray(factor, dtype=dtype), reduced)


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x**2); the name 'l1_l2' gives l1 = l2 = 0.01."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1", type(self).__name__, 0.0)
        self.l2 = _factor(l2, "l2", type(self).__name__, 0.0)

    def __call__(self, x):
        x = _tensor(x)
        penalty = np.zeros((), dtype=x.dtype)
        if self.l1:
            penalty = ops.add(penalty, _scaled(self.l1, ops.sum(ops.abs(x)), x.dtype))
        if self.l2:
            penalty = ops.add(penalty, _scaled(self.l2, ops.sum(ops.square(x)), x.dtype))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """l1 * sum(|x|)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(l1, "l1", "L1", 0.01)

    def __call__(self, x):
        x = _tensor(x)
        return _scaled(self.l1, ops.sum(ops.abs(x)), x.dtype)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x**2)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(l2, "l2", "L2", 0.01)

    def __call__(self, x):
        x = _tensor(x)
        return _scaled(self.l2, ops.sum(ops.square(x)), x.dtype)

    def get_config(self):
        return {"l2": self.l2}


def _l2_normalize(x, axis):
    """x / max(||x||, epsilon) along `axis`, as Keras 3's normalize."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=axis, keepdims=True))
    return ops.divide(x, ops.maximum(norm, np.asarray(_EPSILON, dtype=x.dtype)))


class OrthogonalRegularizer(Regularizer):
    """factor * mean over pairs of |cosine| between the rows (mode 'rows') or the columns ('columns') of a
    2-D weight: factor * 0.5 * sum(|P - diag(P)|) / (n (n - 1) / 2), P the Gram matrix of the normalised
    rows or columns, n their number."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer", 0.01)
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: argument mode must be 'rows' or 'columns', got {mode!r}")
        self.mode = mode

    def __call__(self, x):
        x = _tensor(x)
        if len(x.shape) != 2:
            raise ValueError(f"OrthogonalRegularizer: the weight must have rank 2, got shape {tuple(x.shape)}")
        if self.mode == "rows":
            unit = _l2_normalize(x, axis=1)
            product = ops.matmul(unit, ops.transpose(unit))
        else:
            unit = _l2_normalize(x, axis=0)
            product = ops.matmul(ops.transpose(unit), unit)
        size = int(x.shape[0] if self.mode == "rows" else x.shape[1])
        if size < 2:
            raise ValueError(f"OrthogonalRegularizer: mode={self.mode!r} needs at least 2 {self.mode}, got a "
                             f"weight of shape {tuple(x.shape)}")
        off_diagonal = ops.multiply(product, 1 - np.eye(size, dtype=x.dtype))
        num_pairs = size * (size - 1.0) / 2.0
        penalty = _scaled(self.factor * 0.5, ops.sum(ops.abs(off_diagonal)), x.dtype)
        return ops.divide(penalty, np.asarray(num_pairs, dtype=x.dtype))

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


def l1_l2(l1=0.01, l2=0.01):
    """L1L2 with Keras's defaults for the shortcut (0.01 each; the class defaults to 0)."""
    return L1L2(l1=l1, l2=l2)


l1, l2, orthogonal_regularizer = L1, L2, OrthogonalRegularizer

_TABLE = ObjectTable("regularizer", {
    "Regularizer": Regularizer, "L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer,
    "l1": L1, "l2": L2, "l1_l2": l1_l2, "orthogonal_regularizer": OrthogonalRegularizer,
})


def serialize(regularizer):
    """`{"class_name", "config"}` as a Keras 2 `.h5` layer config holds it (None for None)."""
    return _TABLE.serialize(regularizer)


def deserialize(config, custom_objects=None):
    return _TABLE.deserialize(config, custom_objects)


def get(identifier):
    """The regularizer for a name ('l2', 'L2', 'l1_l2'), a class, an instance, a config dict or a callable;
    None for None."""
    return _TABLE.get(identifier)
