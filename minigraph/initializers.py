"""keras.initializers: Keras's names, defaults, configs and fan computation.

Seeds work as in Keras 3: an initializer draws from its own seed, so calling one instance twice gives the
same values. Without a seed it takes one from the global generator when it is created, which
`keras.utils.set_random_seed` (`set_seed` here) seeds. Values are drawn directly in the requested dtype.
"""
import math
import numbers

import numpy as np

from minigraph.identifiers import ObjectTable

_rng = np.random.default_rng()  # the global generator: unseeded initializers' seeds, Dropout's masks
_SEED_LIMIT = 10**9


def set_seed(seed):
    """Seed the global generator (keras.utils.set_random_seed calls this)."""
    global _rng
    _rng = np.random.default_rng(seed)


def compute_fans(shape, input_axes=None, output_axes=None):
    """Keras's (fan_in, fan_out): for a conv kernel (..., in, out) the receptive field multiplies both;
    `input_axes` and `output_axes` (given together) name the axes whose sizes multiply instead."""
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return (int(np.prod([shape[a] for a in input_axes])), int(np.prod([shape[a] for a in output_axes])))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def _shape(initializer, shape):
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{type(initializer).__name__}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{type(initializer).__name__}: shape must not have negative sizes, got {shape}")
    return shape


def _dtype(dtype):
    """A numpy dtype from a name, a numpy or TensorFlow-style dtype, or None (float32, Keras's floatx)."""
    return np.dtype("float32" if dtype is None else getattr(dtype, "as_numpy_dtype", dtype))


class Initializer:
    """Base class: `initializer(shape, dtype=None)` returns a numpy array of that shape and dtype."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(f"{type(self).__name__} does not implement __call__")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())


# ----------------------------------------------------------------------------------------------- constants
class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(self, shape), dtype=_dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(_shape(self, shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every entry `value` (a scalar, or an array that broadcasts to the shape)."""

    def __init__(self, value=0):
        self.value = value

    def __call__(self, shape, dtype=None):
        shape = _shape(self, shape)
        try:
            return np.array(np.broadcast_to(np.asarray(self.value, dtype=_dtype(dtype)), shape))
        except ValueError:
            raise ValueError(f"Constant: value of shape {np.shape(self.value)} does not broadcast to the "
                             f"shape {shape}") from None

    def get_config(self):
        value = self.value
        return {"value": value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value}


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        shape = _shape(self, shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: the identity initializer is for 2-D shapes only, got shape {shape}")
        dtype = _dtype(dtype)
        return np.eye(*shape, dtype=dtype) * np.asarray(self.gain, dtype=dtype)

    def get_config(self):
        return {"gain": self.gain}


# ----------------------------------------------------------------------------------------------- random
class RandomInitializer(Initializer):
    """An initializer with a seed: its own, or one drawn from the global generator when it is created."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"{type(self).__name__}: seed must be an integer or None, got {seed!r}")
        self.seed = seed
        # numpy seeds are non-negative; a negative Keras seed maps to one (values differ from TF anyway)
        self._seed_in_use = int(seed) % 2**64 if seed is not None else int(_rng.integers(1, _SEED_LIMIT))

    def __call__(self, shape, dtype=None):
        shape = _shape(self, shape)
        dtype = _dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: draws random floats; dtype {dtype.name!r} is not a "
                             f"floating dtype")
        # numpy's generators draw float32 and float64 directly; half precision is drawn in float32
        draw_dtype = dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)
        values = self._draw(np.random.default_rng(self._seed_in_use), shape, draw_dtype)
        return values.astype(dtype, copy=False)

    def _draw(self, rng, shape, dtype):
        """Values of `shape` in `dtype` (float32 or float64) from the generator `rng`."""
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}


def _uniform(rng, shape, low, high, dtype):
    return dtype.type(low) + dtype.type(high - low) * rng.random(shape, dtype=dtype)


def _truncated_normal(rng, shape, mean, stddev, dtype):
    """Normal values; those more than two standard deviations from the mean are drawn again."""
    z = rng.standard_normal(shape, dtype=dtype)
    outside = np.abs(z) > 2
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()), dtype=dtype)
        outside = np.abs(z) > 2
    return dtype.type(mean) + dtype.type(stddev) * z


class RandomNormal(RandomInitializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def _draw(self, rng, shape, dtype):
        return dtype.type(self.mean) + dtype.type(self.stddev) * rng.standard_normal(shape, dtype=dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomInitializer):
    """Normal values, redrawn beyond two standard deviations from the mean."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def _draw(self, rng, shape, dtype):
        return _truncated_normal(rng, shape, self.mean, self.stddev, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(RandomInitializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def _draw(self, rng, shape, dtype):
        return _uniform(rng, shape, self.minval, self.maxval, dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


# std of a unit normal truncated at +-2: dividing by it gives the truncated draw the requested variance
_TRUNCATED_STD = 0.87962566103423978
_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Variance `scale / n`, n the fan_in, fan_out or their mean (`mode`): a truncated or untruncated
    normal of that variance, or a uniform in [-limit, limit] with limit = sqrt(3 * scale / n)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        name = type(self).__name__
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
            raise ValueError(f"{name}: argument scale must be a positive number, got {scale!r}")
        if mode not in _MODES:
            raise ValueError(f"{name}: invalid mode {mode!r}; use one of {list(_MODES)}")
        distribution = str(distribution).lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"{name}: invalid distribution {distribution!r}; use one of {list(_DISTRIBUTIONS)}")
        if (input_axes is None) != (output_axes is None):
            raise ValueError(f"{name}: give input_axes and output_axes together, got input_axes={input_axes!r}, "
                             f"output_axes={output_axes!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def _draw(self, rng, shape, dtype):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / _TRUNCATED_STD, dtype)
        if self.distribution == "untruncated_normal":
            return dtype.type(math.sqrt(variance)) * rng.standard_normal(shape, dtype=dtype)
        limit = math.sqrt(3.0 * variance)
        return _uniform(rng, shape, -limit, limit, dtype)

    def _axes_config(self):
        # tf_keras has no fan axes; they are written only when set
        if self.input_axes is None:
            return {}
        return {"input_axes": list(self.input_axes), "output_axes": list(self.output_axes)}

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed,
                **self._axes_config()}


class _VarianceScalingPreset(VarianceScaling):
    """A VarianceScaling with a fixed (scale, mode, distribution), configured by its seed alone."""
    _PRESET = None

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(*self._PRESET, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, **self._axes_config()}


class GlorotUniform(_VarianceScalingPreset):
    """Uniform in [-limit, limit], limit = sqrt(6 / (fan_in + fan_out))."""
    _PRESET = (1.0, "fan_avg", "uniform")


class GlorotNormal(_VarianceScalingPreset):
    """Truncated normal with std sqrt(2 / (fan_in + fan_out))."""
    _PRESET = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_VarianceScalingPreset):
    """Uniform in [-limit, limit], limit = sqrt(6 / fan_in)."""
    _PRESET = (2.0, "fan_in", "uniform")


class HeNormal(_VarianceScalingPreset):
    """Truncated normal with std sqrt(2 / fan_in)."""
    _PRESET = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_VarianceScalingPreset):
    """Uniform in [-limit, limit], limit = sqrt(3 / fan_in)."""
    _PRESET = (1.0, "fan_in", "uniform")


class LecunNormal(_VarianceScalingPreset):
    """Truncated normal with std sqrt(1 / fan_in)."""
    _PRESET = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """`gain` times an orthogonal matrix (the QR factor of a normal draw, signs fixed by R's diagonal),
    over the shape flattened to (product of all but the last dimension, last dimension)."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def _draw(self, rng, shape, dtype):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have at least 2 dimensions, got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = rng.standard_normal((max(rows, cols), min(rows, cols)), dtype=dtype)
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # makes the factorisation unique, so q is uniformly distributed
        if rows < cols:
            q = q.T
        return (dtype.type(self.gain) * q).reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


# ----------------------------------------------------------------------------------------------- lookup
_CLASSES = (Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal)
_SNAKE_NAMES = ("zeros", "ones", "constant", "identity", "random_normal", "random_uniform", "truncated_normal",
                "variance_scaling", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
                "lecun_normal", "orthogonal")
_TABLE = ObjectTable("initializer", {
    **{cls.__name__: cls for cls in _CLASSES},
    **dict(zip(_SNAKE_NAMES, _CLASSES)),
    # Keras's aliases
    "zero": Zeros, "one": Ones, "normal": RandomNormal, "uniform": RandomUniform,
    "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity,
})

# the lower-case names Keras exports beside the classes
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal, variance_scaling = (RandomNormal, RandomUniform, TruncatedNormal,
                                                                      VarianceScaling)
glorot_uniform, glorot_normal, he_uniform, he_normal = GlorotUniform, GlorotNormal, HeUniform, HeNormal
lecun_uniform, lecun_normal, orthogonal = LecunUniform, LecunNormal, Orthogonal


def serialize(initializer):
    """`{"class_name", "config"}` as a Keras 2 `.h5` layer config holds it."""
    return _TABLE.serialize(initializer)


def deserialize(config, custom_objects=None):
    return _TABLE.deserialize(config, custom_objects)


def _from_array(array):
    """A numpy array as an initializer (Keras 3): the array itself, for that shape only."""
    def initialize(shape, dtype=None):
        if tuple(shape) != array.shape:
            raise ValueError(f"initializer array of shape {array.shape} used for a weight of shape {tuple(shape)}")
        return np.array(array, dtype=array.dtype if dtype is None else _dtype(dtype))
    return initialize


def get(identifier):
    """The initializer for a name ('he_normal', 'HeNormal'), a class, an instance, a config dict, a callable
    `fn(shape, dtype=None)` or a numpy array; None for None."""
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _from_array(np.asarray(identifier))
    return _TABLE.get(identifier)
