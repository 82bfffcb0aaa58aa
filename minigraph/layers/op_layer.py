"""`keras.ops` called on symbolic tensors: each call becomes a graph node of an `OpLambda` layer.

`ops.matmul(x, w)`, `x + 1` or `x[:, 0]` on a KerasTensor inside a functional model work as in Keras: the
op is recorded with its arguments, runs (and differentiates) when the model runs, and serialises by the
op's name. The handler is registered with `minigraph.autodiff` when the layers are imported.
"""
import inspect

from minigraph import ops, registry
from minigraph.autodiff import set_symbolic_handler
from minigraph.layers.base import Layer, unique_name


def _op_name(op):
    return op.__name__


def _resolve(name):
    fn = getattr(ops, name, None)
    if fn is None or not callable(fn):
        raise ValueError(f"OpLambda: unknown op {name!r} (not in minigraph.ops)")
    return fn


@registry.register
class OpLambda(Layer):
    """One call of a minigraph op on symbolic tensors, its arguments past the first by name."""

    def __init__(self, function, **kwargs):
        self.function = _resolve(function) if isinstance(function, str) else function
        kwargs.setdefault("name", unique_name(_op_name(self.function)))
        super().__init__(**kwargs)
        self.built = True

    def call(self, x, **kwargs):
        key = kwargs.get("key")
        if isinstance(key, list) and any(isinstance(k, slice) or k is Ellipsis for k in key):
            kwargs["key"] = tuple(key)  # an index tuple that came back from JSON as a list
        return self.function(x, **kwargs)

    def get_config(self):
        return {**super().get_config(), "function": _op_name(self.function)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def _symbolic_op(op, args, kwargs):
    """The handler: bind the call to the op's parameters, then call an OpLambda with the first argument
    positional and the rest by name (the form both config dialects hold)."""
    try:
        bound = inspect.signature(op).bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"ops.{_op_name(op)}: {err}") from None
    params = list(bound.arguments.items())
    first_name, first = params[0]
    named = {}
    for name, value in params[1:]:
        kind = inspect.signature(op).parameters[name].kind
        if kind == inspect.Parameter.VAR_POSITIONAL:
            raise TypeError(f"ops.{_op_name(op)} takes a variable number of positional arguments, which a "
                            f"functional model cannot record; pass a list instead")
        if kind == inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        else:
            named[name] = value
    return OpLambda(op)(first, **named)


set_symbolic_handler(_symbolic_op)
