"""Whole models and weights in Keras 2's HDF5 format (`.h5`): config, weights and optimizer state.

The file layout and its primitives are in hdf5_store; which value goes to which variable is in weights.
"""
import logging

from minigraph.saving import hdf5_store, keras3_config, serialization, weights

_log = logging.getLogger("minigraph.saving")


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Keras' save_model_to_hdf5."""
    model_config = serialization.dumps(serialization.model_config(model)).encode("utf8")  # a config error
    compiled = include_optimizer and getattr(model, "optimizer", None) is not None     # leaves the file be
    training_config = serialization.dumps(serialization.training_config(model)).encode("utf8") if compiled else None
    with hdf5_store.writing(filepath, overwrite) as f:
        f.attrs["keras_version"] = hdf5_store.KERAS_VERSION
        f.attrs["backend"] = hdf5_store.BACKEND
        f.attrs["model_config"] = model_config
        if training_config is not None:
            f.attrs["training_config"] = training_config
        weights.write_keras2(f.create_group("model_weights"), model)
        if compiled:
            weights.write_keras2_optimizer(f, model.optimizer)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002 - Keras' name
    """A model from a Keras 2 / minigraph .h5 file, or one of Keras 3's legacy writer (its configs in Keras 3's
    dialect): architecture, weights and, with compile=True, the compile arguments and optimizer state."""
    def reader(f):
        model_config = hdf5_store.json_attr(f, "model_config")
        if model_config is None:
            raise ValueError(f"No model config found in the file at {f.file.filename}: it is not a whole-model "
                             f"file (a save_weights file? use model.load_weights)")
        if "model_weights" not in f:
            raise ValueError(f"The file at {f.file.filename} has a model config but no model_weights group")
        optimizer_state = None
        if "optimizer_weights" in f:
            optimizer_state = hdf5_store.read_weight_group(f["optimizer_weights"])
        return (model_config, hdf5_store.json_attr(f, "training_config"),
                read_weights(f, max_layers=config_objects(model_config) + 1), optimizer_state)

    model_config, training_config, saved, optimizer_state = hdf5_store.read(filepath, reader)
    where = filepath.file.filename if hasattr(filepath, "file") else filepath
    keras3_config.check_safe(model_config, safe_mode, where)
    serialization.check_weight_sizes(model_config, where)
    if keras3_config.is_keras3(model_config):
        model_config = hdf5_store.from_file_config("model_config", filepath, keras3_config.to_keras2, model_config)
    if isinstance(training_config, dict) and isinstance(training_config.get("optimizer_config"), dict) and (
            "module" in training_config["optimizer_config"] or "run_eagerly" in training_config):
        training_config = {**training_config, "optimizer_config": hdf5_store.from_file_config(
            "training_config", filepath, keras3_config.optimizer_to_keras2, training_config["optimizer_config"])}
    model = hdf5_store.from_file_config("model_config", filepath, serialization.model_from_config, model_config,
                                        custom_objects)
    weights.assign_keras2(model, *saved)
    if compile and training_config is not None:
        hdf5_store.from_file_config("training_config", filepath, lambda: model.compile(**serialization.compile_args(
            training_config, custom_objects, len(model.outputs))))
        if optimizer_state:
            weights.restore_keras2_optimizer(model, optimizer_state)
    elif compile:
        _log.warning("No training configuration found in the save file, so the model was *not* compiled. "
                     "Compile it manually.")
    return model


def save_weights(model, filepath, overwrite=True):
    """Keras' h5 `model.save_weights`: the model_weights layout at the root of the file."""
    with hdf5_store.writing(filepath, overwrite) as f:
        weights.write_keras2(f, model)


def read_weights(f, max_layers=None, wanted=None):
    """(layer groups, the model's own weights) of a save_weights file or a whole-model file (an open h5py
    file); the bounds are read_layer_groups'."""
    if "layer_names" not in f.attrs and "layer_names0" not in f.attrs and "model_weights" in f:
        f = f["model_weights"]  # a model.save file
    return hdf5_store.read_layer_groups(f, max_layers, wanted), hdf5_store.read_top_level(f)


def max_listed_layers(n_layers):
    """How many layers a weights file loaded by layer order may list for a model of n_layers: files of models
    with extra weightless layers (Dropout, ...) load, 10**6 names do not."""
    return 4 * n_layers + 64


def config_objects(config):
    """How many {'class_name': ...} objects a config holds: more than it has layers, so a bound for a file's
    layer_names."""
    count, stack = 0, [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += "class_name" in item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count
