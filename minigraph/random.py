"""keras.random: random tensors with Keras 3's seeds.

A seed is an int (the same numbers on every call), a `SeedGenerator` (new numbers on each call, the same
sequence from the same initial seed) or None (the global SeedGenerator, made afresh from Python's `random`
after `keras.utils.set_random_seed`, so a seeded program repeats itself).
"""
import random as python_random

import numpy as np

from minigraph.autodiff import Variable, differentiable, dispatching, value_of
from minigraph.ops.core import standardize_dtype

__all__ = ["SeedGenerator", "normal", "uniform", "truncated_normal", "randint", "dropout", "shuffle",
           "categorical"]

_generator_count = 0


class SeedGenerator:
    """The state of a random stream: `state` holds (seed, counter); `next()` returns it and moves on."""

    def __init__(self, seed=None, name=None, **kwargs):
        global _generator_count
        if kwargs:
            raise TypeError(f"SeedGenerator: unknown argument(s) {sorted(kwargs)}")
        if name is None:
            name = "seed_generator" if _generator_count == 0 else f"seed_generator_{_generator_count}"
            _generator_count += 1
        self.name = name
        self._initial_seed = seed
        if seed is None:
            seed = python_random.randint(1, int(1e9))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"SeedGenerator: argument `seed` must be an integer, got seed={seed!r}")
        self.state = Variable(np.array([int(seed) % 2**32, 0], dtype=np.uint32), name="seed_generator_state",
                              trainable=False)

    def next(self, ordered=True):
        """The current (seed, counter), then the state moves on."""
        current = self.state.value.copy()
        if ordered:
            self.state.value[1] += np.uint32(1)
        else:
            self.state.value[...] = (self.state.value.astype(np.int64) + 1) * 5387 % 933199
        return current

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_global_generator = None


def reset_global_seed_generator():
    """Forget the global SeedGenerator: the next unseeded draw makes a new one (keras.utils.set_random_seed)."""
    global _global_generator
    _global_generator = None


def global_seed_generator():
    global _global_generator
    if _global_generator is None:
        _global_generator = SeedGenerator()
    return _global_generator


def draw_seed(seed):
    """The (seed, counter) pair of one draw, by Keras's rules for int, SeedGenerator and None."""
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.array([int(seed) % 2**32, 0], dtype=np.uint32)
    if seed is None:
        return global_seed_generator().next(ordered=False)
    raise ValueError(f"Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
                     f"Received: seed={seed!r} (of type {type(seed)})")


def _rng(seed):
    return np.random.Generator(np.random.Philox(key=draw_seed(seed).astype(np.uint64)))


def _float_dtype(dtype):
    dtype = standardize_dtype("float32" if dtype is None else dtype)
    if dtype.kind != "f":
        raise ValueError(f"expected a floating dtype, got {dtype}")
    return dtype


def _shape(shape):
    shape = value_of(shape)
    return (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)


def _draw_dtype(dtype):
    """numpy's generators draw float32 and float64 directly (not float64 then cast); half precision in float32."""
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    dtype = _float_dtype(dtype)
    draw = _draw_dtype(dtype)
    z = _rng(seed).standard_normal(_shape(shape), dtype=draw)
    return (z * draw.type(stddev) + draw.type(mean)).astype(dtype, copy=False)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    dtype = _float_dtype(dtype)
    draw = _draw_dtype(dtype)
    u = _rng(seed).random(_shape(shape), dtype=draw)
    return (draw.type(minval) + draw.type(maxval - minval) * u).astype(dtype, copy=False)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal values more than two standard deviations from the mean are drawn again."""
    dtype = _float_dtype(dtype)
    draw = _draw_dtype(dtype)
    rng = _rng(seed)
    out = rng.standard_normal(_shape(shape), dtype=draw)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()), dtype=draw)
        bad = np.abs(out) > 2
    return (out * draw.type(stddev) + draw.type(mean)).astype(dtype, copy=False)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers in [minval, maxval)."""
    dtype = standardize_dtype(dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"randint: expected an integer dtype, got {dtype}")
    return _rng(seed).integers(minval, maxval, _shape(shape)).astype(dtype)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """num_samples class indices per row of `logits` (batch, classes), drawn from softmax(logits)."""
    logits = np.asarray(value_of(logits), dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"categorical: logits must have shape (batch, classes), got {logits.shape}")
    rng = _rng(seed)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probs /= probs.sum(axis=-1, keepdims=True)
    cumulative = np.cumsum(probs, axis=-1)
    draws = rng.random((logits.shape[0], int(num_samples)))
    picks = np.minimum((draws[:, :, None] > cumulative[:, None, :]).sum(axis=-1), logits.shape[1] - 1)
    return picks.astype(standardize_dtype(dtype))


@differentiable(tensors=("inputs",))
def _dropout(inputs, keep):
    return inputs * keep, lambda g, needs: (g * keep,)


@dispatching
def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zero each element with probability `rate` and scale the rest by 1 / (1 - rate); differentiable."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
    x = value_of(inputs)
    shape = np.shape(x) if noise_shape is None else tuple(
        n if d is None else d for d, n in zip(noise_shape, np.shape(x)))
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    keep = (_rng(seed).random(shape) >= rate).astype(dtype) / dtype.type(1 - rate)
    return _dropout(inputs, keep)


@dispatching
def shuffle(x, axis=0, seed=None):
    """x with its slices along `axis` in a random order."""
    x = value_of(x)
    order = _rng(seed).permutation(np.shape(x)[axis])
    return np.take(x, order, axis=axis)
