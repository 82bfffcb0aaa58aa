"""keras.saving: saving and loading models (`.keras`, Keras 2's `.h5`, `.weights.h5`) and custom objects;
ONNX export (`Model.export`)."""
from minigraph.saving.api import load_model, load_weights, save_model, save_weights
from minigraph.saving import onnx_export  # noqa: F401 - provides Model.export (registry.provide)
from minigraph.saving.serialization import (CustomObjectScope, custom_object_scope, deserialize,
                                            get_custom_objects, get_registered_name, model_from_config,
                                            model_from_json, model_to_json, register_keras_serializable,
                                            serialize, set_max_weight_bytes)

serialize_keras_object = serialize
deserialize_keras_object = deserialize

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_to_json", "model_from_json",
           "model_from_config", "register_keras_serializable", "custom_object_scope", "CustomObjectScope",
           "get_custom_objects", "get_registered_name", "set_max_weight_bytes", "serialize_keras_object", "deserialize_keras_object"]
