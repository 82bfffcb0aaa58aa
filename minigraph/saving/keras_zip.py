"""Keras 3's `.keras` format: a zip of metadata.json, config.json (Keras 3's dialect) and model.weights.h5
(Keras 3's weights layout), its entries stored, not compressed, in that order.

Reading never extracts anything to disk: the entries are read into memory after the archive is checked
(entry names without '..', absolute paths or links, none twice; declared sizes in proportion to the file and
each entry's compressed size), in bounded pieces, and the weights file is opened from memory. Writing goes to a temporary file that replaces the target when complete.
"""
import collections
import datetime
import io
import json
import os
import stat
import zipfile
import zlib

import h5py

from minigraph import registry
from minigraph.saving import config_json, hdf5_store, keras3_config, keras3_store, serialization, weights

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
# A stored .keras file is its entries' size; allow compression on top of that, but not a zip bomb
_MAX_EXPANSION = 100
_SIZE_SLACK = 1 << 20
_READ_BYTES = 1 << 20


# ------------------------------------------------------------------------------------------------ writing
def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Keras 3's saving_lib.save_model: config.json, metadata.json, model.weights.h5, atomically."""
    config = _model_config(model)
    if getattr(model, "optimizer", None) is not None and getattr(model, "compiled", False):
        config["compile_config"] = keras3_config.compile_config(model, _serialize_object)
    config_text = json.dumps(config, default=serialization.json_default)
    metadata = json.dumps({"keras_version": keras3_config.KERAS3_VERSION,
                           "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")})
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        weights.write_keras3(f, model, include_optimizer=include_optimizer)
    with hdf5_store.atomic_path(filepath, overwrite) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA, metadata)
            archive.writestr(CONFIG, config_text)
            archive.writestr(WEIGHTS, buffer.getvalue())


def _model_config(model):
    if getattr(model, "_is_graph_network", False):
        return keras3_config.serialize_model(model, registry.get_registered_name)
    cls = type(model)  # a subclassed model with its own get_config
    return {"module": cls.__module__, "class_name": cls.__name__, "config": model.get_config(),
            "registered_name": registry.get_registered_name(cls)}


def _serialize_object(obj):
    """A loss or metric object in Keras 3's form. Keras 3 names the default reduction sum_over_batch_size."""
    config = dict(obj.get_config())
    if config.get("reduction") == "auto":
        config["reduction"] = "sum_over_batch_size"
    kind = "keras.losses" if "reduction" in config else "keras.metrics"
    return {"module": kind, "class_name": type(obj).__name__, "config": config, "registered_name": None}


# ------------------------------------------------------------------------------------------------ reading
def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002 - Keras' name
    """A model from a `.keras` zip: architecture, weights, and with compile=True the compile arguments and
    the optimizer's state."""
    path = os.fspath(filepath)
    entries = _read_entries(path)
    config = config_json.loads(entries[CONFIG], f"{path}: {CONFIG}")
    if not (isinstance(config, dict) and isinstance(config.get("config"), (dict, list))
            and _is_model_config(config)):
        what = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"{path}: {CONFIG} does not describe a model (found {what!r}); a .keras file holds a "
                         f"Functional, Sequential or registered model")
    keras3_config.check_safe(config, safe_mode, path)
    serialization.check_weight_sizes(config, path)
    model = hdf5_store.from_file_config("model config", path, _build, config, custom_objects)
    if compile and config.get("compile_config"):
        training = hdf5_store.from_file_config("compile_config", path, keras3_config.compile_to_training_config,
                                               config["compile_config"])
        hdf5_store.from_file_config("compile_config", path, lambda: model.compile(**serialization.compile_args(
            training, custom_objects, len(model.outputs))))
    where = f"{path}, entry {WEIGHTS}"
    try:
        with h5py.File(io.BytesIO(entries[WEIGHTS]), "r") as f:
            hdf5_store.check_self_contained(f, where)
            stores = keras3_store.read_all(f, where)
    except (OSError, KeyError, RuntimeError, TypeError, UnicodeError) as err:
        raise OSError(f"Cannot read {WEIGHTS} in {path}: it is truncated or corrupt ({err})") from err
    try:
        weights.load_keras3(stores, model)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return model


def _is_model_config(config):
    class_name = config.get("class_name")
    if class_name in ("Functional", "Model", "Sequential"):
        return True
    if not isinstance(class_name, str) or class_name == "__keras_tensor__":
        return False
    try:
        cls = registry.get_class(config.get("registered_name") or class_name)
    except ValueError:
        return False
    return hasattr(cls, "fit")


def _build(config, custom_objects):
    keras2 = keras3_config.to_keras2(config)
    return serialization.model_from_config(keras2, custom_objects)


def _read_entries(path):
    """{name: bytes} of the entries used, after checking the archive is one Keras could have written."""
    hdf5_store.check_regular(path)
    size = os.path.getsize(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a valid .keras file: its zip directory is missing, truncated or damaged "
                         f"({err})") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        for info in infos:
            _check_entry(path, info)
        repeated = sorted(name for name, count in collections.Counter(names).items() if count > 1)
        if repeated:
            raise ValueError(f"{path}: the archive lists an entry twice ({repeated[:10]}); which of the two a "
                             f"reader takes differs between tools, so neither is used")
        declared = sum(info.file_size for info in infos)
        if declared > _MAX_EXPANSION * size + _SIZE_SLACK:
            raise ValueError(f"{path}: its entries declare {declared} bytes uncompressed in a file of {size} bytes; "
                             f"refusing to expand it (a damaged or hostile archive)")
        for needed in (CONFIG, WEIGHTS):
            if needed not in names:
                raise ValueError(f"{path} is not a Keras 3 model file: it has no {needed} (entries: {names[:10]})")
        return {name: _read_entry(archive, archive.getinfo(name), path) for name in (CONFIG, WEIGHTS)}


def _read_entry(archive, info, path):
    """An entry's bytes, read in bounded pieces: never more than its header declares (zipfile itself inflates
    all of an entry at once, so a header declaring a few bytes in front of gigabytes would be believed only
    after they were in memory)."""
    name = info.filename
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{path}: the entry {name} is compressed with zip method {info.compress_type}; a .keras "
                         f"entry is stored or deflated")
    if info.file_size > _MAX_EXPANSION * info.compress_size + _SIZE_SLACK:
        raise ValueError(f"{path}: the entry {name} declares {info.file_size} bytes uncompressed from "
                         f"{info.compress_size} compressed; refusing to expand it (a damaged or hostile archive)")
    pieces, size = [], 0
    try:
        with archive.open(info) as stream:
            while size <= info.file_size:
                piece = stream.read(min(_READ_BYTES, info.file_size + 1 - size))
                if not piece:
                    break
                pieces.append(piece)
                size += len(piece)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as err:
        raise ValueError(f"{path}: the entry {name} is truncated or damaged ({err})") from None
    if size != info.file_size:
        raise ValueError(f"{path}: the entry {name} holds {size} bytes, its header says {info.file_size}")
    return b"".join(pieces)


def _check_entry(path, info):
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
        raise ValueError(f"{path}: the archive entry {name!r} points outside the archive (an absolute path or "
                         f"'..'); refusing a hostile .keras file")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ValueError(f"{path}: the archive entry {name!r} is a symbolic link; refusing a hostile .keras file")
