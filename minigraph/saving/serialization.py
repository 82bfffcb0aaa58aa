"""Config serialisation: models and layers to and from their configs (JSON), the training config to and
from compile arguments, and Keras' custom-object machinery (registration, scopes, the global dict).

The custom objects live in the registry (the bottom of the stack, so that layers find them when they
deserialize their own parts); this module is their public face, as keras.saving.
"""
import json
import os

import numpy as np

from minigraph import losses, metrics, optimizers, registry
from minigraph.engine.functional import registry_name
from minigraph.engine.training import Functional
from minigraph.layers.base import Layer
from minigraph.saving import config_json, hdf5_store

# Keras 2.0-2.3 name a functional model "Model" in configs (nested models included)
registry.register(Functional, name="Model")

register_keras_serializable = registry.register_keras_serializable
custom_object_scope = registry.custom_object_scope
CustomObjectScope = registry.CustomObjectScope
get_custom_objects = registry.get_custom_objects
get_registered_name = registry.get_registered_name


def serialize(obj):
    """keras.layers.serialize: {'class_name', 'config'} of a layer (or any object with get_config)."""
    return registry.serialize(obj)


def deserialize(config, custom_objects=None):
    """keras.layers.deserialize: the layer (or model) a `serialize` config describes."""
    return registry.deserialize(config, custom_objects, kind="layer")


def json_default(obj):
    """Keras' json_utils.get_json_type: objects with a config as {'class_name', 'config'}, numpy as Python."""
    if hasattr(obj, "get_config"):
        return {"class_name": registry.get_registered_name(obj), "config": obj.get_config()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype):
        return obj.name
    if callable(obj):
        return obj.__name__
    raise TypeError(f"Not JSON Serializable: {obj!r}")


def dumps(obj, **kwargs):
    return json.dumps(obj, default=json_default, **kwargs)


def model_config(model):
    return _readable_by_keras3({"class_name": registry_name(model), "config": model.get_config()})


def _readable_by_keras3(config):
    """Where tf_keras reads it either way, the form Keras 3 reads too: the transposes without `groups`
    (Keras 3 refuses the key; 1 is tf_keras' default)."""
    if isinstance(config, list):
        return [_readable_by_keras3(item) for item in config]
    if not isinstance(config, dict):
        return config
    out = {key: _readable_by_keras3(value) for key, value in config.items()}
    inner = out.get("config")
    if (out.get("class_name") in ("Conv1DTranspose", "Conv2DTranspose") and isinstance(inner, dict)
            and inner.get("groups") == 1):
        out["config"] = {key: value for key, value in inner.items() if key != "groups"}
    return out


# Keras 3 cannot deserialise these loss names from a file (it reads them as the metric functions); tf_keras
# reads the long names as well
_LOSS_NAMES = {"mse": "mean_squared_error", "MSE": "mean_squared_error", "mae": "mean_absolute_error",
               "MAE": "mean_absolute_error"}


def _loss_names(loss):
    if isinstance(loss, str):
        return _LOSS_NAMES.get(loss, loss)
    if isinstance(loss, (list, tuple)):
        return [_loss_names(item) for item in loss]
    if isinstance(loss, dict) and "class_name" not in loss:
        return {key: _loss_names(value) for key, value in loss.items()}
    return loss


def model_to_json(model, **kwargs):
    return dumps({**model_config(model), "keras_version": hdf5_store.KERAS_VERSION, "backend": hdf5_store.BACKEND}, **kwargs)


def model_from_config(config, custom_objects=None):
    if not isinstance(config, dict):
        raise TypeError(f"model_from_config expects a dictionary {{'class_name': ..., 'config': ...}}, got "
                        f"{type(config).__name__}")
    return registry.deserialize(config, custom_objects, kind="model")


def model_from_json(json_string, custom_objects=None):
    config = config_json.loads(json_string, "model_from_json: the string")
    check_weight_sizes(config, "model_from_json")
    return model_from_config(config, custom_objects)


# ------------------------------------------------------------------------------------------------ size bound
_DEFAULT_MAX_WEIGHT_BYTES = 1 << 32  # 4 GiB for one fresh weight: far above real models' largest kernels
_max_weight_bytes = None


def set_max_weight_bytes(limit):
    """The largest single weight (in bytes) a model built from a file or a JSON string may create; None
    restores the default (the MINIGRAPH_MAX_WEIGHT_BYTES environment variable, else 4 GiB)."""
    global _max_weight_bytes
    if limit is not None and (not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit <= 0):
        raise ValueError(f"set_max_weight_bytes: limit must be a positive int or None, got {limit!r}")
    _max_weight_bytes = None if limit is None else int(limit)


def max_weight_bytes():
    if _max_weight_bytes is not None:
        return _max_weight_bytes
    env = os.environ.get("MINIGRAPH_MAX_WEIGHT_BYTES")
    if env:
        try:
            return int(env)
        except ValueError:
            raise ValueError(f"MINIGRAPH_MAX_WEIGHT_BYTES must be an int (bytes), got {env!r}") from None
    return _DEFAULT_MAX_WEIGHT_BYTES


_RECURRENT = ("LSTM", "GRU", "SimpleRNN", "LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTM2D", "ConvLSTM1D",
              "ConvLSTM3D")


def _int(value):
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _least_weight_elements(class_name, config):
    """A lower bound, from a layer's config alone, on the elements of its largest weight: a bias of `units`
    (a units x units recurrent kernel), a kernel of prod(kernel_size) x filters (or x depth_multiplier),
    an embedding table of input_dim x output_dim."""
    sizes = []
    units = _int(config.get("units"))
    if units:
        sizes.append(units * units if class_name in _RECURRENT else units)
    kernel = config.get("kernel_size")
    if isinstance(kernel, int):
        kernel = [kernel]
    window = 1
    if isinstance(kernel, (list, tuple)) and kernel and all(_int(k) for k in kernel):
        for k in kernel:
            window *= k
    for key in ("filters", "depth_multiplier"):
        count = _int(config.get(key))
        if count and kernel:
            sizes.append(window * count)
    if kernel and window > 1:
        sizes.append(window)
    rows, columns = _int(config.get("input_dim")), _int(config.get("output_dim"))
    if rows and columns:
        sizes.append(rows * columns)
    return max(sizes, default=0)


def check_weight_sizes(config, where):
    """Refuse, before any weight is allocated, a config whose layers would create a weight larger than
    max_weight_bytes() (Dense(10**12), Conv2D(filters=10**9), a 10**6 x 10**6 kernel), naming the layer."""
    limit = max_weight_bytes()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        inner = item.get("config")
        if isinstance(item.get("class_name"), str) and isinstance(inner, dict):
            elements = _least_weight_elements(item["class_name"], inner)
            try:
                itemsize = np.dtype(inner.get("dtype") if isinstance(inner.get("dtype"), str) else "float32").itemsize
            except TypeError:
                itemsize = 4
            if elements * itemsize > limit:
                raise ValueError(f"{where}: layer '{inner.get('name')}' ({item['class_name']}) would create a "
                                 f"weight of at least {elements} elements ({elements * itemsize} bytes), above the "
                                 f"limit of {limit} bytes for a model built from a file; raise it with "
                                 f"minigraph.saving.set_max_weight_bytes or MINIGRAPH_MAX_WEIGHT_BYTES if meant")
        stack.extend(item.values())


def training_config(model):
    """Keras' model_metadata()['training_config']: the compile arguments, optimizer as a config."""
    return {"loss": _loss_names(model._loss_config), "metrics": model._metrics_config,
            "weighted_metrics": getattr(model, "_weighted_metrics_config", None),
            "loss_weights": model._loss_weights_config,
            "optimizer_config": {"class_name": _registered_name(model.optimizer),
                                 "config": model.optimizer.get_config()}}


def _registered_name(optimizer):
    """tf.keras >= 2.11 registers its optimizers in the 'Custom' package: its files name them 'Custom>Adam'."""
    name = type(optimizer).__name__
    try:
        builtin = registry.get_class(f"Custom>{name}") is type(optimizer)
    except ValueError:
        builtin = False
    return f"Custom>{name}" if builtin else name


def _nested(config, fn):
    """Keras' _deserialize_nested_config: fn on each leaf (a name or a {'class_name', ...} dict)."""
    if config is None:
        return None
    if isinstance(config, str) or isinstance(config, dict) and "class_name" in config:
        return fn(config)
    if isinstance(config, dict):
        return {key: _nested(value, fn) for key, value in config.items()}
    return [_nested(value, fn) for value in config]


def compile_args(training_config, custom_objects, n_outputs):
    """Keras' compile_args_from_training_config."""
    def custom(name, default=None):
        found = registry.custom_object(name, custom_objects) if isinstance(name, str) else None
        return default if found is None else found

    def loss(config):
        if isinstance(config, str):
            return custom(config, config)
        config = {**config, "config": {k: v for k, v in config.get("config", {}).items() if k != "fn"}}
        found = losses.deserialize(config, custom_objects)
        if isinstance(found, Layer) or not callable(found):
            raise ValueError(f"the loss entry {config.get('class_name')!r} is a {type(found).__name__}, not a "
                             f"loss")
        return found

    def metric(config):
        if isinstance(config, str):
            found = custom(config)
            if found is None and not _known_metric(config):
                raise ValueError(f"Unknown metric entry {config!r}")
            return config if found is None else found
        name, inner = config["class_name"], dict(config.get("config", {}))
        if name == "MeanMetricWrapper":  # Keras saves metrics=['accuracy'] as the wrapper of a named function
            fn = inner.get("fn")
            return custom(fn) or (inner.get("name") if _known_metric(inner.get("name")) else fn)
        cls = custom(name) or type(metrics.get(name))
        return cls(**inner)

    def per_output(specs):
        """Keras saves its compiled metrics as one list per output ([[acc]] for one output): unwrap that."""
        specs = _nested(specs, metric)
        if n_outputs == 1 and isinstance(specs, list) and len(specs) == 1 and isinstance(specs[0], list):
            return specs[0]
        return specs

    return {"optimizer": _optimizer_from_config(training_config["optimizer_config"], custom_objects),
            "loss": _nested(training_config.get("loss"), loss),
            "metrics": per_output(training_config.get("metrics")),
            "weighted_metrics": per_output(training_config.get("weighted_metrics")),
            "loss_weights": training_config.get("loss_weights")}


def _known_metric(name):
    try:
        return name is not None and metrics.get(name) is not None
    except ValueError:
        return False


def _optimizer_from_config(config, custom_objects):
    """An optimizer from a Keras 2 config: tf.keras >= 2.11's ('Custom>Adam', is_legacy_optimizer, ...) or the
    legacy optimizers' ('lr', 'decay'). Settings that change the computation and are not implemented raise."""
    inner = dict(config.get("config", {}))
    if inner and inner.pop("is_legacy_optimizer", True):  # Keras' own rule for telling the two apart
        lr = inner.pop("lr", None)  # Keras < 2.3's name; the legacy optimizers still honour it
        if lr is not None:
            inner.setdefault("learning_rate", lr)
        if inner.pop("decay", 0.0):
            raise ValueError(f"The saved optimizer {config.get('class_name')} uses learning-rate decay "
                             f"(decay={config['config']['decay']}), which minigraph does not implement; load with "
                             f"compile=False and compile again")
    try:
        return optimizers.deserialize({"class_name": config.get("class_name"), "config": inner}, custom_objects)
    except (ValueError, TypeError, NotImplementedError) as err:
        raise ValueError(f"Cannot restore the saved optimizer {config.get('class_name')}: {err}. Load the model "
                         f"with compile=False to skip its training configuration.") from None
