"""keras.constraints: projections applied to a weight's value after each optimizer step.

A constraint is called on the weight's numpy value and returns the projected value, in the same dtype.
"""
import numbers

import numpy as np

from minigraph.autodiff import value_of
from minigraph.identifiers import ObjectTable

_EPSILON = 1e-7  # Keras's backend.epsilon(), added to the norms a weight is divided by


def _array(w):
    w = np.asarray(value_of(w))
    return w if w.dtype.kind == "f" else w.astype(np.float32)


def _axis(axis, owner):
    """An int or a list of ints, as Keras takes it; a tuple for numpy."""
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not items or any(isinstance(a, bool) or not isinstance(a, numbers.Integral) for a in items):
        raise ValueError(f"{owner}: argument axis must be an int or a list of ints, got {axis!r}")
    return tuple(int(a) for a in items)


def _norms(w, axis, owner):
    try:
        return np.sqrt(np.sum(np.square(w), axis=_axis(axis, owner), keepdims=True))
    except np.exceptions.AxisError:
        raise ValueError(f"{owner}: axis {axis!r} is out of range for a weight of shape {w.shape}") from None


def _rescaled(w, norms, desired):
    return w * (desired / (w.dtype.type(_EPSILON) + norms))


class Constraint:
    """Base class: `constraint(w)` returns the projected weight (w itself here)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    """Rescales each slice along `axis` whose L2 norm exceeds max_value down to max_value."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis
        _axis(axis, "MaxNorm")

    def __call__(self, w):
        w = _array(w)
        norms = _norms(w, self.axis, "MaxNorm")
        return _rescaled(w, norms, np.clip(norms, 0, w.dtype.type(self.max_value)))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's L2 norm along `axis` toward [min_value, max_value]: the new norm is
    rate * clip(norm, min_value, max_value) + (1 - rate) * norm."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate = min_value, max_value, rate
        self.axis = axis
        _axis(axis, "MinMaxNorm")

    def __call__(self, w):
        w = _array(w)
        norms = _norms(w, self.axis, "MinMaxNorm")
        rate = w.dtype.type(self.rate)
        clipped = np.clip(norms, w.dtype.type(self.min_value), w.dtype.type(self.max_value))
        return _rescaled(w, norms, rate * clipped + (w.dtype.type(1) - rate) * norms)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


class NonNeg(Constraint):
    """Negative entries become zero."""

    def __call__(self, w):
        w = _array(w)
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    """Each slice along `axis` divided by its L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis
        _axis(axis, "UnitNorm")

    def __call__(self, w):
        w = _array(w)
        return w / (w.dtype.type(_EPSILON) + _norms(w, self.axis, "UnitNorm"))

    def get_config(self):
        return {"axis": self.axis}


class RadialConstraint(Constraint):
    """Makes each (height, width) slice of a square Conv2D kernel (height, width, in, out) constant on the
    rings around its centre, as tf_keras does: the centre (one entry for an odd size, a 2x2 block for an
    even one) takes the entry at [c - 1, c - 1] with c = size // 2, and ring j around it takes the entry at
    [c + j - 1, c + j - 1] for an odd size, [c + j, c + j] for an even one (tf_keras's choice of entries)."""

    def __call__(self, w):
        w = _array(w)
        if w.ndim != 4:
            raise ValueError(f"RadialConstraint: the weight must have rank 4 (height, width, in, out), got shape "
                             f"{w.shape}")
        size = w.shape[0]
        if w.shape[1] != size or size < 2:
            raise ValueError(f"RadialConstraint: the kernel must be square and at least 2x2, got shape {w.shape}")
        c = size // 2
        odd = size % 2
        # ring index of each position: its distance from the centre entry (odd) or 2x2 block (even)
        offsets = np.arange(size) - c
        if not odd:
            offsets = np.where(offsets < 0, -offsets - 1, offsets)
        ring = np.maximum(np.abs(offsets)[:, None], np.abs(offsets)[None, :])
        source = np.where(ring == 0, c - 1, c + ring - odd)  # the diagonal entry each ring copies
        return w[source, source]

    def get_config(self):
        return {}


max_norm, min_max_norm, non_neg, unit_norm, radial_constraint = MaxNorm, MinMaxNorm, NonNeg, UnitNorm, RadialConstraint

_TABLE = ObjectTable("constraint", {
    "Constraint": Constraint, "MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
    "UnitNorm": UnitNorm, "RadialConstraint": RadialConstraint,
    "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
    "radial_constraint": RadialConstraint,
    "maxnorm": MaxNorm, "nonneg": NonNeg, "unitnorm": UnitNorm,  # tf_keras's legacy names
})


def serialize(constraint):
    """`{"class_name", "config"}` as a Keras 2 `.h5` layer config holds it (None for None)."""
    return _TABLE.serialize(constraint)


def deserialize(config, custom_objects=None):
    return _TABLE.deserialize(config, custom_objects)


def get(identifier):
    """The constraint for a name ('max_norm', 'MaxNorm'), a class, an instance, a config dict or a callable;
    None for None."""
    return _TABLE.get(identifier)
