"""Weight matching: which saved value belongs to which variable, for every format.

Every object writes and reads its own variables through its format-blind hooks (`save_own_variables` /
`load_own_variables`, keys "0", "1", ... as in Keras 3); this module decides where those objects sit in a
file:
- Keras 2 HDF5: one group per layer of `model.layers`, a nested model's group holding all its inner weights
  (trainable first, as Keras' _legacy_weights), matched to the model by layer order or by layer name;
- Keras 3 (`.weights.h5`, and the weights inside `.keras`): the object tree, `layers/<class>/vars/<i>`,
  nested models below their own `layers/`, the optimizer at `optimizer/vars`, as Keras 3's saving_lib walks it.
"""
import logging
import re
import warnings

import numpy as np

from minigraph.layers.base import Layer
from minigraph.optimizers import Optimizer
from minigraph.saving import hdf5_store, keras3_store

# Keras logs (rather than warns) when it skips weights, drops an optimizer state, or finds no training config
_log = logging.getLogger("minigraph.saving")


# ------------------------------------------------------------------------------------------------ hooks
def own_variables(obj):
    """obj's own variables, as its save_own_variables hook gives them (in key order)."""
    store = {}
    obj.save_own_variables(store)
    return [store[str(i)] for i in range(len(store))]


def sublayers(obj):
    """The layers obj holds directly: a model's `layers`, a layer's tracked sublayers (an RNN's cell)."""
    inner = getattr(obj, "_sublayers", None)
    return list(inner()) if callable(inner) else []


def legacy_variables(layer):
    """The weights of layer's Keras 2 group: its own and its sublayers' (through their hooks), each once,
    trainable ones first (Keras' _legacy_weights)."""
    collected, seen = [], set()
    for owner in layer._flatten_layers():
        for var in own_variables(owner):
            if id(var) not in seen:
                seen.add(id(var))
                collected.append(var)
    trainable = {id(v) for v in layer.trainable_weights}
    return [v for v in collected if id(v) in trainable] + [v for v in collected if id(v) not in trainable]


def load_through_hooks(model, pairs):
    """Assign [(variable, value)] (already checked) by calling each owner's load_own_variables once, with
    the owner's current values for the keys not being loaded."""
    values = {id(var): value for var, value in pairs}
    for owner in model._flatten_layers():
        variables = own_variables(owner)
        if any(id(var) in values for var in variables):
            owner.load_own_variables({str(i): values.get(id(var), var.value) for i, var in enumerate(variables)})


# ------------------------------------------------------------------------------------------------ Keras 2 HDF5
def write_keras2(group, model):
    """Keras' save_weights_to_hdf5_group: one group per layer of model.layers."""
    hdf5_store.write_layer_groups(group, [(layer.name, legacy_variables(layer)) for layer in model.layers],
                                  own_variables(model))


def assign_keras2(model, saved, top_level=(), by_name=False, skip_mismatch=False):
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
                check(layer, f"layer #{k}", legacy_variables(layer), values)
    else:
        layers = [layer for layer in model.layers if legacy_variables(layer)]
        saved = [entry for entry in saved if entry[1]]
        if len(saved) != len(layers):
            raise ValueError(f"Layer count mismatch when loading weights from file. Model expected {len(layers)} "
                             f"layers with weights, found {len(saved)} saved layers with weights "
                             f"({[name for name, _ in saved]}).")
        for k, (layer, (name, values)) in enumerate(zip(layers, saved)):
            check(layer, f"layer #{k} ('{name}' in the file)", legacy_variables(layer), values)
    check(model, "the weights the model itself owns (top_level_model_weights)", own_variables(model),
          list(top_level))
    load_through_hooks(model, pairs)




def write_keras2_optimizer(f, optimizer):
    """Keras' save_optimizer_weights_to_hdf5_group: `optimizer.variables`, iteration and slots in Keras 2's
    order. Keras 2 files keep the learning rate (or schedule) in the optimizer's config, not in its state."""
    hdf5_store.write_weight_group(f.create_group("optimizer_weights"), list(optimizer.variables),
                                  "the optimizer")


def _keras3_state(names):
    """True for the optimizer_weights of Keras 3's legacy .h5 writer: 'adam/iteration', 'adam/learning_rate',
    then the slots (already the hooks' order)."""
    return len(names) >= 2 and names[1].split("/")[-1] == "learning_rate"


def restore_keras2_optimizer(model, saved):
    """Iteration and slots from the file's [(name, array)] into model.optimizer, built for the model's
    trainable weights. As Keras, a state that does not fit is logged and the optimizer starts afresh."""
    optimizer = model.optimizer
    names = [name for name, _ in saved]
    if len(saved) == 1 and re.fullmatch(r"(.*/)?iter(ation)?(:0)?", names[0]):
        optimizer.iterations = int(saved[0][1])  # saved before any step: nothing else to restore, stay unbuilt
        return
    optimizer.build(model.trainable_weights)
    values = [value for _, value in saved]
    if _keras3_state(names):  # iteration, learning_rate, slots: the hooks' own layout
        expected = own_variables(optimizer)
    else:  # iteration and slots: Keras 2's `variables`
        expected = list(optimizer.variables)
        if any(re.fullmatch(r".*/iter:0", name) for name in names):
            values = _from_legacy(optimizer, expected, saved)
    problem = None
    if len(values) != len(expected):
        problem = f"the optimizer has {len(expected) - 1} variables, the file {len(values) - 1}"
    else:
        for var, value in zip(expected, values):
            if tuple(var.shape) != np.shape(value):
                problem = f"{var.name} has shape {tuple(var.shape)}, the file's value {np.shape(value)}"
                break
    if problem:
        _log.warning(f"Error in loading the saved optimizer state ({problem}). As a result, your model is "
                     f"starting with a freshly initialized optimizer.")
        return
    if _keras3_state(names):
        optimizer.load_own_variables({str(i): value for i, value in enumerate(values)})
    else:
        optimizer.set_weights(values)


# ------------------------------------------------------------------------------------------------ Keras 3 tree
def _keras3_snake(name):
    """Keras 3's naming.to_snake_case (Conv2DTranspose -> conv2d_transpose), used for its weight paths."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _natural_key(text):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _saveable(obj):
    return isinstance(obj, (Layer, Optimizer))


def _children(obj):
    """(attribute, value) as Keras 3's _walk_saveable yields them: a model's layers first, then the object's
    attributes in natural order (the optimizer, sublayers held as attributes, ...)."""
    attributes = dict(vars(obj))
    if getattr(obj, "_is_graph_network", False):
        yield "layers", sublayers(obj)  # Functional and Sequential: their layers come first
    elif isinstance(obj, Layer) and sublayers(obj):
        attributes["layers"] = sublayers(obj)  # other models: the `layers` property, in its sorted place
    for attr in sorted(attributes, key=_natural_key):
        if not attr.startswith("__"):
            yield attr, attributes[attr]


def keras3_objects(root):
    """[(path, object)] of every object with state, each once, in Keras 3's walk order. A container's items
    are named by their class in snake case, repeats numbered ('dense', 'dense_1', ...), restarting in
    every container."""
    found, visited = [], set()

    def visit(obj, path):
        if id(obj) in visited:
            return
        visited.add(id(obj))
        found.append((path, obj))
        for attr, child in _children(obj):
            child_path = f"{path}/{attr}" if path else attr
            if _saveable(child):
                visit(child, child_path)
            elif isinstance(child, (list, tuple, dict, set)):
                used = {}
                for item in (child.values() if isinstance(child, dict) else child):
                    if not _saveable(item):
                        continue
                    name = _keras3_snake(type(item).__name__)
                    if name in used:
                        used[name] += 1
                        name = f"{name}_{used[name]}"
                    else:
                        used[name] = 0
                    visit(item, f"{child_path}/{name}")
    visit(root, "")
    return found


def write_keras3(h5file, model, include_optimizer=True):
    """Every object's own variables at its Keras 3 path, through its save_own_variables hook."""
    for path, obj in keras3_objects(model):
        if isinstance(obj, Optimizer) and not include_optimizer:
            continue
        obj.save_own_variables(keras3_store.make(h5file, path, getattr(obj, "name", None)))


def load_keras3(stores, model, skip_mismatch=False):
    """Every object's own variables from its Keras 3 path. The layers are all checked before any is assigned
    (a failed load leaves the model as it was); the optimizer, built first for the model's trainable weights,
    takes its state as Keras 3's does (a state of another size is skipped with a warning). `stores` maps
    paths to what keras3_store.read_all read."""
    def store_at(path):
        return stores.get(path) or keras3_store.empty(path)
    optimizer = getattr(model, "optimizer", None)
    if isinstance(optimizer, Optimizer) and len(store_at("optimizer")) > 2:
        optimizer.build(model.trainable_weights)
    loads, errors = [], {}
    for path, obj in keras3_objects(model):
        store = store_at(path)
        if isinstance(obj, Optimizer):
            if path in stores:  # saved without its optimizer (include_optimizer=False): nothing to restore
                loads.append((obj, store))
            continue
        variables = own_variables(obj)
        problem = None
        if len(store) != len(variables):
            problem = (f"Layer '{obj.name}' expected {len(variables)} variables, but received {len(store)} "
                       f"variables during loading. Expected: {[v.name for v in variables]}")
        else:
            for i, var in enumerate(variables):
                if np.shape(store[str(i)]) != tuple(var.shape):
                    problem = (f"Layer '{obj.name}': the saved variable {path}/vars/{i} has shape "
                               f"{np.shape(store[str(i)])}, the layer's {var.name} has shape {tuple(var.shape)}")
                    break
        if problem:
            errors[path or "/"] = (obj.name, problem)
        else:
            loads.append((obj, store))
    if errors:
        first = next(iter(errors.values()))
        message = (f"A total of {len(errors)} objects could not be loaded. Example error message for object "
                   f"{first[0]}:\n\n{first[1]}\n\nList of objects that could not be loaded:\n"
                   f"{[name for name, _ in errors.values()]}")
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(message, stacklevel=3)
    for obj, store in loads:
        obj.load_own_variables(store)


# ------------------------------------------------------------------------------------------------ legacy optimizer state
# tf.keras < 2.11 ("legacy") optimizers name their state 'Adam/iter:0' and 'Adam/dense/kernel/m:0', and order
# it slot by slot; their slot names map onto today's as follows.
_LEGACY_SLOTS = {"m": "m", "v": "v", "vhat": "vhat", "momentum": "momentum", "rms": "velocity",
                 "mg": "average_gradient"}


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


