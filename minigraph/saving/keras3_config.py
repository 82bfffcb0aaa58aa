"""Keras 3's config dialect, both ways: minigraph's (Keras 2's) configs to the `config.json` of a `.keras`
file, and Keras 3's configs (from `.keras` files and from Keras 3's legacy `.h5` writer) back to Keras 2's.

The differences, as observed in files Keras 3.15.1 wrote (tests/data/keras3/README.md):
- every object is {module, class_name, config, registered_name}, layers also build_config;
- dtype is a DTypePolicy object; InputLayer has batch_shape (not batch_input_shape) and optional;
- Dense has quantization_config; initializers have input_axes/output_axes; the transposes (Conv1DTranspose,
  Conv2DTranspose) have no groups;
- inbound nodes are {"args", "kwargs"} with {"class_name": "__keras_tensor__", ...} tensor references, whose
  node index counts a nested model's calls from 0 (Keras 2, and input_layers/output_layers, from 1);
- the optimizer config has loss_scale_factor and gradient_accumulation_steps, and no is_legacy_optimizer.

Safety: a config naming a Lambda layer, or carrying a serialised function (bytecode), is refused under
safe_mode=True, naming the layer; nothing in a config is ever executed or unpickled.
"""
import copy

from minigraph.engine.functional import Network, serialize_node
from minigraph.engine.sequential import Sequential

KERAS3_VERSION = "3.15.1"  # the Keras 3 dialect written
_MODEL_CLASSES = ("Functional", "Model", "Sequential")
_DROPPED_IF_DEFAULT = {"quantization_config": None, "lora_rank": None, "lora_alpha": None, "optional": False,
                       "input_axes": None, "output_axes": None, "loss_scale_factor": None,
                       "gradient_accumulation_steps": None, "synchronized": False}


# ------------------------------------------------------------------------------------------------ safety
def check_safe(config, safe_mode, where):
    """Refuse (under safe_mode) any object in the config, at any depth (nested models, wrapped layers), that is
    a Lambda or carries a serialised function; the message names the layer."""
    if not safe_mode:
        return
    stack = [(config, None)]
    while stack:
        item, layer_name = stack.pop()
        if isinstance(item, list):
            stack.extend((value, layer_name) for value in item)
            continue
        if not isinstance(item, dict):
            continue
        inner = item.get("config")
        name = inner.get("name", layer_name) if isinstance(inner, dict) else layer_name
        class_name = item.get("class_name")
        if class_name in ("Lambda", "__lambda__") or isinstance(inner, dict) and _carries_code(inner):
            raise ValueError(f"{where}: layer '{name}' ({class_name if class_name != '__lambda__' else 'a function'}) "
                             f"holds a Python function serialised as bytecode (a Lambda layer). Loading it would run "
                             f"code from the file, which safe_mode=True (the default) refuses. Only with a file you "
                             f"trust: pass safe_mode=False, and the layer's class through custom_objects.")
        stack.extend((value, name) for value in item.values())


def _carries_code(inner):
    """Keras 2 Lambda: function [bytecode, defaults, closure] with function_type 'lambda'; Keras 3:
    function {'class_name': '__lambda__', 'config': {'code': ...}}."""
    function = inner.get("function")
    if isinstance(function, dict):
        return function.get("class_name") == "__lambda__" or "code" in (function.get("config") or {})
    if isinstance(function, (list, tuple)):
        return True
    return inner.get("function_type") == "lambda" or inner.get("output_shape_type") == "lambda"


# ------------------------------------------------------------------------------------------------ Keras 3 -> 2
def is_keras3(config):
    """True for a model config in Keras 3's dialect (batch_shape, dict inbound nodes, DTypePolicy objects)."""
    found = []

    def scan(item):
        if isinstance(item, dict):
            if "batch_shape" in item or {"args", "kwargs"} <= set(item) or item.get("class_name") == "DTypePolicy":
                found.append(True)
                return
            for value in item.values():
                scan(value)
                if found:
                    return
        elif isinstance(item, list):
            for value in item:
                scan(value)
                if found:
                    return
    scan(config)
    return bool(found)


def to_keras2(config):
    """A Keras 3 model (or layer) config as minigraph reads it (Keras 2's dialect)."""
    return _object_to_keras2(copy.deepcopy(config))


def _plain(value):
    """A nested object (DTypePolicy, initializer, regularizer) in Keras 2's {'class_name', 'config'} form."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] in ("DTypePolicy", "FloatDTypePolicy"):
            return (value.get("config") or {}).get("name", "float32")
        inner = value.get("config")
        if isinstance(inner, dict):
            inner = {k: _plain(v) for k, v in inner.items() if not _is_default_extra(k, v)}
        return {"class_name": value["class_name"], "config": inner}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_default_extra(key, value):
    return key in _DROPPED_IF_DEFAULT and value == _DROPPED_IF_DEFAULT[key]


def _object_to_keras2(obj):
    class_name = obj.get("class_name")
    registered = obj.get("registered_name")
    if isinstance(registered, str) and registered not in ("Functional",) and obj.get("module") not in (
            "keras", "keras.layers"):
        class_name = registered  # a custom class: found by its registered name (or class name)
    inner = obj.get("config") or {}
    if class_name in ("Functional", "Model") and isinstance(inner.get("layers"), list):
        converted = _functional_to_keras2(inner)
    elif class_name == "Sequential" and isinstance(inner, dict):
        converted = {k: v for k, v in inner.items() if k not in ("layers", "dtype", "build_input_shape")}
        converted["layers"] = [_object_to_keras2(layer) for layer in inner.get("layers", [])]
        shape = inner.get("build_input_shape")
        first = converted["layers"][0]["class_name"] if converted["layers"] else None
        if shape is not None and first != "InputLayer":  # built from data in Keras 3: give it its input
            converted["layers"].insert(0, {"class_name": "InputLayer", "config": {"batch_input_shape": shape}})
    else:
        converted = _layer_to_keras2(class_name, inner)
    out = {"class_name": class_name, "config": converted}
    for key in ("name", "inbound_nodes"):
        if key in obj:
            out[key] = obj[key]
    return out


def _layer_to_keras2(class_name, inner):
    converted = {k: _plain(v) for k, v in inner.items() if not _is_default_extra(k, v)}
    if class_name == "InputLayer" and "batch_shape" in converted:
        converted["batch_input_shape"] = converted.pop("batch_shape")
    if "batch_shape" in converted:  # a layer given input_shape in Keras 3
        converted["batch_input_shape"] = converted.pop("batch_shape")
    return converted


def _functional_to_keras2(inner):
    models = {layer.get("name") for layer in inner["layers"] if layer.get("class_name") in _MODEL_CLASSES}
    layers = []
    for layer in inner["layers"]:
        converted = _object_to_keras2(layer)
        converted["name"] = layer.get("name", converted["config"].get("name"))
        converted["inbound_nodes"] = [_node_to_keras2(node, models) for node in layer.get("inbound_nodes", [])]
        layers.append(converted)

    def triples(spec):
        if spec and not isinstance(spec[0], (list, tuple)):
            spec = [spec]  # Keras 3 writes one triple for a single input or output
        return [list(entry[:3]) for entry in spec]
    out = {k: v for k, v in inner.items() if k not in ("layers", "input_layers", "output_layers")}
    out.update(layers=layers, input_layers=triples(inner["input_layers"]),
               output_layers=triples(inner["output_layers"]))
    return out


def _node_to_keras2(node, models):
    """A Keras 3 {'args', 'kwargs'} node as Keras 2's list of [layer, node, tensor, kwargs]."""
    if not isinstance(node, dict):
        return node  # already Keras 2's list form
    refs = []

    def find(item):
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            layer, index, tensor = item["config"]["keras_history"]
            refs.append([layer, index + 1 if layer in models else index, tensor])
        elif isinstance(item, (list, tuple)):
            for value in item:
                find(value)
        elif isinstance(item, dict):
            for value in item.values():
                find(value)
    find(node.get("args", []))
    kwargs = {k: v for k, v in (node.get("kwargs") or {}).items() if not (k == "mask" and v is None)}
    for key, value in list(kwargs.items()):
        if isinstance(value, (dict, list)) and _has_tensor(value):
            raise ValueError(f"a call passes the tensor argument {key!r} by keyword, which minigraph's graphs do "
                             f"not hold yet")
    return [ref + [kwargs] for ref in refs]


def _has_tensor(item):
    if isinstance(item, dict):
        return item.get("class_name") == "__keras_tensor__" or any(_has_tensor(v) for v in item.values())
    if isinstance(item, list):
        return any(_has_tensor(v) for v in item)
    return False


def optimizer_to_keras2(config):
    """Keras 3's {'module', 'class_name': 'Adam', 'config'} as Keras 2's optimizer_config."""
    inner = {k: v for k, v in (config.get("config") or {}).items() if not _is_default_extra(k, v)}
    for key in ("loss_scale_factor", "gradient_accumulation_steps"):
        if key in inner:
            raise ValueError(f"The saved optimizer sets {key}={inner[key]!r}, which minigraph does not implement")
    inner.setdefault("is_legacy_optimizer", False)
    return {"class_name": config.get("class_name"), "config": inner}


def compile_to_training_config(compile_config):
    """A .keras compile_config as the training_config of a Keras 2 .h5 file."""
    return {"optimizer_config": optimizer_to_keras2(compile_config["optimizer"]),
            "loss": _plain(compile_config.get("loss")), "metrics": _plain(compile_config.get("metrics")),
            "weighted_metrics": _plain(compile_config.get("weighted_metrics")),
            "loss_weights": compile_config.get("loss_weights")}


# ------------------------------------------------------------------------------------------------ 2 -> Keras 3
_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
            "constraint": "keras.constraints"}


def _object(module, class_name, config, registered_name=None):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": registered_name}


def _dtype_policy(name):
    return _object("keras", "DTypePolicy", {"name": name})


def _nested_to_keras3(key, value):
    """A layer config's value in Keras 3's form (dtype -> DTypePolicy, initializers -> objects)."""
    if key == "dtype" and isinstance(value, str):
        return _dtype_policy(value)
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        kind = next((k for k in _MODULES if key.endswith(k)), None)
        return _object(_MODULES.get(kind, "keras"), value["class_name"], value["config"])
    return value


def _layer_to_keras3(layer, class_name, config):
    config = dict(config)
    if class_name == "InputLayer":
        config["batch_shape"] = config.pop("batch_input_shape")
        config.setdefault("optional", False)
        return config
    if class_name in ("Conv1DTranspose", "Conv2DTranspose") and config.get("groups", 1) == 1:
        config.pop("groups", None)  # Keras 3 refuses the key
    if "batch_input_shape" in config:
        config["batch_shape"] = config.pop("batch_input_shape")
    return {k: _nested_to_keras3(k, v) for k, v in config.items()}


def _build_config(layer):
    """Keras 3's build_config: the input shape of a built layer's (first) call, for layers with weights (what
    Keras 3 needs to create them before it loads the weights)."""
    nodes = [n for n in layer._inbound_nodes if n.inputs and not n.internal]
    if not nodes or not layer.weights:
        return None
    shapes = [list(t.shape) for t in nodes[0].inputs]
    return {"input_shape": shapes[0] if node_is_single(nodes[0]) else shapes}


def node_is_single(node):
    return not isinstance(node.call_args[0], (list, tuple))


def serialize_model(model, class_name_of):
    """The Keras 3 config of a graph model (Functional or Sequential), layers and nested models included.
    `class_name_of(layer)` gives the class name minigraph writes (a registered name for custom layers)."""
    if isinstance(model, Sequential):
        return _sequential_to_keras3(model, class_name_of)
    return _functional_to_keras3(model, class_name_of)


def _serialize_layer(layer, class_name_of):
    if isinstance(layer, Network) and getattr(layer, "_is_graph_network", False):
        return serialize_model(layer, class_name_of)
    cls = type(layer)
    builtin = cls.__module__.startswith("minigraph.")
    out = _object("keras.layers" if builtin else cls.__module__, cls.__name__,
                  _layer_to_keras3(layer, cls.__name__, layer.get_config()), None if builtin else class_name_of(layer))
    build = _build_config(layer)
    if build is not None:
        out["build_config"] = build
    return out


def _sequential_to_keras3(model, class_name_of):
    layers = []
    if model.built:
        layers.append(_serialize_layer(model._layers[0], class_name_of))
    layers += [_serialize_layer(layer, class_name_of) for layer in model.layers]
    config = {"name": model.name, "trainable": model.trainable, "dtype": _dtype_policy(model.dtype),
              "layers": layers}
    if model.built:
        config["build_input_shape"] = list(model._layers[0]._batch_input_shape)
    out = _object("keras", "Sequential", config)
    out["build_config"] = {"input_shape": config.get("build_input_shape")}
    return out


def _functional_to_keras3(model, class_name_of):
    keras2 = model.get_config()
    conversion = model._node_index_map()
    layers = []
    for layer in model._layers:
        entry = _serialize_layer(layer, class_name_of)
        entry["name"] = layer.name
        entry["inbound_nodes"] = [_node_to_keras3(node, model, conversion) for node in layer._inbound_nodes
                                  if node in model._network_nodes and not node.is_input]
        layers.append(entry)

    def single(triples):
        return triples[0] if len(triples) == 1 else triples
    multi_in = isinstance(model._nested_inputs, (list, tuple))
    multi_out = isinstance(model._nested_outputs, (list, tuple))
    config = {"name": model.name, "trainable": model.trainable, "layers": layers,
              "input_layers": keras2["input_layers"] if multi_in else single(keras2["input_layers"]),
              "output_layers": keras2["output_layers"] if multi_out else single(keras2["output_layers"])}
    out = _object("keras.src.models.functional", "Functional", config, "Functional")
    out["build_config"] = {"input_shape": None}
    return out


def _node_to_keras3(node, model, conversion):
    return serialize_node(node, conversion, form="keras3")


def optimizer_to_keras3(optimizer):
    config = {k: v for k, v in optimizer.get_config().items() if k not in ("is_legacy_optimizer", "jit_compile")}
    config.update(loss_scale_factor=None, gradient_accumulation_steps=None)
    return _object("keras.optimizers", type(optimizer).__name__, config)


def compile_config(model, serialize_value):
    """Keras 3's compile_config of a compiled model; `serialize_value` turns loss/metric objects into JSON."""
    def value(v):
        if v is None or isinstance(v, str):
            return v
        if isinstance(v, (list, tuple)):
            return [value(x) for x in v]
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        return serialize_value(v)
    return {"optimizer": optimizer_to_keras3(model.optimizer), "loss": value(model._loss_config),
            "loss_weights": model._loss_weights_config, "metrics": value(model._metrics_config),
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}
