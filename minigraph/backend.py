"""keras.backend: the few process-wide switches minigraph has."""
from minigraph.layers.base import reset_names


def clear_session():
    """Reset the layer-name counters, so the next Dense is 'dense' again."""
    reset_names()


def floatx():
    return "float32"
