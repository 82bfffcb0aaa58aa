"""The `Metric` base class: state in `add_weight` variables, `update_state`, `result`, `reset_state`.

As in Keras, a metric's state lives in non-trainable variables that `reset_state` sets back to zero, and
`result()` is read between batches. The engine reads `result()` as numbers: whatever a subclass's `result`
returns (a Variable, a Traced value, an array) comes back as a float when it holds one value, else as a
float array (tf.keras 2 wraps `result` the same way, in `Metric.__new__`).
"""
import functools

import numpy as np

from minigraph import initializers
from minigraph.autodiff import Variable, value_of
from minigraph.losses.loss import snake_case


class MetricVariable(Variable):
    """A metric's state: a non-trainable `Variable` that also accumulates in place."""

    def __init__(self, value, name="variable"):
        super().__init__(value, name=name, trainable=False)

    def assign_add(self, delta):
        self.assign(self.value + np.asarray(value_of(delta), dtype=self.value.dtype))
        return self

    def assign_sub(self, delta):
        self.assign(self.value - np.asarray(value_of(delta), dtype=self.value.dtype))
        return self

    def __float__(self):
        return float(self.value)


def _as_numbers(result, dtype):
    value = np.asarray(value_of(result), dtype=dtype)
    return float(value) if value.ndim == 0 else value


def _numeric_result(result):
    @functools.wraps(result)
    def wrapped(self):
        return _as_numbers(result(self), self.dtype)
    wrapped._numeric = True
    return wrapped


_KERAS2_ORDER = ("name", "shape", "aggregation", "synchronization", "initializer", "dtype")
_KERAS3_ORDER = ("shape", "initializer", "dtype", "name")


class Metric:
    """Base class of stateful metrics: subclasses implement `update_state(y_true, y_pred, sample_weight=None)`
    (or `update_state(values, sample_weight=None)`) and `result()`, with their state from `add_weight`."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        result = cls.__dict__.get("result")
        if result is not None and not getattr(result, "_numeric", False):
            cls.result = _numeric_result(result)

    def __init__(self, name=None, dtype=None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = np.dtype(dtype or "float32").name
        self._variables = []

    # ------------------------------------------------------------------ state
    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="sum", name=None):
        """Keras 3's signature: a new state variable of `shape`, set by `initializer`."""
        if not hasattr(self, "_variables"):
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() in __init__ before add_weight()")
        shape = (int(shape),) if np.isscalar(shape) else tuple(int(d) for d in shape)
        dtype = np.dtype(dtype or self.dtype)
        value = initializers.get(initializer or "zeros")(shape, dtype=dtype.name)
        variable = MetricVariable(np.asarray(value, dtype=dtype).reshape(shape),
                                  name=name or f"variable_{len(self._variables)}")
        self._variables.append(variable)
        return variable

    def add_weight(self, *args, **kwargs):
        """tf.keras 2's `add_weight(name, shape=(), aggregation, synchronization, initializer, dtype)` and Keras
        3's `add_weight(shape=(), initializer, dtype, name)`: a first positional string is the name (Keras 2),
        anything else the shape (Keras 3)."""
        order = _KERAS2_ORDER if args and isinstance(args[0], str) else _KERAS3_ORDER
        if len(args) > len(order):
            raise TypeError(f"{type(self).__name__}.add_weight() takes at most {len(order)} positional "
                            f"arguments ({len(args)} given)")
        unknown = sorted(set(kwargs) - set(_KERAS2_ORDER))
        if unknown:
            raise TypeError(f"{type(self).__name__}.add_weight() got an unexpected keyword argument '{unknown[0]}'")
        given = dict(zip(order, args))
        twice = sorted(set(given) & set(kwargs))
        if twice:
            raise TypeError(f"{type(self).__name__}.add_weight() got multiple values for argument '{twice[0]}'")
        given.update(kwargs)
        given.pop("synchronization", None)  # only distributed training tells these apart
        return self.add_variable(given.pop("shape", ()), **{"initializer": "zeros", **given})

    @property
    def variables(self):
        """This metric's state variables, then those of the metrics it holds as attributes."""
        out = list(getattr(self, "_variables", ()))
        for value in vars(self).values():
            if isinstance(value, Metric) and value is not self:
                out.extend(value.variables)
        return out

    weights = variables

    def reset_state(self):
        """Every state variable back to zero (as Keras does, whatever its initializer)."""
        for variable in self.variables:
            variable.assign(np.zeros_like(variable.value))

    def reset_states(self):  # tf.keras 2's older name
        self.reset_state()

    # ------------------------------------------------------------------ use
    def update_state(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state()")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result()")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"
