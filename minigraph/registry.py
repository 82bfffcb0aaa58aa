"""Class registry behind get_config/from_config: layers, models, optimizers and losses register here.

It sits at the bottom of the stack so that any level can deserialize without importing the levels above.
"""
_CLASSES = {}


def register(cls=None, name=None):
    """Class decorator: make `cls` known to `deserialize` under its class name (or `name`)."""
    def wrap(c):
        _CLASSES[name or c.__name__] = c
        return c
    return wrap(cls) if cls is not None else wrap


def get_class(class_name, custom_objects=None, kind="layer"):
    if custom_objects and class_name in custom_objects:
        return custom_objects[class_name]
    try:
        return _CLASSES[class_name]
    except KeyError:
        raise ValueError(
            f"Unknown {kind} class '{class_name}'. If it is a custom class, pass it to "
            f"custom_objects={{'{class_name}': {class_name}}}.") from None


def serialize(obj):
    return {"class_name": obj.__class__.__name__, "config": obj.get_config()}


def deserialize(config, custom_objects=None, kind="layer"):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"cannot deserialize a {kind} from {config!r}: expected a dict with 'class_name'")
    cls = get_class(config["class_name"], custom_objects, kind)
    inner = config.get("config", {})
    if hasattr(cls, "from_config"):
        try:
            return cls.from_config(inner, custom_objects=custom_objects)
        except TypeError as err:
            if "custom_objects" not in str(err):
                raise
            return cls.from_config(inner)
    return cls(**inner)
