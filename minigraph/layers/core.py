"""Core layers: Dense, Activation, Dropout, Flatten, Reshape."""
import math
import numbers

import numpy as np

from minigraph import activations, initializers, ops, registry
from minigraph.layers._builtin import BuiltinLayer, KernelLayer
from minigraph.layers.base import check_axis, shape_str


@registry.register
class Dense(KernelLayer):
    """`activation(inputs @ kernel + bias)` over the last axis of inputs of any rank >= 2."""

    def __init__(self, units, activation=None, use_bias=True, **kwargs):
        super().__init__(activation=activation, use_bias=use_bias, **kwargs)
        self.units = self._positive_int(units, "units")

    def build(self, input_shape):
        self.compute_output_shape(input_shape)  # validates before any weight is made
        self._add_kernel_and_bias((input_shape[-1], self.units), self.units)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, min_rank=2)
        self._check_defined(shape, -1, "last")
        if self.kernel is not None:
            check_axis(self, shape, -1, self.kernel.shape[0])
        return shape[:-1] + (self.units,)

    def call(self, inputs):
        return self._activate(ops.dense, inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units, **self._kernel_config()}


@registry.register
class Activation(BuiltinLayer):
    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = self._lookup(activations.get, activation, "activation")

    def compute_output_shape(self, input_shape):
        return self._input_shape(input_shape)

    def call(self, inputs):
        return self.activation(inputs)

    @property
    def _relu_cap(self):
        if type(self).call is not Activation.call or self.activity_regularizer is not None:
            return None
        return {activations.relu: math.inf, activations.relu6: 6.0}.get(self.activation)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@registry.register
class Dropout(BuiltinLayer):
    """Zeroes a fraction `rate` of the inputs and scales the rest by 1 / (1 - rate), in training only."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise self._error(f"argument rate must be a number in [0, 1), got {rate!r}")
        self.rate = rate
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape)
        if self.noise_shape is not None and (
                len(self.noise_shape) != len(shape)
                or any(n not in (None, 1) and d is not None and n != d for n, d in zip(self.noise_shape, shape))):
            raise self._error(f"noise_shape {self.noise_shape} does not broadcast to the input shape "
                              f"{shape_str(shape)}")
        return shape

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        shape = inputs.shape if self.noise_shape is None else tuple(
            d if n is None else n for n, d in zip(self.noise_shape, inputs.shape))
        # without a seed, draw from the initializers' generator so that set_random_seed covers dropout too
        rng = self._rng if self._rng is not None else initializers._rng
        mask = (rng.random(shape) >= self.rate) / (1.0 - self.rate)
        return ops.multiply(inputs, mask.astype(inputs.dtype))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


_INT64_MAX = 2**63 - 1


def _values_per_sample(layer, dims, what):
    """The exact product of `dims` (Python ints); a product past int64, which numpy would wrap around
    (to 0, say), is refused, naming the layer."""
    size = math.prod(int(d) for d in dims)
    if size > _INT64_MAX:
        raise layer._error(f"{what} of shape {tuple(dims)} holds {size} values per sample, more than an int64 "
                           f"can count (2**63 - 1)")
    return size


@registry.register
class Flatten(BuiltinLayer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise self._error(f"unknown data_format {data_format!r}")
        self.data_format = data_format or "channels_last"

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape)
        rest = shape[1:]
        return (shape[0], None if None in rest else _values_per_sample(self, rest, "the input"))

    def call(self, inputs):
        if self.data_format == "channels_first" and inputs.ndim >= 3:
            # Keras moves the channels last first, so the flattened order matches a channels_last model
            inputs = ops.transpose(inputs, (0,) + tuple(range(2, inputs.ndim)) + (1,))
        return ops.reshape(inputs, (inputs.shape[0], _values_per_sample(self, inputs.shape[1:], "the input")))

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


@registry.register
class Reshape(BuiltinLayer):
    """Reshapes each sample to `target_shape`; one entry may be -1 (inferred)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise self._error(f"argument target_shape must be a tuple of ints, got {target_shape!r}") from None
        if any(d == 0 or d < -1 for d in target) or target.count(-1) > 1:
            raise self._error(f"argument target_shape must hold positive sizes and at most one -1, "
                              f"got {target_shape!r}")
        self.target_shape = target

    def _resolve(self, shape):
        """The target for an input of `shape` (batch first), with -1 worked out when the sizes are known."""
        sample = shape[1:]
        if None in sample:
            return tuple(None if d == -1 else d for d in self.target_shape)
        size = _values_per_sample(self, sample, "the input")
        known = _values_per_sample(self, [d for d in self.target_shape if d != -1], "target_shape")
        fits = size % known == 0 if -1 in self.target_shape else size == known
        if not fits:
            raise self._error(f"cannot reshape an input of shape {shape_str(shape)} ({size} values per sample) "
                              f"to target_shape {self.target_shape} ({known} values"
                              f"{' times the -1 axis' if -1 in self.target_shape else ''})")
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape)
        return shape[:1] + self._resolve(shape)

    def call(self, inputs):
        return ops.reshape(inputs, inputs.shape[:1] + self._resolve(inputs.shape))

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


@registry.register
class RepeatVector(BuiltinLayer):
    """(batch, features) -> (batch, n, features): the input repeated n times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = self._positive_int(n, "n")

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=2)
        return (shape[0], self.n, shape[1])

    def call(self, inputs):
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@registry.register
class Permute(BuiltinLayer):
    """Reorders the axes after the batch: dims is a permutation of 1 .. rank - 1 (Keras counts from 1)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise self._error(f"argument dims must be a permutation of 1 .. {len(dims)}, got {dims}")
        self.dims = dims

    def compute_output_shape(self, input_shape):
        shape = self._input_shape(input_shape, rank=len(self.dims) + 1)
        return (shape[0],) + tuple(shape[d] for d in self.dims)

    def call(self, inputs):
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}
