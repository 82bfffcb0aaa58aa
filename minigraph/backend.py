"""keras.backend: the process-wide switches minigraph has, and the tf.keras 2 helpers code still calls,
with tf.keras 2's argument names and defaults (they differ from keras.ops in places: concatenate and
argmax default to the last axis)."""
import numpy as np

from minigraph import ops
from minigraph import random as _random
from minigraph.autodiff import Symbolic, Variable, value_of
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


def image_data_format():
    return "channels_last"


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


def ndim(x):
    return len(int_shape(x))


def dtype(x):
    return ops.dtype(x)


# ----------------------------------------------------------------------------------------------- values
def variable(value, dtype=None, name=None):
    return Variable(np.array(value, dtype=dtype or floatx()), name=name or "variable")


def constant(value, dtype=None, shape=None, name=None):
    value = np.asarray(value, dtype=dtype or floatx())
    return value if shape is None else np.broadcast_to(value, shape).copy()


def get_value(x):
    return ops.convert_to_numpy(x)


def eval(x):  # noqa: A001 - Keras's name
    return ops.convert_to_numpy(x)


def set_value(x, value):
    x.assign(value)


def zeros(shape, dtype=None, name=None):
    return np.zeros(shape, dtype=dtype or floatx())


def ones(shape, dtype=None, name=None):
    return np.ones(shape, dtype=dtype or floatx())


def zeros_like(x, dtype=None, name=None):
    return ops.zeros_like(x, dtype=dtype)


def ones_like(x, dtype=None, name=None):
    return ops.ones_like(x, dtype=dtype)


# ----------------------------------------------------------------------------------------------- math
def max(x, axis=None, keepdims=False):  # noqa: A001
    return ops.max(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return ops.min(x, axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    return ops.var(x, axis=axis, keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    return ops.prod(x, axis=axis, keepdims=keepdims)


def argmax(x, axis=-1):
    return ops.argmax(x, axis=axis)


def argmin(x, axis=-1):
    return ops.argmin(x, axis=axis)


def any(x, axis=None, keepdims=False):  # noqa: A001
    return ops.any(x, axis=axis, keepdims=keepdims)


def all(x, axis=None, keepdims=False):  # noqa: A001
    return ops.all(x, axis=axis, keepdims=keepdims)


def cumsum(x, axis=0):
    return ops.cumsum(x, axis=axis)


def abs(x):  # noqa: A001
    return ops.abs(x)


def sqrt(x):
    """tf.keras 2 clips at 0 first, so a tiny negative rounding error gives 0, not NaN."""
    return ops.sqrt(ops.maximum(x, 0.0))


def exp(x):
    return ops.exp(x)


def log(x):
    return ops.log(x)


def sign(x):
    return ops.sign(x)


def pow(x, a):  # noqa: A001
    return ops.power(x, a)


def maximum(x, y):
    return ops.maximum(x, y)


def minimum(x, y):
    return ops.minimum(x, y)


def clip(x, min_value, max_value):
    if max_value is not None and min_value is not None and max_value < min_value:
        max_value = min_value  # tf.keras 2's rule
    return ops.clip(x, -np.inf if min_value is None else min_value, np.inf if max_value is None else max_value)


def dot(x, y):
    return ops.dot(x, y)


def l2_normalize(x, axis=None):
    """x / sqrt(max(sum(x**2), 1e-12)), as tf.math.l2_normalize."""
    return ops.divide(x, ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12)))


def sigmoid(x):
    return ops.sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    return ops.softmax(x, axis=axis)


def relu(x, alpha=0.0, max_value=None, threshold=0.0):
    if alpha != 0.0 or threshold != 0.0:
        raise NotImplementedError("backend.relu: alpha and threshold other than 0 are not supported")
    out = ops.relu(x)
    return out if max_value is None else ops.minimum(out, max_value)


# ----------------------------------------------------------------------------------------------- shapes
def cast(x, dtype):
    return ops.cast(x, dtype)


def reshape(x, shape):
    return ops.reshape(x, shape)


def transpose(x):
    return ops.transpose(x)


def permute_dimensions(x, pattern):
    return ops.transpose(x, tuple(pattern))


def expand_dims(x, axis=-1):
    return ops.expand_dims(x, axis)


def squeeze(x, axis):
    return ops.squeeze(x, axis)


def flatten(x):
    return ops.reshape(x, (-1,))


def batch_flatten(x):
    return ops.reshape(x, (-1, int(np.prod(int_shape(x)[1:], dtype=np.int64))))


def concatenate(tensors, axis=-1):
    return ops.concatenate(tensors, axis=axis)


def stack(x, axis=0):
    return ops.stack(x, axis=axis)
