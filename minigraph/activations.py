"""Activations by name or callable (Keras names)."""
from minigraph import ops, ops_activations as _act

_BY_NAME = {
    "relu": ops.relu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "softmax": ops.softmax,
    "linear": ops.linear,
    "relu6": _act.relu6,
    "swish": _act.swish,
    "silu": _act.silu,
    "gelu": _act.gelu,
    "hard_sigmoid": _act.hard_sigmoid,
    "elu": _act.elu,
    "selu": _act.selu,
    "softplus": _act.softplus,
    "softsign": _act.softsign,
    "exponential": _act.exponential,
    "leaky_relu": _act.leaky_relu,
    None: ops.linear,
}


def get(identifier):
    """The activation function for a name, a callable, or None (linear)."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) or identifier is None:
        fn = _BY_NAME.get(identifier if identifier is None else identifier.lower())
        if fn is not None:
            return fn
    raise ValueError(f"Unknown activation {identifier!r}; known: {sorted(k for k in _BY_NAME if k)}")


def serialize(fn):
    """The Keras name of an activation function."""
    for name, known in _BY_NAME.items():
        if fn is known and name is not None:
            return name
    return getattr(fn, "__name__", "linear")


# keras.activations.<name>(x) as functions too
relu, sigmoid, tanh, softmax, linear = ops.relu, ops.sigmoid, ops.tanh, ops.softmax, ops.linear
relu6, swish, silu, gelu, hard_sigmoid = _act.relu6, _act.swish, _act.silu, _act.gelu, _act.hard_sigmoid
elu, selu, softplus, softsign = _act.elu, _act.selu, _act.softplus, _act.softsign
exponential, leaky_relu = _act.exponential, _act.leaky_relu
