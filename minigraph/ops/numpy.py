"""The numpy-like ops (keras.ops.numpy): creation, elementwise math, comparisons, shapes, indexing,
reductions and products, each differentiable op with its gradient rule beside it.

Comparisons, logical ops, argmax/argmin, sign, floor and round return plain numpy arrays: they carry no
gradient, as in Keras.
"""
import builtins
import string

import numpy as np

from minigraph.autodiff import differentiable, dispatching, value_of
from minigraph.kernels import dense as _dense
from minigraph.ops._gradients import (as_float, axis_argument, expand_reduced, grad_like, normalize_axes,
                                      reduced_count, unbroadcast)
from minigraph.ops.core import standardize_dtype

__all__ = [
    # creation
    "zeros", "ones", "zeros_like", "ones_like", "full", "full_like", "eye", "arange",
    # elementwise
    "add", "subtract", "multiply", "divide", "true_divide", "negative", "power", "square", "sqrt", "exp",
    "log", "log1p", "expm1", "abs", "absolute", "sin", "cos", "tanh", "maximum", "minimum", "clip", "where",
    "mod", "floor_divide",
    "where_mask", "sign", "floor", "round",
    # comparisons and logic
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
    "logical_not", "logical_xor", "all", "any",
    # shapes and indexing
    "reshape", "transpose", "expand_dims", "squeeze", "concatenate", "stack", "split", "tile", "repeat",
    "get_item", "take", "take_along_axis",
    # reductions
    "sum", "mean", "max", "min", "argmax", "argmin", "std", "var", "prod", "cumsum",
    # products
    "matmul", "dot", "einsum",
]


def _values(*args):
    return [value_of(a) for a in args]


# ----------------------------------------------------------------------------------------------- creation
def _dtype_or(dtype, default="float32"):
    return standardize_dtype(default if dtype is None else dtype)


@dispatching
def zeros(shape, dtype=None):
    return np.zeros(shape, dtype=_dtype_or(dtype))


@dispatching
def ones(shape, dtype=None):
    return np.ones(shape, dtype=_dtype_or(dtype))


@dispatching
def full(shape, fill_value, dtype=None):
    return np.full(shape, value_of(fill_value), dtype=_dtype_or(dtype))


def _like_dtype(x, dtype):
    return np.asarray(x).dtype if dtype is None else standardize_dtype(dtype)


@dispatching
def zeros_like(x, dtype=None):
    x = value_of(x)
    return np.zeros(np.shape(x), dtype=_like_dtype(x, dtype))


@dispatching
def ones_like(x, dtype=None):
    x = value_of(x)
    return np.ones(np.shape(x), dtype=_like_dtype(x, dtype))


@dispatching
def full_like(x, fill_value, dtype=None):
    x = value_of(x)
    return np.full(np.shape(x), value_of(fill_value), dtype=_like_dtype(x, dtype))


@dispatching
def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's argument names
    return np.eye(N, M, k, dtype=_dtype_or(dtype))


@dispatching
def arange(start, stop=None, step=None, dtype=None):
    """Keras's dtype: int32 when every bound is an integer, else float32."""
    bounds = [b for b in (start, stop, step) if b is not None]
    if dtype is None:
        integral = builtins.all(np.asarray(b).dtype.kind in "iub" for b in bounds)
        dtype = "int32" if integral else "float32"
    if stop is None:
        start, stop = 0, start
    return np.arange(start, stop, 1 if step is None else step, dtype=standardize_dtype(dtype))


# ----------------------------------------------------------------------------------------------- elementwise
@differentiable
def add(x1, x2):
    s1, s2 = np.shape(x1), np.shape(x2)
    return np.add(x1, x2), lambda g, needs: (unbroadcast(g, s1) if needs[0] else None,
                                             unbroadcast(g, s2) if needs[1] else None)


@differentiable
def subtract(x1, x2):
    s1, s2 = np.shape(x1), np.shape(x2)
    return np.subtract(x1, x2), lambda g, needs: (unbroadcast(g, s1) if needs[0] else None,
                                                  unbroadcast(-g, s2) if needs[1] else None)


@differentiable
def multiply(x1, x2):
    def backward(g, needs):
        return (unbroadcast(g * x2, np.shape(x1)) if needs[0] else None,
                unbroadcast(g * x1, np.shape(x2)) if needs[1] else None)
    return np.multiply(x1, x2), backward


@differentiable
def divide(x1, x2):
    out = np.divide(x1, x2)
    if out.dtype == np.float64 and np.result_type(x1, x2).kind in "iub":
        out = out.astype(np.float32)  # Keras divides integers into floatx

    def backward(g, needs):
        return (unbroadcast(g / x2, np.shape(x1)) if needs[0] else None,
                unbroadcast(-g * out / x2, np.shape(x2)) if needs[1] else None)
    return out, backward


true_divide = divide


@differentiable
def mod(x1, x2):
    """numpy's (and TensorFlow's floormod) remainder, with the sign of x2."""
    quotient = np.floor_divide(x1, x2)

    def backward(g, needs):
        return (unbroadcast(g, np.shape(x1)) if needs[0] else None,
                unbroadcast(-g * quotient, np.shape(x2)) if needs[1] else None)
    return np.mod(x1, x2), backward


@differentiable
def negative(x):
    return np.negative(x), lambda g, needs: (-g,)


@differentiable
def power(x1, x2):
    out = np.power(x1, x2)

    def backward(g, needs):
        g1 = g2 = None
        if needs[0]:
            g1 = unbroadcast(g * x2 * np.power(x1, np.subtract(x2, 1)), np.shape(x1))
        if needs[1]:  # d/dx2 of x1**x2 is x1**x2 log(x1); TensorFlow takes 0 where x1 <= 0
            positive = np.asarray(x1) > 0
            log_x1 = np.log(np.where(positive, x1, 1))
            g2 = unbroadcast(np.where(positive, g * out * log_x1, 0), np.shape(x2))
        return g1, g2
    return out, backward


@differentiable
def square(x):
    return np.square(x), lambda g, needs: (2 * g * x,)


@differentiable
def sqrt(x):
    out = np.sqrt(as_float(x))
    return out, lambda g, needs: (g / (2 * out),)


@differentiable
def exp(x):
    out = np.exp(as_float(x))
    return out, lambda g, needs: (g * out,)


@differentiable
def log(x):
    x = as_float(x)
    return np.log(x), lambda g, needs: (g / x,)


@differentiable
def log1p(x):
    x = as_float(x)
    return np.log1p(x), lambda g, needs: (g / (1 + x),)


@differentiable
def expm1(x):
    x = as_float(x)
    out = np.expm1(x)
    return out, lambda g, needs: (g * (out + 1),)


@differentiable
def abs(x):  # noqa: A001 - the op is named as in numpy and Keras
    return np.abs(x), lambda g, needs: (g * np.sign(x),)


absolute = abs


@differentiable
def sin(x):
    x = as_float(x)
    return np.sin(x), lambda g, needs: (g * np.cos(x),)


@differentiable
def cos(x):
    x = as_float(x)
    return np.cos(x), lambda g, needs: (-g * np.sin(x),)


@differentiable
def tanh(x):
    out = np.tanh(as_float(x))
    return out, lambda g, needs: (g * (1 - out * out),)


def _select(pick_first):
    """Gradient of maximum/minimum: each element's gradient goes to the argument that was picked."""
    def backward_for(x1, x2):
        def backward(g, needs):
            mask = pick_first(x1, x2)
            return (unbroadcast(np.where(mask, g, 0), np.shape(x1)) if needs[0] else None,
                    unbroadcast(np.where(mask, 0, g), np.shape(x2)) if needs[1] else None)
        return backward
    return backward_for


_max_backward = _select(np.greater_equal)
_min_backward = _select(np.less_equal)


@differentiable
def maximum(x1, x2):
    return np.maximum(x1, x2), _max_backward(x1, x2)


@differentiable
def minimum(x1, x2):
    return np.minimum(x1, x2), _min_backward(x1, x2)


@differentiable
def clip(x, x_min, x_max):
    out = np.clip(x, x_min, x_max)
    return out, lambda g, needs: (
        np.where((x >= x_min) & (x <= x_max), g, 0).astype(g.dtype), None, None)


@differentiable
def where_mask(mask, a, b):
    """mask ? a : b, with mask a constant boolean array."""
    mask = np.asarray(mask, dtype=bool)
    return np.where(mask, a, b), lambda g, needs: (
        None,
        unbroadcast(np.where(mask, g, 0), np.shape(a)) if needs[1] else None,
        unbroadcast(np.where(mask, 0, g), np.shape(b)) if needs[2] else None)


@dispatching
def where(condition, x1=None, x2=None):
    """condition ? x1 : x2, differentiable in x1 and x2; with neither, the indices where condition holds."""
    if x1 is None and x2 is None:
        return np.nonzero(value_of(condition))
    if x1 is None or x2 is None:
        raise ValueError("where: x1 and x2 must be given together, or neither")
    if _is_python_number(x1) and _is_python_number(x2):  # Keras's dtype: float32 if either is a float
        dtype = np.float32 if isinstance(x1, float) or isinstance(x2, float) else np.int32
        x1, x2 = np.asarray(x1, dtype=dtype), np.asarray(x2, dtype=dtype)
    return where_mask(np.asarray(value_of(condition), dtype=bool), x1, x2)


def _is_python_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, np.generic)


def _constant(fn, name):
    """A non-differentiable elementwise op: its result is a plain numpy array."""
    def op(*args, **kwargs):
        return fn(*_values(*args), **kwargs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"numpy.{fn.__name__} on the values (no gradient, as in Keras)."
    return dispatching(op)


sign = _constant(np.sign, "sign")
floor_divide = _constant(np.floor_divide, "floor_divide")
equal = _constant(np.equal, "equal")
not_equal = _constant(np.not_equal, "not_equal")
greater = _constant(np.greater, "greater")
greater_equal = _constant(np.greater_equal, "greater_equal")
less = _constant(np.less, "less")
less_equal = _constant(np.less_equal, "less_equal")
logical_and = _constant(np.logical_and, "logical_and")
logical_or = _constant(np.logical_or, "logical_or")
logical_xor = _constant(np.logical_xor, "logical_xor")
logical_not = _constant(np.logical_not, "logical_not")


@dispatching
def floor(x):
    return np.floor(as_float(value_of(x)))


@dispatching
def round(x, decimals=0):  # noqa: A001
    return np.round(value_of(x), decimals)


@dispatching
def all(x, axis=None, keepdims=False):  # noqa: A001
    return np.all(value_of(x), axis=axis_argument(axis), keepdims=keepdims)


@dispatching
def any(x, axis=None, keepdims=False):  # noqa: A001
    return np.any(value_of(x), axis=axis_argument(axis), keepdims=keepdims)


# ----------------------------------------------------------------------------------------------- shapes
@differentiable
def reshape(x, newshape):
    source = np.shape(x)
    return np.reshape(x, newshape), lambda g, needs: (np.reshape(g, source),)


@differentiable
def transpose(x, axes=None):
    inverse = None if axes is None else tuple(np.argsort(axes))
    return np.transpose(x, axes), lambda g, needs: (np.transpose(g, inverse),)


@differentiable
def expand_dims(x, axis):
    source = np.shape(x)
    return np.expand_dims(x, axis), lambda g, needs: (np.reshape(g, source),)


@differentiable
def squeeze(x, axis=None):
    source = np.shape(x)
    return np.squeeze(x, axis), lambda g, needs: (np.reshape(g, source),)


@differentiable
def _concatenate(*xs, axis=0):
    bounds = np.cumsum([np.shape(x)[axis] for x in xs])[:-1]
    return np.concatenate(xs, axis=axis), lambda g, needs: tuple(np.split(g, bounds, axis=axis))


@dispatching
def concatenate(xs, axis=0):
    return _concatenate(*xs, axis=axis)


@differentiable
def _stack(*xs, axis=0):
    out = np.stack(xs, axis=axis)
    return out, lambda g, needs: tuple(np.take(g, i, axis=axis) for i in range(len(xs)))


@dispatching
def stack(x, axis=0):
    return _stack(*x, axis=axis)


@dispatching
def split(x, indices_or_sections, axis=0):
    """A list of parts of x along `axis` (numpy's rules), each differentiable."""
    shape = np.shape(value_of(x))
    axis = normalize_axes(axis, len(shape))[0]
    parts = np.split(np.arange(shape[axis]), value_of(indices_or_sections))
    before = (slice(None),) * axis
    return [get_item(x, before + (slice(int(p[0]), int(p[-1]) + 1) if len(p) else slice(0, 0),))
            for p in parts]


@differentiable
def tile(x, repeats):
    out = np.tile(x, repeats)
    reps = tuple(np.atleast_1d(repeats))
    shape = np.shape(x)
    n = builtins.max(len(reps), len(shape))
    reps = (1,) * (n - len(reps)) + reps
    padded = (1,) * (n - len(shape)) + shape

    def backward(g, needs):
        pairs = g.reshape(tuple(v for r, s in zip(reps, padded) for v in (r, s)))
        return (pairs.sum(axis=tuple(range(0, 2 * n, 2))).reshape(shape),)
    return out, backward


@differentiable
def repeat(x, repeats, axis=None):
    x_shape = np.shape(x)
    flat = np.ravel(x) if axis is None else np.asarray(x)
    ax = 0 if axis is None else normalize_axes(axis, flat.ndim)[0]
    out = np.repeat(flat, repeats, axis=ax)

    def backward(g, needs):
        source = np.repeat(np.arange(flat.shape[ax]), repeats)
        gx = np.zeros(np.moveaxis(flat, ax, 0).shape, dtype=g.dtype)
        np.add.at(gx, source, np.moveaxis(g, ax, 0))
        return (np.moveaxis(gx, 0, ax).reshape(x_shape),)
    return out, backward


# ----------------------------------------------------------------------------------------------- indexing
def _index_value(key):
    """An indexing key with the values of any tensors in it (indices are never differentiated)."""
    if isinstance(key, tuple):
        return tuple(_index_value(k) for k in key)
    if isinstance(key, list):
        return np.asarray([value_of(k) for k in key])
    return value_of(key)


def _is_basic(key):
    parts = key if isinstance(key, tuple) else (key,)
    return builtins.all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) for k in parts)


@differentiable
def _get_item(x, *, key):
    out = x[key]

    def backward(g, needs):
        gx = np.zeros(np.shape(x), dtype=g.dtype)
        if _is_basic(key):
            gx[key] = g
        else:  # integer or boolean arrays may pick an element twice: accumulate
            np.add.at(gx, key, g)
        return (gx,)
    return out, backward


@dispatching
def get_item(x, key):
    """x[key] with numpy's indexing (slices, integers, None, Ellipsis, integer and boolean arrays)."""
    return _get_item(x, key=_index_value(key))


def _moved_take(x, indices, axis):
    """take along `axis` as an index into the moved-to-front axis; gradient scattered back."""
    out = np.take(x, indices, axis=axis)
    x_shape = np.shape(x)

    def backward(g, needs):
        gx = np.zeros((x_shape[axis],) + x_shape[:axis] + x_shape[axis + 1:], dtype=g.dtype)
        span = np.ndim(indices)
        moved = np.moveaxis(g, tuple(range(axis, axis + span)), tuple(range(span)))
        np.add.at(gx, indices, moved)
        return (np.moveaxis(gx, 0, axis), None)
    return out, backward


@differentiable
def take(x, indices, axis=None):
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        indices = indices.astype(np.int64)
    if axis is None:
        out, backward = _moved_take(np.ravel(x), indices, 0)
        shape = np.shape(x)
        return out, lambda g, needs: (backward(g, needs)[0].reshape(shape), None)
    return _moved_take(x, indices, normalize_axes(axis, np.ndim(x))[0])


@differentiable
def take_along_axis(x, indices, axis=None):
    indices = np.asarray(indices)
    shape = np.shape(x)
    source = np.ravel(x) if axis is None else np.asarray(x)
    ax = 0 if axis is None else normalize_axes(axis, source.ndim)[0]
    out = np.take_along_axis(source, indices, axis=ax)

    def backward(g, needs):
        gx = np.zeros(source.shape, dtype=g.dtype)
        index = []
        for d in range(out.ndim):
            if d == ax:
                index.append(np.broadcast_to(indices, out.shape))
            else:  # an axis of length 1 in x was broadcast: all of its gradient lands on its one element
                n = out.shape[d] if source.shape[d] != 1 else 1
                index.append(np.arange(n).reshape((-1,) + (1,) * (out.ndim - d - 1)) if n > 1
                             else np.zeros((1,) * (out.ndim - d), dtype=np.int64))
        np.add.at(gx, tuple(index), g)
        return (gx.reshape(shape), None)
    return out, backward


# ----------------------------------------------------------------------------------------------- reductions
@differentiable
def sum(x, axis=None, keepdims=False):  # noqa: A001
    x = np.asarray(x)
    axis = axis_argument(axis)
    return np.sum(x, axis=axis, keepdims=keepdims), lambda g, needs: (
        np.array(expand_reduced(g, x.shape, axis, keepdims), dtype=x.dtype),)


@differentiable
def mean(x, axis=None, keepdims=False):
    x = as_float(x)
    axis = axis_argument(axis)
    out = np.mean(x, axis=axis, keepdims=keepdims)
    count = x.size / np.size(out) if np.size(out) else 1
    return out, lambda g, needs: (
        np.array(expand_reduced(g, x.shape, axis, keepdims), dtype=x.dtype) / x.dtype.type(count),)


def _extreme(reduce, name):
    """max/min: the gradient is shared among the elements equal to the extreme, as in TensorFlow."""
    def forward(x, axis=None, keepdims=False, initial=None):
        x = np.asarray(x)
        axis = axis_argument(axis)
        out = reduce(x, axis=axis, keepdims=keepdims, **({} if initial is None else {"initial": initial}))

        def backward(g, needs):
            mask = x == expand_reduced(out, x.shape, axis, keepdims)
            count = expand_reduced(np.sum(mask, axis=axis, keepdims=keepdims), x.shape, axis, keepdims)
            return (grad_like(mask * expand_reduced(g, x.shape, axis, keepdims) / np.maximum(count, 1), x),)
        return out, backward
    forward.__name__ = forward.__qualname__ = name
    return forward


max = differentiable(_extreme(np.max, "max"))  # noqa: A001
min = differentiable(_extreme(np.min, "min"))  # noqa: A001


@dispatching
def argmax(x, axis=None, keepdims=False):
    return np.argmax(value_of(x), axis=axis, keepdims=keepdims).astype(np.int32)


@dispatching
def argmin(x, axis=None, keepdims=False):
    return np.argmin(value_of(x), axis=axis, keepdims=keepdims).astype(np.int32)


@differentiable
def var(x, axis=None, keepdims=False):
    x = as_float(x)
    axis = axis_argument(axis)
    centred = x - np.mean(x, axis=axis, keepdims=True)
    out = np.mean(centred * centred, axis=axis, keepdims=keepdims)
    count = reduced_count(x.shape, axis)
    return out, lambda g, needs: (
        (expand_reduced(g, x.shape, axis, keepdims) * centred * (2 / count)).astype(x.dtype),)


@differentiable
def std(x, axis=None, keepdims=False):
    x = as_float(x)
    axis = axis_argument(axis)
    centred = x - np.mean(x, axis=axis, keepdims=True)
    out = np.sqrt(np.mean(centred * centred, axis=axis, keepdims=keepdims))
    count = reduced_count(x.shape, axis)

    def backward(g, needs):
        scale = expand_reduced(g / (count * out), x.shape, axis, keepdims)
        return ((scale * centred).astype(x.dtype),)
    return out, backward


@differentiable
def prod(x, axis=None, keepdims=False, dtype=None):
    x = np.asarray(x)
    axis = axis_argument(axis)
    out = np.prod(x, axis=axis, keepdims=keepdims, dtype=None if dtype is None else standardize_dtype(dtype))

    def backward(g, needs):
        # the product of the other elements, from exclusive cumulative products both ways: exact with zeros
        axes = normalize_axes(axis, x.ndim)
        rest = tuple(a for a in range(x.ndim) if a not in axes)
        moved = np.transpose(x, rest + axes)
        flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
        ones = np.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        others = (left * right).reshape(moved.shape).transpose(np.argsort(rest + axes))
        return (grad_like(others * expand_reduced(g, x.shape, axis, keepdims), x),)
    return out, backward


@differentiable
def cumsum(x, axis=None, dtype=None):
    shape = np.shape(x)
    source = np.ravel(x) if axis is None else np.asarray(x)
    ax = 0 if axis is None else normalize_axes(axis, source.ndim)[0]
    out = np.cumsum(source, axis=ax, dtype=None if dtype is None else standardize_dtype(dtype))

    def backward(g, needs):
        gx = np.flip(np.cumsum(np.flip(g, ax), axis=ax), ax)
        return (grad_like(gx.reshape(shape), x),)
    return out, backward


# ----------------------------------------------------------------------------------------------- products
def _kernel_matmul(a, b):
    """The 2-D products the dense kernel serves: same floating dtype, float32 or float64."""
    return (a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.dtype in (np.float32, np.float64))


@differentiable
def matmul(x1, x2):
    a, b = np.asarray(x1), np.asarray(x2)
    if _kernel_matmul(a, b):
        out = _dense.matmul(a, b)

        def backward(g, needs):
            return (_dense.matmul(g, b, trans_b=True) if needs[0] else None,
                    _dense.matmul(a, g, trans_a=True) if needs[1] else None)
        return out, backward
    out = np.matmul(a, b)
    # 1-D operands as numpy treats them: a row (x1) or a column (x2), dropped from the result
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    out2_shape = np.matmul(a2[..., :1, :], b2[..., :, :1]).shape[:-2] + (a2.shape[-2], b2.shape[-1])

    def backward(g, needs):
        g2 = np.reshape(g, out2_shape)
        ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape) if needs[0] else None
        gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape) if needs[1] else None
        return ga, gb
    return out, backward


def _explicit_subscripts(subscripts, shapes):
    """einsum's subscripts with '...' spelled out and the output written: (input subscripts, output)."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    inputs = inputs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(inputs)} operands, got {len(shapes)}")
    free = [c for c in string.ascii_letters if c not in spec]
    span = builtins.max([len(s) - len(sub.replace("...", "")) for sub, s in zip(inputs, shapes) if "..." in sub],
                        default=0)
    ellipsis = "".join(free[:span])
    inputs = [sub.replace("...", ellipsis[span - (len(s) - len(sub) + 3):] if span else "") for sub, s in
              zip(inputs, shapes)]
    if arrow:
        output = output.replace("...", ellipsis)
    else:  # numpy's implicit output: the broadcast axes, then the labels used once, in alphabetical order
        labels = "".join(inputs)
        output = ellipsis + "".join(sorted(c for c in set(labels) if labels.count(c) == 1 and c not in ellipsis))
    return inputs, output


@differentiable
def _einsum(*operands, subscripts):
    inputs, output = _explicit_subscripts(subscripts, [np.shape(x) for x in operands])
    out = np.einsum(subscripts, *operands)

    def backward(g, needs):
        grads = []
        for i, (sub, x) in enumerate(zip(inputs, operands)):
            if not needs[i]:
                grads.append(None)
                continue
            if len(set(sub)) != len(sub):
                raise NotImplementedError(f"einsum: no gradient for an operand with a repeated label ({sub!r} "
                                          f"in {subscripts!r})")
            others = [s for j, s in enumerate(inputs) if j != i]
            elsewhere = set(output).union(*others)
            kept = "".join(c for c in sub if c in elsewhere)
            gi = np.einsum(",".join([output] + others) + "->" + kept, g,
                           *[o for j, o in enumerate(operands) if j != i])
            # labels summed within this operand alone: their gradient is the same along them
            gi = np.expand_dims(gi, tuple(k for k, c in enumerate(sub) if c not in elsewhere))
            shape = np.shape(x)
            summed = unbroadcast(gi, tuple(n if gi.shape[k] != 1 else 1 for k, n in enumerate(shape)))
            grads.append(grad_like(np.ascontiguousarray(np.broadcast_to(summed, shape)), x))
        return tuple(grads)
    return out, backward


@dispatching
def einsum(subscripts, *operands, **kwargs):
    if kwargs:
        raise TypeError(f"einsum: unsupported keyword argument(s) {sorted(kwargs)}")
    return _einsum(*operands, subscripts=subscripts)


@dispatching
def dot(x1, x2):
    """numpy's dot: a scalar multiplies; otherwise the last axis of x1 meets the second-to-last of x2 (the
    only one when x2 is 1-D)."""
    n1, n2 = np.ndim(value_of(x1)), np.ndim(value_of(x2))
    if n1 == 0 or n2 == 0:
        return multiply(x1, x2)
    letters = string.ascii_letters
    a = letters[:n1]
    if n2 == 1:
        b = a[-1]
    else:
        rest = letters[n1:n1 + n2 - 1]
        b = rest[:-1] + a[-1] + rest[-1:]
    return einsum(f"{a},{b}->{a[:-1]}{b.replace(a[-1], '')}", x1, x2)
