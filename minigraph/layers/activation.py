"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax (tf_keras 2.21's arguments and configs)."""
import math
import numbers

import numpy as np

from minigraph import initializers, ops, ops_activations, registry
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers._serialization import serialize_optional
from minigraph.layers.base import shape_str


class _Elementwise(BuiltinLayer):
    def _number(self, value, arg, minimum=None):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) or (
                minimum is not None and value < minimum):
            bound = "" if minimum is None else f" >= {minimum}"
            raise self._error(f"argument {arg} must be a finite number{bound}, got {value!r}")
        return float(value)

    def compute_output_shape(self, input_shape):
        return self._input_shape(input_shape)


@registry.register
class ReLU(_Elementwise):
    """`x` above `threshold` (capped at `max_value`), `negative_slope * (x - threshold)` below it."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else self._number(max_value, "max_value", 0)
        self.negative_slope = self._number(negative_slope, "negative_slope", 0)
        self.threshold = self._number(threshold, "threshold", 0)

    def call(self, inputs):
        if self.max_value is None and not self.negative_slope and not self.threshold:
            return ops.relu(inputs)
        return ops_activations.relu_general(inputs, max_value=self.max_value, negative_slope=self.negative_slope,
                                            threshold=self.threshold)

    @property
    def _relu_cap(self):
        if type(self).call is not ReLU.call or self.negative_slope or self.threshold or self.activity_regularizer:
            return None
        return math.inf if self.max_value is None else self.max_value

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@registry.register
class LeakyReLU(_Elementwise):
    """`x` for x > 0, `alpha * x` otherwise. Keras 2 names the slope `alpha` (default 0.3), Keras 3
    `negative_slope`: either is accepted; the config says `alpha`, as tf_keras writes it."""

    def __init__(self, alpha=None, negative_slope=None, **kwargs):
        super().__init__(**kwargs)
        if alpha is not None and negative_slope is not None and alpha != negative_slope:
            raise self._error(f"give the slope once: alpha={alpha!r} and negative_slope={negative_slope!r} differ")
        slope = alpha if alpha is not None else negative_slope
        self.alpha = self._number(0.3 if slope is None else slope, "alpha", 0)

    @property
    def negative_slope(self):
        return self.alpha

    def call(self, inputs):
        return ops_activations.leaky_relu(inputs, negative_slope=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@registry.register
class ELU(_Elementwise):
    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = self._number(alpha, "alpha")

    def call(self, inputs):
        return ops_activations.elu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@registry.register
class Softmax(_Elementwise):
    """Softmax over `axis` (an int or a list); masked positions (mask 0) get a zero probability."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in items):
            raise self._error(f"argument axis must be an int or a list of ints, got {axis!r}")
        self.axis = [int(a) for a in items] if isinstance(axis, (list, tuple)) else int(axis)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape)
        for a in self.axis if isinstance(self.axis, list) else [self.axis]:
            if not -len(shape) <= a < len(shape):
                raise self._error(f"argument axis={self.axis!r} is out of range for an input of shape "
                                  f"{shape_str(shape)}")
        return shape

    def call(self, inputs, mask=None):
        if mask is not None:  # tf_keras: a large negative number added where the mask is 0
            inputs = ops.add(inputs, (1.0 - np.asarray(mask, dtype=inputs.dtype)) * inputs.dtype.type(-1e9))
        if isinstance(self.axis, list):
            if len(self.axis) == 1:
                return ops.softmax(inputs, axis=self.axis[0])
            # several axes: the softmax of the flattened group, as exp(x - logsumexp over the axes)
            axes = tuple(self.axis)
            shifted = ops.subtract(inputs, np.max(np.asarray(getattr(inputs, "data", inputs)), axis=axes,
                                                  keepdims=True))
            e = ops.exp(shifted)
            return ops.divide(e, ops.sum(e, axis=axes, keepdims=True))
        return ops.softmax(inputs, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@registry.register
class PReLU(BuiltinLayer):
    """`max(x, 0) - alpha * max(-x, 0)` with a learned `alpha` per input cell, shared along `shared_axes`."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = self._lookup(initializers.get, alpha_initializer, "alpha_initializer")
        self.alpha_regularizer, self.alpha_constraint = alpha_regularizer, alpha_constraint
        if shared_axes is None:
            self.shared_axes = None
        else:
            items = list(shared_axes) if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) and a >= 1 for a in items):
                raise self._error(f"argument shared_axes must hold axes >= 1 (0 is the batch), got {shared_axes!r}")
            self.shared_axes = [int(a) for a in items]
        self.alpha = None

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, min_rank=2)
        for a in self.shared_axes or ():
            if a >= len(shape):
                raise self._error(f"shared_axes {self.shared_axes} is out of range for an input of shape "
                                  f"{shape_str(shape)}")
        return shape

    def build(self, input_shape):
        shape = self.compute_output_shape(input_shape)
        param = [1 if self.shared_axes and i + 1 in self.shared_axes else d for i, d in enumerate(shape[1:])]
        if None in param:
            raise self._error(f"axes of undefined size must be in shared_axes, got input shape {shape_str(shape)}")
        self.alpha = self.add_weight("alpha", tuple(param), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        super().build(input_shape)

    def call(self, inputs):
        return ops.subtract(ops.relu(inputs), ops.multiply(self.alpha, ops.relu(ops.negative(inputs))))

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": serialize_optional(self.alpha_regularizer),
                "alpha_constraint": serialize_optional(self.alpha_constraint), "shared_axes": self.shared_axes}
