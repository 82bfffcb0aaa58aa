"""keras.backend: the process-wide switches minigraph has, and the tf.keras 2 helpers code still calls."""
import numpy as np

from minigraph import ops
from minigraph import random as _random
from minigraph.autodiff import Symbolic, value_of
from minigraph.kernels import workspace
from minigraph.layers.base import reset_names

_EPSILON = 1e-7


def clear_session():
    """Reset the layer-name counters, so the next Dense is 'dense' again, and hand the workspace
    pool's cached blocks back to the system."""
    reset_names()
    workspace.release()


def floatx():
    return "float32"


def epsilon():
    """The fuzz factor Keras adds to avoid dividing by zero."""
    return _EPSILON


def mean(x, axis=None, keepdims=False):
    return ops.mean(x, axis=axis, keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return ops.std(x, axis=axis, keepdims=keepdims)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    return ops.sum(x, axis=axis, keepdims=keepdims)


def square(x):
    return ops.square(x)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    return _random.normal(shape, mean=mean, stddev=stddev, dtype=dtype or floatx(), seed=seed)


def int_shape(x):
    """The shape as a tuple of ints, None where unknown (a symbolic tensor's batch)."""
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(value_of(x))
    return tuple(None if d is None else int(d) for d in shape)


def shape(x):
    """The shape as a tensor of int32 (tf.shape); a symbolic tensor's, with None, as a tuple."""
    if isinstance(x, Symbolic):
        return int_shape(x)
    return np.asarray(np.shape(value_of(x)), dtype=np.int32)
