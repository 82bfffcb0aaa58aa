"""Weight initializers with Keras' names, configs and fan computation."""
import math

import numpy as np

from minigraph import registry

_rng = np.random.default_rng()


def set_seed(seed):
    """Seed the initializers' generator (keras.utils.set_random_seed calls this)."""
    global _rng
    _rng = np.random.default_rng(seed)


def compute_fans(shape):
    """Keras' fans: for a conv kernel (kh, kw, in, out) the receptive field multiplies in and out."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape, dtype="float32"):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@registry.register
class Zeros(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.zeros(shape, dtype=dtype)


@registry.register
class Ones(Initializer):
    def __call__(self, shape, dtype="float32"):
        return np.ones(shape, dtype=dtype)


class _Seeded(Initializer):
    def __init__(self, seed=None):
        self.seed = seed

    def _generator(self):
        return np.random.default_rng(self.seed) if self.seed is not None else _rng

    def get_config(self):
        return {"seed": self.seed}


@registry.register
class GlorotUniform(_Seeded):
    def __call__(self, shape, dtype="float32"):
        fan_in, fan_out = compute_fans(shape)
        limit = math.sqrt(6.0 / max(1.0, fan_in + fan_out))
        return self._generator().uniform(-limit, limit, size=shape).astype(dtype)


@registry.register
class HeNormal(_Seeded):
    """Truncated normal (at 2 std) with std sqrt(2 / fan_in), as Keras' VarianceScaling does."""

    def __call__(self, shape, dtype="float32"):
        fan_in, _ = compute_fans(shape)
        std = math.sqrt(2.0 / max(1.0, fan_in)) / 0.87962566103423978  # std of a unit normal cut at 2
        rng = self._generator()
        out = rng.normal(0.0, std, size=shape)
        bad = np.abs(out) > 2 * std
        while bad.any():  # redraw outside the cut, as a truncated normal does
            out[bad] = rng.normal(0.0, std, size=int(bad.sum()))
            bad = np.abs(out) > 2 * std
        return out.astype(dtype)


_ALIASES = {"zeros": Zeros, "ones": Ones, "glorot_uniform": GlorotUniform, "he_normal": HeNormal}


def get(identifier):
    if isinstance(identifier, Initializer) or callable(identifier) and not isinstance(identifier, type):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower())
        if cls is None:
            raise ValueError(f"Unknown initializer {identifier!r}; known: {sorted(_ALIASES)}")
        return cls()
    if isinstance(identifier, dict):
        return registry.deserialize(identifier, kind="initializer")
    raise ValueError(f"Unknown initializer {identifier!r}")


def serialize(init):
    return {"class_name": init.__class__.__name__, "config": init.get_config()}
