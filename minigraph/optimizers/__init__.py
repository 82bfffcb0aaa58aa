"""keras.optimizers: the tf.keras >= 2.11 / Keras 3 optimizers, `schedules`, and get/serialize/deserialize.

One module per job: `base` (the Optimizer class: learning rate and schedules, clipping, weight decay, EMA,
state), the families (`sgd`, `adam`, `rmsprop`, `adagrad`, `ftrl`) and `schedules`.
"""
from minigraph import registry
from minigraph.optimizers import schedules
from minigraph.optimizers.adagrad import Adadelta, Adagrad
from minigraph.optimizers.adam import Adam, Adamax, AdamW, Nadam
from minigraph.optimizers.base import Optimizer
from minigraph.optimizers.ftrl import Ftrl
from minigraph.optimizers.rmsprop import RMSprop
from minigraph.optimizers.sgd import SGD

_CLASSES = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, Nadam, Adamax, Adagrad, Adadelta, Ftrl, RMSprop)}
for _cls in _CLASSES.values():
    registry.register(_cls)
    registry.register(_cls, name="Custom>" + _cls.__name__)  # the class_name tf.keras 2.11+ writes in h5 files

__all__ = ["Optimizer", "schedules", "get", "serialize", "deserialize", *(c.__name__ for c in _CLASSES.values())]


def serialize(optimizer):
    return registry.serialize(optimizer)


def deserialize(config, custom_objects=None):
    """From {'class_name': 'Adam' (any case, or 'Custom>Adam'), 'config': {...}}."""
    name = config.get("class_name", "") if isinstance(config, dict) else ""
    if custom_objects and name in custom_objects:
        return custom_objects[name].from_config(dict(config.get("config", {})))
    cls = _CLASSES.get(name.split(">")[-1].lower())
    if cls is None:
        known = ", ".join(f"'{key}'" for key in _CLASSES)
        raise ValueError(f"Unknown optimizer: '{name}'. Known optimizers: {known}")
    return cls.from_config(dict(config.get("config", {})), custom_objects=custom_objects)


def get(identifier):
    """An optimizer from an instance, a name ('sgd', 'Adam', ...), or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
