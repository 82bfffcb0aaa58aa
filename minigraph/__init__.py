"""minigraph: the Keras functional API on compiled kernels.

    import minigraph as keras
    from minigraph import layers
"""
from minigraph import activations, backend, callbacks, initializers, layers, losses, metrics, models, ops
from minigraph import optimizers, saving, utils
from minigraph.engine.sequential import Sequential
from minigraph.engine.training import Functional, Model
from minigraph.layers.input_layer import Input

__version__ = "0.1.0"
__all__ = ["Input", "Model", "Functional", "Sequential", "layers", "models", "ops", "optimizers", "losses",
           "metrics", "callbacks", "activations", "initializers", "backend", "utils", "saving"]
