"""Reverse-mode differentiation on a tape.

Values are plain numpy arrays. Outside a tape, an op computes its result and nothing is kept, which is
what makes inference cheap. Inside `with Tape() as tape:`, every op whose inputs depend on a watched
`Variable` appends one record (its backward closure and its parents) to the tape and returns a `Traced`
value. Records are appended in execution order, so walking them backwards is already a valid reverse
topological order: `tape.gradient` needs no sort.

An op is written once, as a function returning `(output, backward)`; `backward(g, needs)` returns one
gradient per array argument (None where `needs` is False). See `minigraph.ops`.
"""
import functools
import threading

import numpy as np

class _ThreadState(threading.local):
    """Each thread has its own tape stack: concurrent predict calls never share one."""

    def __init__(self):
        self.tapes = []


_state = _ThreadState()


class Symbolic:
    """Marker base of symbolic tensors (the layers' KerasTensor): values that hold no data yet."""

    __slots__ = ()


class Variable:
    """A weight that an optimizer updates in place; `value` is its numpy array.

    `keras.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)`: the initializer is
    a value (array-like) or an initializer called with `shape` and `dtype`.
    """

    __array_priority__ = 100  # numpy defers mixed operators to Variable's own, which route to ops

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, name="variable", constraint=None,
                 autocast=True, aggregation="none", synchronization="auto"):
        if callable(initializer) and not hasattr(initializer, "__array__"):
            if shape is None:
                raise ValueError(f"Variable '{name}': an initializer needs a shape, e.g. "
                                 f"Variable(initializer, shape=(3,))")
            value = initializer(tuple(shape), dtype=dtype or "float32")
        else:
            value = initializer
        value = np.asarray(value, dtype=dtype)
        if value.dtype.kind not in "biuf":
            raise ValueError(f"Variable '{name}': the value must be real numbers, got dtype {value.dtype}")
        if shape is not None and tuple(shape) != value.shape:
            raise ValueError(f"Variable '{name}': the initial value has shape {value.shape}, not the shape "
                             f"{tuple(shape)} given")
        if dtype is None and value.dtype == np.float64 and not isinstance(initializer, np.ndarray):
            value = value.astype(np.float32)  # Python floats and lists become floatx, as in Keras
        self.value = np.asarray(value, order="C")  # the kernels (optimizer updates) work on it in place
        self.name = name
        self.trainable = bool(trainable)
        self.constraint = constraint

    @property
    def path(self):
        return self.name

    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    def numpy(self):
        return self.value

    def assign(self, value):
        value = np.asarray(value, dtype=self.value.dtype)
        if value.shape != self.value.shape:
            raise ValueError(
                f"cannot assign a value of shape {value.shape} to variable '{self.name}' of shape {self.value.shape}")
        self.value[...] = value
        return self

    def assign_add(self, value):
        return self.assign(self.value + np.asarray(value, dtype=self.value.dtype))

    def assign_sub(self, value):
        return self.assign(self.value - np.asarray(value, dtype=self.value.dtype))

    @property
    def ndim(self):
        return self.value.ndim

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self):
        return f"<Variable '{self.name}' shape={self.value.shape} dtype={self.value.dtype}>"


class Traced:
    """The value of an op recorded on a tape: the array plus the index of the record that made it."""

    __slots__ = ("data", "index", "tape", "logits", "logits_op", "__weakref__")
    __array_priority__ = 100

    def __init__(self, data, index, tape):
        self.data = data
        self.index = index
        self.tape = tape
        self.logits = None  # set by softmax/sigmoid: losses use the logits directly, as Keras does
        self.logits_op = None  # "Softmax" or "Sigmoid": a loss takes the logits only from its own op, as Keras

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    def numpy(self):
        return self.data

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        return f"<Traced shape={self.data.shape} dtype={self.data.dtype}>"


def value_of(x):
    """The numpy array behind an op argument."""
    if isinstance(x, Traced):
        return x.data
    if isinstance(x, Variable):
        return x.value
    return x


class Tape:
    """Records differentiable ops while active (a context manager, like tf.GradientTape)."""

    def __init__(self, watch_all_trainable=True):
        self.watch_all_trainable = watch_all_trainable
        self._records = []  # (backward, parents, needs) per op; (None, (), ()) for a watched leaf
        self._leaf_of = {}  # id(Variable) -> record index

    def __enter__(self):
        _state.tapes.append(self)
        return self

    def __exit__(self, *exc):
        _state.tapes.pop()
        return False

    def watch(self, variable):
        """Record `variable` as a leaf; returns its record index."""
        key = id(variable)
        index = self._leaf_of.get(key)
        if index is None:
            index = len(self._records)
            self._records.append((None, (), ()))
            self._leaf_of[key] = index
        return index

    def _parent(self, arg):
        if isinstance(arg, Traced):
            return arg.index if arg.tape is self else None
        if isinstance(arg, Variable) and (arg.trainable or not self.watch_all_trainable):
            if self.watch_all_trainable or id(arg) in self._leaf_of:
                return self.watch(arg)
        return None

    def record(self, fn, args, kwargs):
        parents = tuple(self._parent(a) for a in args)
        arrays = [value_of(a) for a in args]
        out, backward = fn(*arrays, **kwargs)
        if all(p is None for p in parents):
            return out  # a constant: nothing to differentiate
        needs = tuple(p is not None for p in parents)
        self._records.append((backward, parents, needs))
        return Traced(out, len(self._records) - 1, self)

    def gradient(self, target, sources, output_gradient=None):
        """Gradients of `target` (a Traced) with respect to each Variable in `sources`.

        A source the target does not depend on gets a zero gradient, as Keras' optimizers expect.
        """
        if not isinstance(target, Traced) or target.tape is not self:
            return [np.zeros_like(s.value) for s in sources]
        grads = [None] * (target.index + 1)
        grads[target.index] = (np.ones_like(target.data) if output_gradient is None
                               else np.asarray(output_gradient, dtype=target.data.dtype))
        for index in range(target.index, -1, -1):
            g = grads[index]
            backward, parents, needs = self._records[index]
            if g is None or backward is None:
                continue
            grads[index] = None  # free intermediates as soon as they are consumed
            for parent, pg in zip(parents, backward(g, needs)):
                if parent is None or pg is None:
                    continue
                prev = grads[parent]
                grads[parent] = pg if prev is None else prev + pg
        out = []
        for s in sources:
            index = self._leaf_of.get(id(s))
            g = grads[index] if index is not None and index <= target.index else None
            out.append(np.zeros_like(s.value) if g is None else g.astype(s.value.dtype, copy=False))
        return out


def differentiable(fn):
    """Turn `fn(*arrays, **attrs) -> (output, backward)` into an op that records itself on the tape."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        tapes = _state.tapes
        if tapes:
            return tapes[-1].record(fn, args, kwargs)
        # inference: this path runs once per op per predict call, so value_of is inlined
        return fn(*[a.data if isinstance(a, Traced) else a.value if isinstance(a, Variable) else a
                    for a in args], **kwargs)[0]

    op.raw = fn
    return op
