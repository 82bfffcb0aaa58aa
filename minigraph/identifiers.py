"""Keras's lookup of a configurable object by identifier: what initializers, regularizers and constraints share.

An identifier is None, a name ('l2', 'L2'), a class, an instance, a `{"class_name", "config"}` dict or a
plain function. Configs are written in the `{"class_name", "config"}` form; the 'module' and
'registered_name' keys newer Keras adds beside them are accepted and carry no meaning here.
"""
import inspect

import numpy as np

from minigraph import registry


class ObjectTable:
    """The objects of one kind (e.g. 'regularizer'). `names` maps each Keras name to what makes the object
    without arguments: its class, or a shortcut function such as regularizers.l1_l2."""

    def __init__(self, kind, names):
        self.kind = kind
        self.names = dict(names)
        self.classes = {cls.__name__: cls for cls in self.names.values() if inspect.isclass(cls)}

    def _unknown(self, name):
        return ValueError(f"Unknown {self.kind} {name!r}; known names: {sorted(self.names)}. If it is a custom "
                          f"{self.kind}, pass it in custom_objects.")

    def _class(self, class_name, custom_objects):
        if custom_objects and class_name in custom_objects:
            return custom_objects[class_name]
        cls = self.classes.get(class_name)
        if cls is not None:
            return cls
        try:  # a user's class registered for deserialisation
            return registry.get_class(class_name, custom_objects, kind=self.kind)
        except ValueError:
            raise self._unknown(class_name) from None

    def deserialize(self, config, custom_objects=None):
        """An object from a name or a `{"class_name", "config"}` dict."""
        if isinstance(config, str):
            if custom_objects and config in custom_objects:
                custom = custom_objects[config]
                return custom() if inspect.isclass(custom) else custom
            if config not in self.names:
                raise self._unknown(config)
            return self.names[config]()
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"cannot deserialize a {self.kind} from {config!r}: expected a name or a dict "
                             f"with 'class_name'")
        cls = self._class(config["class_name"], custom_objects)
        inner = config.get("config") or {}
        if not isinstance(inner, dict):
            raise ValueError(f"cannot deserialize a {self.kind} from {config!r}: 'config' must be a dict")
        return cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)

    def serialize(self, obj):
        """The config Keras writes: None, a function's name, or `{"class_name", "config"}`."""
        if obj is None:
            return None
        if hasattr(obj, "get_config"):
            return {"class_name": type(obj).__name__, "config": to_json_value(obj.get_config())}
        name = getattr(obj, "__name__", None)
        if name is None:
            raise ValueError(f"cannot serialize the {self.kind} {obj!r}: it has no get_config and no name")
        return name

    def get(self, identifier, custom_objects=None):
        """The object an identifier stands for (None for None); ValueError for anything else."""
        if identifier is None:
            return None
        if isinstance(identifier, (str, dict)):
            return self.deserialize(identifier, custom_objects)
        if inspect.isclass(identifier):
            return identifier()
        if callable(identifier):
            return identifier
        raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}")


def to_json_value(value):
    """numpy scalars and arrays in a config as Python numbers and lists, so that the config is JSON."""
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value
