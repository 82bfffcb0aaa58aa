"""keras.initializers: Keras's names, defaults, configs and fan computation.

Seeds work as in Keras 3: an initializer seeded with an int (or unseeded: then it takes an int from Python's
`random` when it is made, which `keras.utils.set_random_seed` seeds) gives the same values on every call; one
seeded with a `keras.random.SeedGenerator` gives new values on each call. The draws are keras.random's, made
directly in the requested dtype.
"""
import math
import numbers
import random as python_random

import numpy as np

from minigraph import random
from minigraph.identifiers import ObjectTable

_rng = np.random.default_rng()  # Dropout's masks without a seed
_SEED_LIMIT = 10**9  # Keras 3 draws an unseeded initializer's seed in [1, 1e9]


def set_seed(seed):
    """Seed the generator Dropout draws its masks from (keras.utils.set_random_seed calls this; it seeds
    Python's `random` too, from which unseeded initializers take their seeds)."""
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
    """An initializer with a seed, as in Keras 3: an int (the same values on every call), a
    `keras.random.SeedGenerator` (new values on each call), or None: then an int drawn from Python's `random`
    when the initializer is made, so `keras.utils.set_random_seed` makes it repeat."""

    def __init__(self, seed=None):
        if isinstance(seed, dict):  # a SeedGenerator's config, as Keras 3 writes it
            seed = random.SeedGenerator.from_config(seed.get("config", seed))
        if seed is not None and not isinstance(seed, random.SeedGenerator) and (
                isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"{type(self).__name__}: seed must be an integer, a keras.random.SeedGenerator or "
                             f"None, got {seed!r}")
        self.seed = seed
        self._seed_in_use = python_random.randint(1, _SEED_LIMIT) if seed is None else seed

    def __call__(self, shape, dtype=None):
        shape = _shape(self, shape)
        dtype = _dtype(dtype)
        if dtype.kind != "f":
            raise ValueError(f"{type(self).__name__}: draws random floats; dtype {dtype.name!r} is not a "
                             f"floating dtype")
        return self._draw(shape, dtype, self._seed_in_use)

    def _draw(self, shape, dtype, seed):
        """Values of `shape` in `dtype`, drawn with keras.random from `seed`."""
        raise NotImplementedError

    def _seed_config(self):
        if isinstance(self.seed, random.SeedGenerator):
            return {"class_name": "SeedGenerator", "config": self.seed.get_config()}
        return self.seed

    def get_config(self):
        return {"seed": self._seed_config()}


class RandomNormal(RandomInitializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def _draw(self, shape, dtype, seed):
        return random.normal(shape, self.mean, self.stddev, dtype=dtype, seed=seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self._seed_config()}


class TruncatedNormal(RandomInitializer):
    """Normal values, redrawn beyond two standard deviations from the mean."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def _draw(self, shape, dtype, seed):
        return random.truncated_normal(shape, self.mean, self.stddev, dtype=dtype, seed=seed)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self._seed_config()}


class RandomUniform(RandomInitializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def _draw(self, shape, dtype, seed):
        return random.uniform(shape, self.minval, self.maxval, dtype=dtype, seed=seed)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self._seed_config()}


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

    def _draw(self, shape, dtype, seed):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return random.truncated_normal(shape, 0.0, math.sqrt(variance) / _TRUNCATED_STD, dtype=dtype, seed=seed)
        if self.distribution == "untruncated_normal":
            return random.normal(shape, 0.0, math.sqrt(variance), dtype=dtype, seed=seed)
        limit = math.sqrt(3.0 * variance)
        return random.uniform(shape, -limit, limit, dtype=dtype, seed=seed)

    def _axes_config(self):
        # tf_keras has no fan axes; they are written only when set
        if self.input_axes is None:
            return {}
        return {"input_axes": list(self.input_axes), "output_axes": list(self.output_axes)}

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self._seed_config(), **self._axes_config()}


class _VarianceScalingPreset(VarianceScaling):
    """A VarianceScaling with a fixed (scale, mode, distribution), configured by its seed alone."""
    _PRESET = None

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(*self._PRESET, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self._seed_config(), **self._axes_config()}


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

    def _draw(self, shape, dtype, seed):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have at least 2 dimensions, got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = random.normal((max(rows, cols), min(rows, cols)), dtype=dtype, seed=seed)
        # QR in float32 or float64 (numpy's LAPACK has no half precision)
        q, r = np.linalg.qr(a if a.dtype in (np.float32, np.float64) else a.astype(np.float32))
        q = q * np.sign(np.diag(r))  # makes the factorisation unique, so q is uniformly distributed
        if rows < cols:
            q = q.T
        return (q.dtype.type(self.gain) * q).reshape(shape).astype(dtype, copy=False)

    def get_config(self):
        return {"gain": self.gain, "seed": self._seed_config()}


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
