"""Regularization layers: SpatialDropout2D, GaussianNoise, GaussianDropout, ActivityRegularization.

The noise layers act in training only and draw from the initializers' generator unless given a seed, so
that set_random_seed covers them too.
"""
import numbers

import numpy as np

from minigraph import initializers, ops, registry
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers.core import Dropout


@registry.register
class SpatialDropout2D(Dropout):
    """Dropout of whole channels: one draw per (sample, channel), shared across rows and columns."""

    def __init__(self, rate, data_format=None, **kwargs):
        kwargs.pop("noise_shape", None)  # in Keras's config, always None: the layer sets its own
        super().__init__(rate, **kwargs)
        if data_format not in (None, "channels_last"):
            raise self._error(f"data_format={data_format!r} is not supported (only 'channels_last')")

    def compute_output_shape(self, input_shape):
        return self._input_shape(input_shape, rank=4)

    def call(self, inputs, training=None):
        self.noise_shape = (None, 1, 1, None)
        try:
            return super().call(inputs, training)
        finally:
            self.noise_shape = None


class _Noise(BuiltinLayer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def _normal(self, shape, dtype):
        rng = self._rng if self._rng is not None else initializers._rng
        return rng.standard_normal(shape).astype(dtype)

    def _rate(self, value, arg, upper):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < upper:
            raise self._error(f"argument {arg} must be a number in [0, {upper}), got {value!r}")
        return float(value)

    def compute_output_shape(self, input_shape):
        return self._input_shape(input_shape)


@registry.register
class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of standard deviation `stddev`, in training only."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = self._rate(stddev, "stddev", np.inf)

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        return ops.add(inputs, self._normal(inputs.shape, inputs.dtype) * inputs.dtype.type(self.stddev))

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@registry.register
class GaussianDropout(_Noise):
    """Multiplies by Gaussian noise of mean 1 and standard deviation sqrt(rate / (1 - rate)), in training only."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = self._rate(rate, "rate", 1)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        std = np.sqrt(self.rate / (1.0 - self.rate))
        return ops.multiply(inputs, 1 + self._normal(inputs.shape, inputs.dtype) * inputs.dtype.type(std))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@registry.register
class ActivityRegularization(BuiltinLayer):
    """Passes its input through and adds `(l1 * sum|x| + l2 * sum x^2) / batch` to the loss (Keras 2
    averages activity penalties over the batch)."""

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("l1", l1), ("l2", l2)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
                raise self._error(f"argument {arg} must be a non-negative number, got {value!r}")
        self.l1, self.l2 = float(l1), float(l2)

    def compute_output_shape(self, input_shape):
        return self._input_shape(input_shape)

    def call(self, inputs):
        dtype = np.dtype(inputs.dtype).type
        penalty = None
        if self.l1:
            penalty = ops.multiply(ops.sum(ops.abs(inputs)), dtype(self.l1))
        if self.l2:
            term = ops.multiply(ops.sum(ops.square(inputs)), dtype(self.l2))
            penalty = term if penalty is None else ops.add(penalty, term)
        if penalty is not None:
            self.add_loss(ops.divide(penalty, dtype(inputs.shape[0])))
        return inputs

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
