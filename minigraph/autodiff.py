"""Reverse-mode differentiation on a tape.

Values are plain numpy arrays. Outside a tape, an op computes its result and nothing is kept, which is
what makes inference cheap. Inside `with Tape() as tape:`, every op whose inputs depend on a watched
`Variable` appends one record (its backward closure and its parents) to the tape and returns a `Traced`
value. Records are appended in execution order, so walking them backwards is already a valid reverse
topological order: `tape.gradient` needs no sort.

An op is written once, as a function returning `(output, backward)`; `backward(g, needs)` returns one
gradient per array argument (None where `needs` is False). See `minigraph.ops`.

Symbolic values (the graph's KerasTensor subclasses `Symbolic`) are not computed on: an op that gets one
hands its call to the handler set with `set_symbolic_handler`, which records it in the graph instead.
"""
import functools
import inspect
import threading

import numpy as np

class _ThreadState(threading.local):
    """Each thread has its own tape stack: concurrent predict calls never share one."""

    def __init__(self):
        self.tapes = []
        self.keep_logits = False


_state = _ThreadState()


class keeping_logits:
    """`with keeping_logits():` softmax and sigmoid outputs carry their logits outside a tape too, as on
    one: an evaluation step then computes its crossentropy from the logits, exactly as training does."""

    def __enter__(self):
        self.saved = _state.keep_logits
        _state.keep_logits = True

    def __exit__(self, *exc):
        _state.keep_logits = self.saved
        return False


class _Operand:
    """What an op unwraps: Traced values, Variables and Symbolic values. `_array()` is the numpy value an
    op computes on; a Symbolic value raises `_SymbolicArgument` instead, so that telling the three apart
    costs the eager path one isinstance per argument."""

    __slots__ = ()
    __array_priority__ = 100  # numpy defers mixed operators to the operand's own, which route to ops


class _SymbolicArgument(Exception):
    pass


class Symbolic(_Operand):
    """Marker base of symbolic tensors: ops called on one return `handler(op, args, kwargs)` (see
    `set_symbolic_handler`) instead of a value. The operators are installed by `minigraph.ops`."""

    __slots__ = ()

    def _array(self):
        raise _SymbolicArgument


def _no_symbolic_handler(op, args, kwargs):
    raise TypeError(f"{op.__name__}: got a symbolic tensor, and no symbolic handler is set "
                    f"(minigraph.autodiff.set_symbolic_handler)")


_symbolic_handler = _no_symbolic_handler


def set_symbolic_handler(fn):
    """Route ops called on `Symbolic` arguments to `fn(op, args, kwargs)`, which returns their result
    (None restores the default, which raises). Returns the previous handler."""
    global _symbolic_handler
    previous = _symbolic_handler
    _symbolic_handler = _no_symbolic_handler if fn is None else fn
    return previous


def symbolic_call(op, args, kwargs):
    """What `op(*args, **kwargs)` returns when an argument is Symbolic: the symbolic handler's result."""
    return _symbolic_handler(op, args, kwargs)


def _is_symbolic(value):
    if isinstance(value, Symbolic):
        return True
    return type(value) in (list, tuple) and any(isinstance(v, Symbolic) for v in value)


def has_symbolic(args, kwargs=None):
    """True when an argument, or an item of a list/tuple argument, is Symbolic."""
    for a in args:
        if _is_symbolic(a):
            return True
    if kwargs:
        for a in kwargs.values():
            if _is_symbolic(a):
                return True
    return False


def dispatching(fn):
    """A public op that is not itself differentiable (it returns constants, or calls differentiable ops):
    on a Symbolic argument, including one inside a list or tuple, it goes to the symbolic handler."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if has_symbolic(args, kwargs):
            return _symbolic_handler(op, args, kwargs)
        return fn(*args, **kwargs)

    op.raw = fn
    return op


class Variable(_Operand):
    """A weight that an optimizer updates in place; `value` is its numpy array.

    `keras.Variable(initializer, shape=None, dtype=None, trainable=True, name=None)`: the initializer is
    a value (array-like) or an initializer called with `shape` and `dtype`.
    """

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

    @property
    def ndim(self):
        return self.value.ndim

    def numpy(self):
        return self.value

    def _array(self):
        return self.value

    def __len__(self):
        return len(self.value)

    # identity, not elementwise: variables are compared and hashed as objects by the code that tracks them
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

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


class Traced(_Operand):
    """The value of an op recorded on a tape: the array plus the index of the record that made it."""

    __slots__ = ("data", "index", "tape", "logits", "logits_op", "__weakref__")
    __hash__ = object.__hash__  # `==` is elementwise (installed by minigraph.ops); hashing stays by identity

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

    def _array(self):
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self):
        return len(self.data)

    def __float__(self):
        return float(self.data)

    def __int__(self):
        return int(self.data)

    def __bool__(self):
        return bool(self.data)

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

    def record(self, fn, args, arrays, kwargs):
        """Run `fn` on `arrays` (the values of `args`) and record it when an argument is watched."""
        # most arguments are plain arrays and attributes: only Traced values and Variables can be parents
        parents = tuple([self._parent(a) if isinstance(a, (Traced, Variable)) else None for a in args])
        out, backward = fn(*arrays, **kwargs)
        needs = tuple([p is not None for p in parents])
        if not any(needs):
            return out  # a constant: nothing to differentiate
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


def differentiable(fn=None, *, tensors=None):
    """Turn `fn(*arrays, **attrs) -> (output, backward)` into an op that records itself on the tape.

    `tensors` names fn's array parameters (default: its positional parameters without a default). Given
    by keyword, they are moved to their positions first, so the tape sees every array argument.
    """
    if fn is None:
        return functools.partial(differentiable, tensors=tensors)
    signature = inspect.signature(fn)
    if tensors is None:
        tensors = [p.name for p in signature.parameters.values()
                   if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    tensors = frozenset(tensors)

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if kwargs and not tensors.isdisjoint(kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as err:
                raise TypeError(f"{fn.__name__}: {err}") from None
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        try:
            # this line runs once per op per predict call: one isinstance per argument
            arrays = [a._array() if isinstance(a, _Operand) else a for a in args]
        except _SymbolicArgument:
            return _symbolic_handler(op, args, kwargs)
        try:
            tapes = _state.tapes
            if tapes:
                return tapes[-1].record(fn, args, arrays, kwargs)
            return fn(*arrays, **kwargs)[0]
        except (ValueError, TypeError, IndexError) as err:
            named = _naming_the_op(fn, arrays, err)
            if named is err:
                raise
            raise named from err

    op.raw = fn
    return op


def _naming_the_op(fn, arrays, err):
    """The error `err` of op `fn` again, its message prefixed with the op's name and the arrays' shapes
    (numpy's own messages name neither)."""
    message = str(err)
    if message.startswith(fn.__name__):
        return err
    shapes = ", ".join(str(np.shape(a)) for a in arrays if isinstance(a, np.ndarray))
    try:
        return type(err)(f"{fn.__name__.lstrip('_')}: {message} (array arguments of shapes {shapes or 'none'})")
    except Exception:  # an exception type that wants other constructor arguments: keep it as it was
        return err
