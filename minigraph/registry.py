"""Class registry behind get_config/from_config: layers, models, optimizers and losses register here.

It sits at the bottom of the stack so that any level can deserialize without importing the levels above.
Custom objects come from three places, looked at in this order: the `custom_objects` argument of the call,
the active `custom_object_scope`s (innermost first), and classes registered with
`register_keras_serializable` (under 'package>name', Keras' registered name).

It also holds the entry points that a higher level provides to a lower one (`provide`/`provided`): the
engine's `Model.save` calls saving's `save_model` through it, so the engine never imports saving.
"""
import threading

_CLASSES = {}
_CUSTOM = {}  # Keras' global custom objects: registered names (and names given to get_custom_objects())
_scopes = threading.local()
_PROVIDED = {}


def register(cls=None, name=None):
    """Class decorator: make `cls` known to `deserialize` under its class name (or `name`)."""
    def wrap(c):
        _CLASSES[name or c.__name__] = c
        return c
    return wrap(cls) if cls is not None else wrap


# ------------------------------------------------------------------------------------------------ custom objects
def get_custom_objects():
    """Keras' global custom-object dict: entries added here are found by every load."""
    return _CUSTOM


def register_keras_serializable(package="Custom", name=None):
    """Decorator registering a class (or function) as '<package>><name>' (its own name by default)."""
    def wrap(obj):
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot register {obj.__name__}: a class must implement get_config() to be "
                             f"serializable")
        registered = f"{package}>{name or obj.__name__}"
        _CUSTOM[registered] = obj
        obj._registered_name = registered
        return obj
    return wrap


def get_registered_name(obj):
    """The name Keras writes as class_name: '<package>><name>' for registered objects (not inherited by
    subclasses), else the class (or function) name."""
    if not isinstance(obj, type) and not hasattr(obj, "get_config") and hasattr(obj, "__name__"):
        return getattr(obj, "_registered_name", None) or obj.__name__  # a function
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__dict__.get("_registered_name") or cls.__name__


class custom_object_scope:  # noqa: N801 - Keras' name
    """`with custom_object_scope({'MyLayer': MyLayer}):` - the objects are known to every load inside."""

    def __init__(self, *scopes):
        self.objects = {}
        for scope in scopes:
            if not isinstance(scope, dict):
                raise TypeError(f"custom_object_scope takes dicts of name -> object, got {type(scope).__name__}")
            self.objects.update(scope)

    def __enter__(self):
        _scope_stack().append(self.objects)
        return self.objects

    def __exit__(self, *exc):
        _scope_stack().pop()
        return False


CustomObjectScope = custom_object_scope  # tf.keras' other name


def _scope_stack():
    if not hasattr(_scopes, "stack"):
        _scopes.stack = []
    return _scopes.stack


def custom_object(name, custom_objects=None):
    """The custom object called `name`, or None: from the argument, the scopes, then the registrations (by
    registered name, or by the bare class name of a registered class)."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for scope in reversed(_scope_stack()):
        if name in scope:
            return scope[name]
    if name in _CUSTOM:
        return _CUSTOM[name]
    matches = [obj for key, obj in _CUSTOM.items() if key.split(">")[-1] == name]
    return matches[0] if len(matches) == 1 else None


# ------------------------------------------------------------------------------------------------ classes
def get_class(class_name, custom_objects=None, kind="layer"):
    custom = custom_object(class_name, custom_objects)
    if custom is not None:
        return custom
    try:
        return _CLASSES[class_name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown {kind} class '{class_name}'. If it is a custom class, pass it to "
            f"custom_objects={{'{class_name}': {class_name}}}.") from None


def serialize(obj):
    return {"class_name": get_registered_name(obj), "config": obj.get_config()}


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


# ------------------------------------------------------------------------------------------------ entry points
def provide(name, function):
    """A higher level registers `function` for the levels below it (saving provides 'save_model', ...)."""
    _PROVIDED[name] = function


def provided(name):
    try:
        return _PROVIDED[name]
    except KeyError:
        raise RuntimeError(f"{name} is not available: import minigraph (which loads minigraph.saving) "
                           f"first") from None
