"""Saving and loading models in Keras 2's HDF5 format (`model.save('m.h5')`, `keras.models.load_model`)."""
from minigraph.saving.hdf5 import (clone_model, load_model, load_weights, model_from_config, model_from_json,
                                   model_to_json, save_model, save_weights)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_to_json", "model_from_json",
           "model_from_config", "clone_model"]
