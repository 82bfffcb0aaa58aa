"""Conversion, inspection and casting (keras.ops.core's part that minigraph has)."""
import numpy as np

from minigraph.autodiff import Symbolic, Traced, Variable, differentiable, dispatching, value_of

__all__ = ["convert", "convert_to_tensor", "convert_to_numpy", "shape", "dtype", "cast", "stop_gradient"]


def standardize_dtype(dtype):
    """A numpy dtype for a Keras dtype name, numpy dtype or framework dtype (anything with as_numpy_dtype)."""
    dtype = getattr(dtype, "as_numpy_dtype", dtype)
    # only the name or the Python type: numpy's float64 (int64) dtype compares equal to "float" ("int")
    if dtype is float or (isinstance(dtype, str) and dtype == "float"):
        return np.dtype("float32")  # Keras: Python floats are floatx
    if dtype is int or (isinstance(dtype, str) and dtype == "int"):
        return np.dtype("int32")
    return np.dtype(getattr(dtype, "name", dtype))


def default_array(x, dtype=None):
    """x as Keras converts a value: Python floats float32, Python ints int32; numpy arrays keep theirs."""
    if dtype is not None:
        return np.asarray(x, dtype=standardize_dtype(dtype))
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x)
    x = np.asarray(x)
    if x.dtype == np.float64:
        return x.astype(np.float32)
    if x.dtype == np.int64:
        return x.astype(np.int32)
    return x


def convert(x, dtype=None):
    """Plain numpy value of x (float32 unless x is already floating)."""
    x = value_of(x)
    if dtype is not None:
        return np.asarray(x, dtype=dtype)
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


@dispatching
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """A tensor for x: Traced values and Variables stay differentiable (cast when dtype differs)."""
    if sparse or ragged:
        raise ValueError("convert_to_tensor: sparse and ragged tensors are not supported")
    if isinstance(x, (Traced, Variable)):
        return x if dtype is None or standardize_dtype(dtype) == x.dtype else cast(x, dtype)
    return default_array(x, dtype)


def convert_to_numpy(x):
    """x as a numpy array (a copy of a Variable's value, so later updates do not show through)."""
    if isinstance(x, Symbolic):
        raise ValueError(f"convert_to_numpy: a symbolic tensor has no value yet: {x!r}")
    return np.array(value_of(x))


def shape(x):
    """The shape as a tuple (None for unknown dimensions of a symbolic tensor)."""
    s = getattr(x, "shape", None)
    return tuple(np.shape(x) if s is None else s)


def dtype(x):
    """The dtype name of x ('float32', ...)."""
    d = getattr(x, "dtype", None)
    if d is None:
        d = default_array(value_of(x)).dtype
    return getattr(d, "name", str(d))


@differentiable
def cast(x, dtype):
    target = standardize_dtype(dtype)
    source = np.asarray(x).dtype
    # a cast to or from an integer carries no gradient, as in TensorFlow
    floating = source.kind in "fc" and target.kind in "fc"
    return np.asarray(x, dtype=target), lambda g, needs: (g.astype(source) if floating else None,)


@differentiable
def stop_gradient(variable):
    return np.asarray(variable), lambda g, needs: (None,)
