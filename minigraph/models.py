"""keras.models: Model, Sequential, and loading/serialization entry points."""
from minigraph.engine.cloning import clone_model
from minigraph.engine.sequential import Sequential
from minigraph.engine.training import Functional, Model
from minigraph.saving.api import load_model, save_model
from minigraph.saving.serialization import model_from_config, model_from_json

__all__ = ["Model", "Functional", "Sequential", "load_model", "save_model", "model_from_json",
           "model_from_config", "clone_model"]
