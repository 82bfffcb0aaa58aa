"""Keras 2's HDF5 format (`model.save('m.h5')`), written and read with h5py.

The layout tf.keras / tf_keras 2.x write, and so the one written here (files load in Keras 2 unchanged):

    /                        attrs keras_version, backend, model_config (JSON), training_config (JSON, if compiled)
    /model_weights           attrs layer_names (every layer of `model.layers`), backend, keras_version
        /<layer>             attr weight_names, e.g. ['dense/kernel:0', 'dense/bias:0'] ([] for layers without
                             weights); a nested model is one group holding all its inner weights
            /dense/kernel:0  the value, at the weight's name taken as a path
        /top_level_model_weights   weights owned by the model itself (Keras >= 2.13); empty here
    /optimizer_weights       attr weight_names ['iteration:0', 'Adam/m/dense/kernel:0', 'Adam/v/dense/kernel:0', ...]

`save_weights` writes the model_weights layout at the root of its file. Name lists are stored as Keras stores
them: a list of byte strings (an HDF5 array of variable-length ASCII strings; [] becomes an empty float64
array), and a list whose fixed-width numpy form exceeds HDF5_OBJECT_HEADER_LIMIT is split over attributes
name0, name1, ... (fixed-width byte-string arrays). keras_version and backend are str (UTF-8) at the root and
bytes (ASCII) in the weights group; the JSON configs are bytes.

Files are written to a temporary file next to the target and moved into place with os.replace, so a crash
mid-save leaves the previous file intact. Reading copies everything needed out of the file first, so h5py
errors (truncated or corrupt files) surface in one place, with the path.
"""
import collections
import contextlib
import json
import logging
import os
import re
import tempfile
import zipfile

import h5py
import numpy as np

from minigraph import losses, metrics, optimizers, registry
from minigraph.engine.functional import registry_name
from minigraph.engine.sequential import Sequential
from minigraph.engine.training import Functional, Model
from minigraph.layers.base import KerasTensor, flatten, map_structure
from minigraph.layers.input_layer import InputLayer

KERAS_VERSION = "2.15.0"  # the Keras 2 dialect written (optimizer configs and names of tf.keras >= 2.11)
BACKEND = "tensorflow"
HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras' bound for one attribute's payload

# Keras logs (rather than warns) when it skips weights, drops an optimizer state, or finds no training config
_log = logging.getLogger("minigraph.saving")

# Keras 2.0-2.3 name a functional model "Model" in configs (nested models included)
registry.register(Functional, name="Model")


# ------------------------------------------------------------------------------------------------ attributes
def save_attributes(group, name, data):
    """Keras' save_attributes_to_hdf5_group: `data` (byte strings) in one attribute, or split into name0, ..."""
    too_long = [x for x in data if len(x) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise RuntimeError(f"The following attributes cannot be saved to HDF5 file because they are larger than "
                           f"{HDF5_OBJECT_HEADER_LIMIT} bytes: {too_long}")
    array = np.asarray(data)
    chunks = 1
    parts = np.array_split(array, chunks)
    while any(part.nbytes > HDF5_OBJECT_HEADER_LIMIT for part in parts):
        chunks += 1
        parts = np.array_split(array, chunks)
    if chunks > 1:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part
    else:
        group.attrs[name] = data  # the list itself: h5py stores variable-length strings, as Keras' files hold


# HDF5 type classes a Keras file holds: strings (names, JSON), numbers (weights; an empty name list is an empty
# float64 array). libhdf5 itself can crash reading an object whose type a damaged file turned into another class
# (a variable-length sequence, say), so every read checks the class first.
_ATTRIBUTE_CLASSES = (h5py.h5t.STRING, h5py.h5t.FLOAT, h5py.h5t.INTEGER)
_WEIGHT_CLASSES = (h5py.h5t.FLOAT, h5py.h5t.INTEGER)


def _attribute(group, name):
    """group.attrs[name], read only if its HDF5 type is one Keras writes (see _ATTRIBUTE_CLASSES)."""
    kind = group.attrs.get_id(name).get_type().get_class()
    if kind not in _ATTRIBUTE_CLASSES:
        raise OSError(f"attribute {name!r} of {group.name} has HDF5 type class {kind}, which no Keras file holds")
    return group.attrs[name]


def _weight_value(group, name):
    """The array of dataset group[name], read only if it holds real numbers."""
    dataset = group.get(name)
    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"The weight {name} listed in {group.name} is not a dataset in the file "
                         f"(found {type(dataset).__name__})")
    if dataset.id.get_type().get_class() not in _WEIGHT_CLASSES:
        raise ValueError(f"The saved weight {group.name}/{name} has dtype {dataset.dtype}; weights must be real "
                         f"numbers")
    return np.asarray(dataset)


def load_attributes(group, name):
    """The list `save_attributes` wrote (whole or split), as str."""
    if name in group.attrs:
        values = list(_attribute(group, name))
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(_attribute(group, f"{name}{i}"))
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def _names(items):
    return [item.encode("utf8") for item in items]


# ------------------------------------------------------------------------------------------------ files
def _umask():
    try:
        with open("/proc/self/status") as status:  # reads the umask without changing it (Linux)
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _writing(filepath, overwrite):
    """An h5py.File to fill; only once it is complete and closed does it replace `filepath`."""
    if isinstance(filepath, h5py.Group):  # Keras also accepts an open h5py file
        yield filepath
        return
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} already exists and overwrite=False")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # same folder, so os.replace is an atomic rename; the name matches .gitignore's *.h5.tmp*
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        with open(tmp, "rb+") as done:  # on disk before it takes the name, so a power cut can't leave it empty
            os.fsync(done.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_umask()
        os.chmod(tmp, mode)  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read(filepath, reader):
    """`reader(h5py_file)`, with missing, non-HDF5, truncated and corrupt files reported with their path."""
    if isinstance(filepath, h5py.Group):
        return reader(filepath)
    path = os.fspath(filepath)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No file or directory found at {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory: minigraph reads Keras' HDF5 files (.h5), not TensorFlow "
                                f"SavedModel directories")
    if not h5py.is_hdf5(path):
        hint = (": it is a zip archive, Keras 3's '.keras' format, which minigraph does not read"
                if zipfile.is_zipfile(path) else " (no HDF5 signature)")
        raise OSError(f"{path} is not an HDF5 file{hint}")
    try:
        with h5py.File(path, "r") as f:
            return reader(f)
    # TypeError and UnicodeError: h5py decoding a damaged string attribute (an unknown encoding, invalid bytes)
    except (OSError, KeyError, RuntimeError, TypeError, UnicodeError) as err:
        raise OSError(f"Cannot read {path}: the file is truncated or corrupt ({err})") from err


def _json_attr(f, name):
    if name not in f.attrs:
        return None
    raw = _attribute(f, name)
    try:
        return json.loads(raw.decode("utf8") if isinstance(raw, bytes) else raw)
    except (ValueError, TypeError, RecursionError) as err:  # TypeError: not a string (an array, a number)
        raise ValueError(f"The {name} attribute of {f.file.filename} is not valid JSON ({err})") from None


def _from_file_config(what, filepath, build, *args):
    """build(*args) for a config read from a file: a config of the wrong structure (a missing key, a list for a
    dict, a reference to a layer that is not there) is a ValueError naming the file, not a KeyError."""
    try:
        return build(*args)
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        where = filepath.file.filename if isinstance(filepath, h5py.Group) else os.fspath(filepath)
        raise ValueError(f"The {what} of {where} is not a valid Keras {what} ({type(err).__name__}: {err})"
                         + (" - load_model(..., compile=False) skips it" if what == "training_config" else "")
                         ) from err


def _json_default(obj):
    """Keras' json_utils.get_json_type: objects with a config as {'class_name', 'config'}, numpy as Python."""
    if hasattr(obj, "get_config"):
        return {"class_name": type(obj).__name__, "config": obj.get_config()}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype):
        return obj.name
    if callable(obj):
        return obj.__name__
    raise TypeError(f"Not JSON Serializable: {obj!r}")


def _dumps(obj, **kwargs):
    return json.dumps(obj, default=_json_default, **kwargs)


# ------------------------------------------------------------------------------------------------ weights
def _layer_weights(layer):
    """Keras' _legacy_weights: a layer's weights in file order (trainable first)."""
    return layer.trainable_weights + layer.non_trainable_weights


def _write_weights(group, model):
    """Keras' save_weights_to_hdf5_group."""
    layers = model.layers
    save_attributes(group, "layer_names", _names(layer.name for layer in layers))
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in sorted(layers, key=lambda lay: lay.name):  # Keras creates the groups in name order
        _write_subset(group.create_group(layer.name), _layer_weights(layer), f"layer '{layer.name}'")
    _write_subset(group.create_group("top_level_model_weights"), [], "the model")


def _write_subset(group, variables, owner):
    names = [v.name for v in variables]
    duplicates = sorted(n for n, count in collections.Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(f"Cannot save {owner}: several of its weights are named {duplicates}; weight names must "
                         f"be unique within a layer (nested models holding layers with the same name?)")
    save_attributes(group, "weight_names", _names(names))
    for var in variables:
        group.create_dataset(var.name, data=np.asarray(var.value))


def _read_weights(group):
    """[(layer name, [(weight name, array)])] in the file's layer order."""
    if "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
        raise ValueError(f"{group.file.filename} holds no Keras weights (no layer_names attribute)")
    saved = []
    for name in load_attributes(group, "layer_names"):
        if name not in group:
            raise ValueError(f"Layer '{name}' is listed in layer_names but the file has no group for it")
        g = group[name]
        saved.append((name, [(w, _weight_value(g, w)) for w in load_attributes(g, "weight_names")]))
    top = group.get("top_level_model_weights")
    if top is not None and load_attributes(top, "weight_names"):
        raise ValueError("The file holds weights owned by a subclassed model itself (top_level_model_weights), "
                         "which minigraph's graph models do not have")
    return saved


def _assign_weights(model, saved, by_name=False, skip_mismatch=False):
    """Keras' load_weights_from_hdf5_group(_by_name). Every value is checked before any is assigned, so a
    failed load leaves the model as it was."""
    if skip_mismatch and not by_name:
        raise ValueError("When calling model.load_weights, skip_mismatch can only be set to True when by_name "
                         "is True.")
    pairs = []

    def check(layer, where, variables, values):
        if len(values) != len(variables):
            message = (f"Weight count mismatch for {where} (named {layer.name} in the current model): the layer "
                       f"expects {len(variables)} weight(s), the file has {len(values)}")
            if skip_mismatch:
                _log.warning(f"Skipping loading weights for {where}: {message}")
                return
            raise ValueError(message)
        for var, (wname, value) in zip(variables, values):
            if tuple(var.shape) != value.shape:
                message = (f"Shape mismatch in layer '{layer.name}' for weight {var.name}: the model's weight has "
                           f"shape {tuple(var.shape)}, the saved weight {wname} has shape {value.shape}")
                if skip_mismatch:
                    _log.warning(f"Skipping loading weight {var.name}: {message}")
                    continue
                raise ValueError(message)
            pairs.append((var, value))

    if by_name:
        by_layer = {}
        for layer in model.layers:
            by_layer.setdefault(layer.name, []).append(layer)
        for k, (name, values) in enumerate(saved):
            for layer in by_layer.get(name, []):
                check(layer, f"layer #{k}", _layer_weights(layer), values)
    else:
        layers = [layer for layer in model.layers if _layer_weights(layer)]
        saved = [entry for entry in saved if entry[1]]
        if len(saved) != len(layers):
            raise ValueError(f"Layer count mismatch when loading weights from file. Model expected {len(layers)} "
                             f"layers with weights, found {len(saved)} saved layers with weights "
                             f"({[name for name, _ in saved]}).")
        for k, (layer, (name, values)) in enumerate(zip(layers, saved)):
            check(layer, f"layer #{k} ('{name}' in the file)", _layer_weights(layer), values)
    for var, value in pairs:
        var.assign(value)


def save_weights(model, filepath, overwrite=True):
    """Keras' h5 `model.save_weights`: the model_weights layout at the root of the file."""
    with _writing(filepath, overwrite) as f:
        _write_weights(f, model)


def load_weights(model, filepath, by_name=False, skip_mismatch=False):
    """Weights from a save_weights file or a whole-model file, by layer order (default) or by layer name."""
    def reader(f):
        if "layer_names" not in f.attrs and "layer_names0" not in f.attrs and "model_weights" in f:
            f = f["model_weights"]  # a model.save file
        return _read_weights(f)
    _assign_weights(model, _read(filepath, reader), by_name=by_name, skip_mismatch=skip_mismatch)


# ------------------------------------------------------------------------------------------------ configs
def _model_config(model):
    return {"class_name": registry_name(model), "config": model.get_config()}


def model_to_json(model, **kwargs):
    return _dumps({**_model_config(model), "keras_version": KERAS_VERSION, "backend": BACKEND}, **kwargs)


def model_from_config(config, custom_objects=None):
    if not isinstance(config, dict):
        raise TypeError(f"model_from_config expects a dictionary {{'class_name': ..., 'config': ...}}, got "
                        f"{type(config).__name__}")
    return registry.deserialize(config, custom_objects, kind="model")


def model_from_json(json_string, custom_objects=None):
    return model_from_config(json.loads(json_string), custom_objects)


def _training_config(model):
    """Keras' model_metadata()['training_config']: the compile arguments, optimizer as a config."""
    return {"loss": model._loss_config, "metrics": model._metrics_config, "weighted_metrics": None,
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


def _compile_args(training_config, custom_objects, n_outputs):
    """Keras' compile_args_from_training_config."""
    custom_objects = custom_objects or {}

    def loss(config):
        if isinstance(config, str):
            return custom_objects.get(config, config)
        config = {**config, "config": {k: v for k, v in config.get("config", {}).items() if k != "fn"}}
        return losses.deserialize(config, custom_objects)

    def metric(config):
        if isinstance(config, str):
            return custom_objects.get(config, config)
        name, inner = config["class_name"], dict(config.get("config", {}))
        if name == "MeanMetricWrapper":  # Keras saves metrics=['accuracy'] as the wrapper of a named function
            fn = inner.get("fn")
            return custom_objects.get(fn) or (inner.get("name") if _known_metric(inner.get("name")) else fn)
        cls = custom_objects.get(name) or type(metrics.get(name))
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


# ------------------------------------------------------------------------------------------------ optimizer state
# tf.keras < 2.11 ("legacy") optimizers name their state 'Adam/iter:0' and 'Adam/dense/kernel/m:0', and order
# it slot by slot; their slot names map onto today's as follows.
_LEGACY_SLOTS = {"m": "m", "v": "v", "vhat": "vhat", "momentum": "momentum", "rms": "velocity",
                 "mg": "average_gradient"}


def _write_optimizer(f, optimizer):
    """Keras' save_optimizer_weights_to_hdf5_group: `optimizer.variables`, iteration first, in Keras' order."""
    variables = list(optimizer.variables)
    group = f.create_group("optimizer_weights")
    save_attributes(group, "weight_names", _names(v.name for v in variables))
    for var in variables:
        group.create_dataset(var.name, data=np.asarray(var.value))


def _restore_optimizer(model, saved):
    """Iteration and slots from the file's [(name, array)] into model.optimizer, built for the model's
    trainable weights. As Keras, a state that does not fit is logged and the optimizer starts afresh."""
    optimizer = model.optimizer
    names = [name for name, _ in saved]
    if len(saved) == 1 and re.fullmatch(r"(.*/)?iter(ation)?:0", names[0]):
        optimizer.iterations = int(saved[0][1])  # saved before any step: nothing else to restore, stay unbuilt
        return
    optimizer.build(model.trainable_weights)
    expected = list(optimizer.variables)
    values = [value for _, value in saved]
    if any(re.fullmatch(r".*/iter:0", name) for name in names):
        values = _from_legacy(optimizer, expected, saved)
    problem = None
    if len(values) != len(expected):
        problem = f"the optimizer has {len(expected)} variables, the file {len(values)}"
    else:
        for var, value in zip(expected, values):
            if tuple(var.shape) != np.shape(value):
                problem = f"{var.name} has shape {tuple(var.shape)}, the file's value {np.shape(value)}"
                break
    if problem:
        _log.warning(f"Error in loading the saved optimizer state ({problem}). As a result, your model is "
                     f"starting with a freshly initialized optimizer.")
        return
    optimizer.set_weights(values)


def _from_legacy(optimizer, expected, saved):
    """A legacy state in the order of `expected`; slots a legacy optimizer did not create (SGD without
    momentum) held zeros."""
    prefix = optimizer.name + "/"
    by_name = {}
    for name, value in saved:
        parts = name[:-2].split("/")
        if parts[-1] == "iter":
            by_name["iteration:0"] = value
        elif parts[-1] in _LEGACY_SLOTS:
            by_name[f"{prefix}{_LEGACY_SLOTS[parts[-1]]}/{'/'.join(parts[1:-1])}:0"] = value
    if len(by_name) < len(saved):
        return [value for _, value in saved]  # not names we know: let the count/shape check judge
    return [by_name.get(var.name, np.zeros(var.shape, var.dtype)) for var in expected]


# ------------------------------------------------------------------------------------------------ models
def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Keras' save_model_to_hdf5."""
    model_config = _dumps(_model_config(model)).encode("utf8")  # before the file: a config error leaves it be
    compiled = include_optimizer and getattr(model, "optimizer", None) is not None
    training_config = _dumps(_training_config(model)).encode("utf8") if compiled else None
    with _writing(filepath, overwrite) as f:
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = BACKEND
        f.attrs["model_config"] = model_config
        if training_config is not None:
            f.attrs["training_config"] = training_config
        _write_weights(f.create_group("model_weights"), model)
        if compiled:
            _write_optimizer(f, model.optimizer)


def load_model(filepath, custom_objects=None, compile=True):  # noqa: A002 - Keras' name
    """A model from a Keras 2 / minigraph .h5 file: architecture, weights and, with compile=True, the
    compile arguments and optimizer state."""
    def reader(f):
        model_config = _json_attr(f, "model_config")
        if model_config is None:
            raise ValueError(f"No model config found in the file at {f.file.filename}: it is not a whole-model "
                             f"file (a save_weights file? use model.load_weights)")
        if "model_weights" not in f:
            raise ValueError(f"The file at {f.file.filename} has a model config but no model_weights group")
        optimizer_state = None
        if "optimizer_weights" in f:
            group = f["optimizer_weights"]
            optimizer_state = [(name, _weight_value(group, name)) for name in load_attributes(group, "weight_names")]
        return model_config, _json_attr(f, "training_config"), _read_weights(f["model_weights"]), optimizer_state

    model_config, training_config, weights, optimizer_state = _read(filepath, reader)
    model = _from_file_config("model_config", filepath, model_from_config, model_config, custom_objects)
    _assign_weights(model, weights)
    if compile and training_config is not None:
        model.compile(**_from_file_config("training_config", filepath, _compile_args, training_config,
                                          custom_objects, len(model.outputs)))
        if optimizer_state:
            _restore_optimizer(model, optimizer_state)
    elif compile:
        _log.warning("No training configuration found in the save file, so the model was *not* compiled. "
                     "Compile it manually.")
    return model


# ------------------------------------------------------------------------------------------------ cloning
def _clone_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None):
    """Keras' clone_model: the same graph of new layers (clone_function(layer), by default from the layer's
    config, so with fresh weights); shared layers stay shared. Sequential models clone to Sequential."""
    clone_function = clone_function or _clone_layer
    if isinstance(model, Sequential):
        layers = [clone_function(layer) for layer in model.layers]
        if input_tensors is not None:
            first = flatten(input_tensors)
            if len(first) != 1 or not isinstance(first[0], KerasTensor):
                raise ValueError(f"clone_model: a Sequential model takes one input tensor from keras.Input, got "
                                 f"{input_tensors!r}")
            layers = first + layers
        elif model.built:
            source = model._layers[0]
            layers = [InputLayer.from_config(source.get_config())] + layers
        return Sequential(layers, name=model.name)
    if not getattr(model, "_is_graph_network", False):
        raise ValueError(f"clone_model expects a functional or Sequential model, got {type(model).__name__}")

    mapped = {}  # id of each tensor of the original graph -> its counterpart in the clone
    if input_tensors is None:
        new_inputs = [InputLayer.from_config(t.node.layer.get_config())._inbound_nodes[0].outputs[0]
                      for t in model.inputs]
    else:
        new_inputs = flatten(input_tensors)
        if len(new_inputs) != len(model.inputs) or not all(isinstance(t, KerasTensor) for t in new_inputs):
            raise ValueError(f"clone_model: input_tensors must be {len(model.inputs)} tensor(s) from keras.Input, "
                             f"got {input_tensors!r}")
    mapped.update((id(old), new) for old, new in zip(model.inputs, new_inputs))
    # layer by layer in model.layers order, each layer's calls in their order: the clone's node indices are the
    # original's, and every input is ready (a layer comes after all layers feeding it)
    for layer in model.layers:
        calls = [node for node in layer._inbound_nodes if node in model._network_nodes and not node.is_input]
        new_layer = clone_function(layer) if calls else None
        for node in calls:
            def swap(t):
                return mapped[id(t)] if isinstance(t, KerasTensor) else t
            out = new_layer(*map_structure(swap, node.call_args), **map_structure(swap, node.call_kwargs))
            mapped.update((id(old), new) for old, new in zip(node.outputs, flatten(out)))
    outputs = [mapped[id(t)] for t in model.outputs]
    multi_in = isinstance(model._nested_inputs, (list, tuple))
    multi_out = isinstance(model._nested_outputs, (list, tuple))
    return Model(new_inputs if multi_in else new_inputs[0], outputs if multi_out else outputs[0], name=model.name)
