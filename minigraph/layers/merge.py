"""Merge layers: combine a list of tensors into one (Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate), plus Keras' functional forms (add, subtract, ...)."""
import functools
import numbers

import numpy as np

from minigraph import ops, registry
from minigraph.layers._builtin import BuiltinLayer
from minigraph.layers.base import shape_str


class _Merge(BuiltinLayer):
    """Elementwise merge of same-shaped inputs, folded left to right with the binary op `_op`."""

    _op = None
    supports_masking = True

    def compute_mask(self, inputs, mask=None):
        """Keras's rule: a step is kept when every input that carries a mask keeps it."""
        masks = [m for m in (mask if isinstance(mask, (list, tuple)) else [mask]) if m is not None]
        if not masks:
            return None
        return np.logical_and.reduce([np.asarray(m, bool) for m in masks])

    def _shapes(self, input_shape):
        if (not isinstance(input_shape, list) or not input_shape
                or not all(isinstance(s, (list, tuple)) for s in input_shape)):
            raise self._error(f"must be called on a list of at least 1 input, got input shape {input_shape!r}")
        return [tuple(s) for s in input_shape]

    def _unify(self, shapes, free_axis=None):
        """The common shape: equal ranks and sizes (except along free_axis); None matches any size."""
        out = list(shapes[0])
        for shape in shapes[1:]:
            if len(shape) != len(out) or any(i != free_axis and a is not None and b is not None and a != b
                                             for i, (a, b) in enumerate(zip(out, shape))):
                where = "" if free_axis is None else f" except along axis {self.axis}"
                raise self._error(f"inputs must have the same shape{where}, got shapes "
                                  f"{', '.join(shape_str(s) for s in shapes)}")
            out = [b if a is None else a for a, b in zip(out, shape)]
        return out

    def compute_output_shape(self, input_shape):
        return tuple(self._unify(self._shapes(input_shape)))

    def _merge(self, inputs):
        return functools.reduce(self._op, inputs)

    def call(self, inputs):
        # symbolic shapes leave the batch size out: check the real shapes so numpy never broadcasts silently
        self.compute_output_shape([tuple(x.shape) for x in inputs])
        return self._merge(inputs)


@registry.register
class Add(_Merge):
    _op = staticmethod(ops.add)


@registry.register
class Subtract(_Merge):
    """inputs[0] - inputs[1]."""

    _op = staticmethod(ops.subtract)

    def _shapes(self, input_shape):
        shapes = super()._shapes(input_shape)
        if len(shapes) != 2:
            raise self._error(f"must be called on exactly 2 inputs, got {len(shapes)} with shapes "
                              f"{', '.join(shape_str(s) for s in shapes)}")
        return shapes


@registry.register
class Multiply(_Merge):
    _op = staticmethod(ops.multiply)


@registry.register
class Average(_Merge):
    _op = staticmethod(ops.add)

    def _merge(self, inputs):
        return ops.divide(super()._merge(inputs), len(inputs))


@registry.register
class Maximum(_Merge):
    _op = staticmethod(ops.maximum)


@registry.register
class Minimum(_Merge):
    _op = staticmethod(ops.minimum)


@registry.register
class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise self._error(f"argument axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = self._shapes(input_shape)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise self._error(f"axis {self.axis} is out of range for inputs of shapes "
                              f"{', '.join(shape_str(s) for s in shapes)}")
        axis = self.axis % rank
        out = self._unify(shapes, free_axis=axis)
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def _merge(self, inputs):
        return ops.concatenate(inputs, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _functional(cls):
    """Keras' functional form of a merge layer: `add(inputs, **kwargs) == Add(**kwargs)(inputs)`."""
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)
    merge.__name__ = merge.__qualname__ = cls.__name__.lower()
    merge.__doc__ = f"Functional interface to the `{cls.__name__}` layer."
    return merge


add = _functional(Add)
subtract = _functional(Subtract)
multiply = _functional(Multiply)
average = _functional(Average)
maximum = _functional(Maximum)
minimum = _functional(Minimum)
concatenate = _functional(Concatenate)
