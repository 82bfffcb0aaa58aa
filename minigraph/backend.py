"""keras.backend: the few process-wide switches minigraph has."""
from minigraph.kernels import workspace
from minigraph.layers.base import reset_names


def clear_session():
    """Reset the layer-name counters, so the next Dense is 'dense' again, and hand the workspace
    pool's cached blocks back to the system."""
    reset_names()
    workspace.release()


def floatx():
    return "float32"
