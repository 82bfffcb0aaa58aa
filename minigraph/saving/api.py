"""The public save/load API (keras.saving, keras.models.load_model, Model.save, ...): it picks the format.

By the file name's suffix when writing:
- `.keras`: Keras 3's zip (config.json, metadata.json, model.weights.h5);
- `.weights.h5` (save_weights): Keras 3's weights layout;
- `.h5` / `.hdf5`: Keras 2's HDF5 format;
- anything else: Keras 2's HDF5 format, as minigraph always wrote, with a warning naming the suffixes.
By the file's content when reading (a zip is a `.keras` file; an HDF5 file holds one of the two layouts).
"""
import os
import warnings
import zipfile

import h5py

from minigraph import registry
from minigraph.saving import hdf5_store, keras3_store, keras_zip, legacy_h5, serialization, weights

_H5_SUFFIXES = (".h5", ".hdf5")
_SAVE_FORMATS = ("h5", "keras", "tf", None)


def _refuse_unknown(function, kwargs):
    if kwargs:
        raise TypeError(f"{function}() got unexpected keyword argument(s) {sorted(kwargs)}")


def _suffix_format(filepath, what):
    """'keras', 'keras3_weights' or 'h5' for a path being written (an open h5py group: 'h5')."""
    if isinstance(filepath, h5py.Group):
        return "h5"
    name = os.fspath(filepath)
    if not isinstance(name, str):
        name = os.fsdecode(name)
    lower = name.lower()
    if lower.endswith(".keras"):
        return "keras"
    if lower.endswith(".weights.h5") and what == "weights":
        return "keras3_weights"
    if not lower.endswith(_H5_SUFFIXES):
        warnings.warn(f"{name}: the file name ends in neither '.keras' nor '.h5' (or '.hdf5'), so the "
                      f"{'weights are' if what == 'weights' else 'model is'} saved in Keras 2's HDF5 format. Name "
                      f"the file '*.keras' for Keras 3's format, '*.h5' for Keras 2's"
                      + (", '*.weights.h5' for Keras 3's weights layout." if what == "weights" else "."),
                      stacklevel=4)
    return "h5"


def _check_savable(model, fmt):
    """Keras refuses to write a model whose architecture is Python code: say so, as Keras does."""
    graph = getattr(model, "_is_graph_network", False)
    own_config = not type(model).get_config.__module__.startswith("minigraph.")
    if not graph and not own_config:
        where = "Keras 3's .keras format" if fmt == "keras" else "HDF5 format"
        raise NotImplementedError(
            f"Saving the model to {where} requires the model to be a Functional model or a Sequential model. "
            f"It does not work for subclassed models (here {type(model).__name__}), because such models are "
            f"defined via the body of a Python method, which isn't safely serializable. Use `save_weights`, or "
            f"give the class get_config() (and from_config if needed).")


def save_model(model, filepath, overwrite=True, include_optimizer=True, save_format=None, **kwargs):
    """keras.saving.save_model / Model.save: the whole model (architecture, weights, optimizer state)."""
    _refuse_unknown("save_model", kwargs)
    if save_format not in _SAVE_FORMATS:
        raise ValueError(f"save_model: unknown save_format {save_format!r}; use 'h5' or 'keras' (or name the file "
                         f"'*.h5' or '*.keras')")
    if save_format == "tf":
        raise ValueError("save_model: the TensorFlow SavedModel format (save_format='tf') is not supported; name "
                         "the file '*.keras' (Keras 3) or '*.h5' (Keras 2)")
    fmt = save_format or _suffix_format(filepath, "model")
    _check_savable(model, fmt)
    if fmt == "keras":
        keras_zip.save_model(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)
    else:
        legacy_h5.save_model(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, **kwargs):  # noqa: A002 - Keras' name
    """keras.models.load_model: a `.keras` zip, or a Keras 2 / Keras 3 `.h5` file."""
    _refuse_unknown("load_model", kwargs)
    if not isinstance(filepath, h5py.Group):
        path = os.fspath(filepath)
        named = os.fsdecode(path).lower().endswith(".keras")
        if os.path.isfile(path) and not h5py.is_hdf5(path) and (named or zipfile.is_zipfile(path)):
            return keras_zip.load_model(path, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    return legacy_h5.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_weights(model, filepath, overwrite=True, save_format=None, **kwargs):
    """Model.save_weights: `*.weights.h5` in Keras 3's layout, otherwise Keras 2's."""
    _refuse_unknown("save_weights", kwargs)
    if save_format not in ("h5", None):
        raise ValueError(f"save_weights: unknown save_format {save_format!r}; weights are saved as HDF5 ('h5')")
    fmt = "h5" if save_format else _suffix_format(filepath, "weights")
    if fmt == "keras":
        raise ValueError(f"save_weights writes weights only: name the file '*.weights.h5' (Keras 3) or '*.h5' "
                         f"(Keras 2); model.save({os.fspath(filepath)!r}) writes the whole model")
    if fmt == "keras3_weights":
        with hdf5_store.writing(filepath, overwrite) as f:
            weights.write_keras3(f, model)
    else:
        legacy_h5.save_weights(model, filepath, overwrite=overwrite)


def load_weights(model, filepath, by_name=False, skip_mismatch=False, **kwargs):
    """Model.load_weights: Keras 3's layout (by object path), or Keras 2's (by layer order, or by name)."""
    _refuse_unknown("load_weights", kwargs)

    def reader(f):
        if keras3_store.is_keras3_weights(f):
            return "keras3", keras3_store.read_all(f)
        if by_name:  # only the layers the model has are read
            return "keras2", legacy_h5.read_weights(f, wanted={layer.name for layer in model.layers})
        return "keras2", legacy_h5.read_weights(f, max_layers=legacy_h5.max_listed_layers(len(model.layers)))
    layout, saved = hdf5_store.read(filepath, reader)
    if layout == "keras3":
        if by_name:
            raise ValueError(f"{os.fspath(filepath)} holds Keras 3's weights layout, which is matched by the "
                             f"model's structure: load it with by_name=False")
        weights.load_keras3(saved, model, skip_mismatch=skip_mismatch)
    else:
        layer_groups, top_level = saved
        weights.assign_keras2(model, layer_groups, top_level, by_name=by_name, skip_mismatch=skip_mismatch)


registry.provide("save_model", save_model)
registry.provide("save_weights", save_weights)
registry.provide("load_weights", load_weights)
registry.provide("model_to_json", serialization.model_to_json)
