"""Python's operators on Traced values, Variables and Symbolic tensors, routed through the ops: arithmetic
and indexing stay differentiable, and on a Symbolic tensor they reach the symbolic handler."""
from minigraph.autodiff import Symbolic, Traced, Variable
from minigraph.ops import numpy as np_ops


def _swap(op):
    return lambda a, b: op(b, a)


def install(cls, elementwise_equality=True):
    cls.__add__ = lambda a, b: np_ops.add(a, b)
    cls.__radd__ = _swap(np_ops.add)
    cls.__sub__ = lambda a, b: np_ops.subtract(a, b)
    cls.__rsub__ = _swap(np_ops.subtract)
    cls.__mul__ = lambda a, b: np_ops.multiply(a, b)
    cls.__rmul__ = _swap(np_ops.multiply)
    cls.__truediv__ = lambda a, b: np_ops.divide(a, b)
    cls.__rtruediv__ = _swap(np_ops.divide)
    cls.__floordiv__ = lambda a, b: np_ops.floor_divide(a, b)
    cls.__rfloordiv__ = _swap(np_ops.floor_divide)
    cls.__mod__ = lambda a, b: np_ops.mod(a, b)
    cls.__rmod__ = _swap(np_ops.mod)
    cls.__matmul__ = lambda a, b: np_ops.matmul(a, b)
    cls.__rmatmul__ = _swap(np_ops.matmul)
    cls.__pow__ = lambda a, b: np_ops.power(a, b)
    cls.__rpow__ = _swap(np_ops.power)
    cls.__neg__ = lambda a: np_ops.negative(a)
    cls.__pos__ = lambda a: a
    cls.__abs__ = lambda a: np_ops.abs(a)
    cls.__lt__ = lambda a, b: np_ops.less(a, b)
    cls.__le__ = lambda a, b: np_ops.less_equal(a, b)
    cls.__gt__ = lambda a, b: np_ops.greater(a, b)
    cls.__ge__ = lambda a, b: np_ops.greater_equal(a, b)
    if elementwise_equality:
        cls.__eq__ = lambda a, b: np_ops.equal(a, b)
        cls.__ne__ = lambda a, b: np_ops.not_equal(a, b)
    cls.__and__ = lambda a, b: np_ops.logical_and(a, b)
    cls.__rand__ = _swap(np_ops.logical_and)
    cls.__or__ = lambda a, b: np_ops.logical_or(a, b)
    cls.__ror__ = _swap(np_ops.logical_or)
    cls.__xor__ = lambda a, b: np_ops.logical_xor(a, b)
    cls.__rxor__ = _swap(np_ops.logical_xor)
    cls.__invert__ = lambda a: np_ops.logical_not(a)
    cls.__getitem__ = lambda a, key: np_ops.get_item(a, key)
    cls.T = property(lambda a: np_ops.transpose(a))


def _iterate_symbolic(t):
    """Iterating yields t[0], t[1], ... over a known first dimension; without this, Python would index
    a symbolic tensor forever (its __getitem__ never raises IndexError)."""
    shape = tuple(getattr(t, "shape", None) or ())
    if not shape or shape[0] is None:
        raise TypeError(f"cannot iterate over a symbolic tensor without a known first dimension: {t!r}")
    return iter([np_ops.get_item(t, i) for i in range(shape[0])])


install(Traced)
install(Variable, elementwise_equality=False)  # Variables are compared and hashed as objects
install(Symbolic)
Symbolic.__iter__ = _iterate_symbolic
