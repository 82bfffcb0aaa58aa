"""minigraph: the Keras functional API on compiled kernels.

    import minigraph as keras
    from minigraph import layers
"""
from minigraph import activations, applications, backend, callbacks, constraints, datasets, initializers, layers
from minigraph import losses, metrics
from minigraph import models, ops, optimizers, random, regularizers, saving, utils
from minigraph.engine.sequential import Sequential
from minigraph.engine.training import Functional, Model
from minigraph.autodiff import Variable
from minigraph.layers.input_layer import Input

__version__ = "0.1.0"
__all__ = ["Input", "Variable", "Model", "Functional", "Sequential", "layers", "models", "ops", "optimizers",
           "losses", "metrics", "callbacks", "activations", "initializers", "regularizers", "constraints", "backend",
           "random", "saving", "utils", "datasets", "applications"]
