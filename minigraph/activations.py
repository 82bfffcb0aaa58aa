"""Activations by name or callable (Keras names)."""
from minigraph import ops

_BY_NAME = {
    "relu": ops.relu,
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "softmax": ops.softmax,
    "linear": ops.linear,
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
