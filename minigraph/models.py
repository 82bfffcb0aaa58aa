"""keras.models: Model, Sequential, and loading/serialization entry points."""
from minigraph.engine.sequential import Sequential
from minigraph.engine.training import Functional, Model


def load_model(filepath, custom_objects=None, compile=True, **kwargs):  # noqa: A002 - Keras' name
    from minigraph.saving import hdf5
    return hdf5.load_model(filepath, custom_objects=custom_objects, compile=compile)


def model_from_json(json_string, custom_objects=None):
    from minigraph.saving import hdf5
    return hdf5.model_from_json(json_string, custom_objects=custom_objects)


def model_from_config(config, custom_objects=None):
    from minigraph.saving import hdf5
    return hdf5.model_from_config(config, custom_objects=custom_objects)


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model with the same architecture and freshly initialised weights (as Keras)."""
    from minigraph.saving import hdf5
    return hdf5.clone_model(model, input_tensors=input_tensors, clone_function=clone_function)


__all__ = ["Model", "Functional", "Sequential", "load_model", "model_from_json", "model_from_config",
           "clone_model"]
