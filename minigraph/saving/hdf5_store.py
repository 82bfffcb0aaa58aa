"""The Keras 2 HDF5 store (`model.save('m.h5')`): the file primitives, written and read with h5py.

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
import os
import re
import stat
import tempfile
import zipfile

import h5py
import numpy as np

from minigraph.saving import config_json

KERAS_VERSION = "2.15.0"  # the Keras 2 dialect written (optimizer configs and names of tf.keras >= 2.11)
BACKEND = "tensorflow"
HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras' bound for one attribute's payload


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


def attribute(group, name):
    """group.attrs[name], read only if its HDF5 type is one Keras writes (see _ATTRIBUTE_CLASSES)."""
    kind = group.attrs.get_id(name).get_type().get_class()
    if kind not in _ATTRIBUTE_CLASSES:
        raise OSError(f"attribute {name!r} of {group.name} has HDF5 type class {kind}, which no Keras file holds")
    return group.attrs[name]


def weight_value(group, name):
    """The array of dataset group[name], read only if it holds real numbers and its declared size fits in the
    file (a chunked dataset with no chunks written declares any size and reads as fill values)."""
    dataset = group.get(name)
    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"The weight {name} listed in {group.name} is not a dataset in the file "
                         f"(found {type(dataset).__name__})")
    if dataset.id.get_type().get_class() not in _WEIGHT_CLASSES:
        raise ValueError(f"The saved weight {group.name}/{name} has dtype {dataset.dtype}; weights must be real "
                         f"numbers")
    limit = dataset.file.id.get_filesize() * (_MAX_COMPRESSION if dataset.compression else 1)
    if dataset.size * dataset.dtype.itemsize > limit:
        raise ValueError(f"The saved weight {dataset.name} declares shape {dataset.shape} "
                         f"({dataset.size * dataset.dtype.itemsize} bytes of {dataset.dtype}), more than its file "
                         f"of {dataset.file.id.get_filesize()} bytes can hold: a damaged or hostile file")
    return np.asarray(dataset)


_MAX_COMPRESSION = 100  # how much larger than its file a compressed dataset may be


def check_self_contained(f, where=None):
    """Refuse an HDF5 file that reads bytes from elsewhere: external links, datasets in external raw files,
    virtual datasets. Any of these lets a model file pull in another local file (or block on a FIFO).
    `where` names the file in errors (by default its file name)."""
    where = where or f.file.filename

    def check_links(group):
        for name in group:
            if isinstance(group.get(name, getlink=True), h5py.ExternalLink):
                raise ValueError(f"{where}: {group.name.rstrip('/')}/{name} is an HDF5 external link; refusing a "
                                 f"weights file that reads another file")

    def check(name, obj):
        if isinstance(obj, h5py.Group):
            check_links(obj)
        elif isinstance(obj, h5py.Dataset):
            if obj.external:
                raise ValueError(f"{where}: the dataset /{name} keeps its data in external file(s) "
                                 f"{[entry[0] for entry in obj.external][:3]}; refusing a weights file that reads "
                                 f"another file")
            if obj.is_virtual:
                raise ValueError(f"{where}: the dataset /{name} is a virtual dataset (its data is in other "
                                 f"files); refusing a weights file that reads another file")
    check_links(f)
    f.visititems(check)  # every object once; visititems itself follows neither soft nor external links


def load_attributes(group, name):
    """The list `save_attributes` wrote (whole or split), as str."""
    if name in group.attrs:
        values = list(attribute(group, name))
    else:
        values, i = [], 0
        while f"{name}{i}" in group.attrs:
            values.extend(attribute(group, f"{name}{i}"))
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def names(items):
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
def atomic_path(filepath, overwrite):
    """A temporary path to write; only once the block completes does the file replace `filepath`."""
    given = os.fspath(filepath)
    if not overwrite and os.path.exists(given):
        raise FileExistsError(f"{given} already exists and overwrite=False")
    path = os.path.realpath(given) if os.path.islink(given) else given  # a symlink: replace its target
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # same folder, so os.replace is an atomic rename; the name matches .gitignore's *.h5.tmp*
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as done:  # on disk before it takes the name, so a power cut can't leave it empty
            os.fsync(done.fileno())
        mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_umask()
        os.chmod(tmp, mode)  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        code = _write_errno(err)
        if code is not None:
            raise OSError(code, f"Cannot save to {given}: {os.strerror(code)} ({err}); the previous file (if "
                                f"any) is left as it was") from err
        raise


def _write_errno(err):
    """The errno of a failed write: an OSError's own, or the one h5py buries in the message of its
    RuntimeError ("Can't decrement id ref count (... errno = 28 ...)") when a full disk fails a flush."""
    if isinstance(err, OSError) and not isinstance(err, FileExistsError) and err.errno is not None:
        return err.errno
    if isinstance(err, (OSError, RuntimeError)):
        found = re.findall(r"errno = (\d+)", str(err))
        return int(found[0]) if found else None
    return None


@contextlib.contextmanager
def writing(filepath, overwrite):
    """An h5py.File to fill; only once it is complete and closed does it replace `filepath`."""
    if isinstance(filepath, h5py.Group):  # Keras also accepts an open h5py file
        yield filepath
        return
    with atomic_path(filepath, overwrite) as tmp:
        with h5py.File(tmp, "w") as f:
            yield f


def read(filepath, reader):
    """`reader(h5py_file)`, with missing, non-HDF5, truncated and corrupt files reported with their path."""
    if isinstance(filepath, h5py.Group):
        check_self_contained(filepath)
        return reader(filepath)
    path = os.fspath(filepath)
    check_regular(path)
    if not h5py.is_hdf5(path):
        hint = (": it is a zip archive, Keras 3's '.keras' format, which load_model reads from a file named "
                "*.keras" if zipfile.is_zipfile(path) else " (no HDF5 signature)")
        raise OSError(f"{path} is not an HDF5 file{hint}")
    try:
        with h5py.File(path, "r") as f:
            check_self_contained(f)
            return reader(f)
    # TypeError and UnicodeError: h5py decoding a damaged string attribute (an unknown encoding, invalid bytes)
    except (OSError, KeyError, RuntimeError, TypeError, UnicodeError) as err:
        raise OSError(f"Cannot read {path}: the file is truncated or corrupt ({err})") from err


def check_regular(path):
    """Refuse, before reading a byte, a path that is not a regular file: a FIFO blocks forever, a device such
    as /dev/zero never ends, a socket cannot be read (os.stat only; symlinks to regular files are fine)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"No file or directory found at {path}") from None
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{path} is a directory: minigraph reads Keras' HDF5 files (.h5), not TensorFlow "
                                f"SavedModel directories")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise OSError(f"{path} is {kind}, not a regular file: refusing to read it (a model or weights file is a "
                      f"regular file)")


def json_attr(f, name):
    if name not in f.attrs:
        return None
    return config_json.loads(attribute(f, name), f"The {name} attribute of {f.file.filename}")


def from_file_config(what, filepath, build, *args):
    """build(*args) for a config read from a file: a config of the wrong structure (a missing key, a list for a
    dict, a reference to a layer that is not there) is a ValueError naming the file, not a KeyError."""
    # a training config's unknown loss, metric or optimizer is a ValueError of compile(): name the file too
    errors = (KeyError, IndexError, TypeError, AttributeError) + (
        (ValueError,) if what in ("training_config", "compile_config") else ())
    try:
        return build(*args)
    except errors as err:
        where = filepath.file.filename if isinstance(filepath, h5py.Group) else os.fspath(filepath)
        raise ValueError(f"The {what} of {where} is not a valid Keras {what} ({type(err).__name__}: {err})"
                         + (" - load_model(..., compile=False) skips it"
                            if what in ("training_config", "compile_config") else "")
                         ) from err


# ------------------------------------------------------------------------------------------------ weight groups
def write_weight_group(group, variables, owner):
    """One Keras 2 weight group: `variables` (named Variables) under their names, listed in weight_names."""
    weight_names = [v.name for v in variables]
    duplicates = sorted(n for n, count in collections.Counter(weight_names).items() if count > 1)
    if duplicates:
        raise ValueError(f"Cannot save {owner}: several of its weights are named {duplicates}; weight names must "
                         f"be unique within a layer (nested models holding layers with the same name?)")
    save_attributes(group, "weight_names", names(weight_names))
    for var in variables:
        group.create_dataset(var.name, data=np.asarray(var.value))


def read_weight_group(group):
    """[(weight name, array)] of a group write_weight_group wrote, in weight_names order."""
    return [(name, weight_value(group, name)) for name in load_attributes(group, "weight_names")]


def count_attributes(group, name):
    """How many entries the list `save_attributes` wrote holds, from the attributes' shapes (nothing read)."""
    def length(key):
        shape = group.attrs.get_id(key).shape
        return int(np.prod(shape)) if shape else 1
    if name in group.attrs:
        return length(name)
    total, i = 0, 0
    while f"{name}{i}" in group.attrs:
        total += length(f"{name}{i}")
        i += 1
    return total


def read_layer_groups(group, max_layers=None, wanted=None):
    """[(layer name, [(weight name, array)])] of a model_weights group, in the file's layer order. A file
    listing more than `max_layers` layers is refused before any is read; a layer not in `wanted` (a set of
    names) is listed with no weights, unread."""
    if "layer_names" not in group.attrs and "layer_names0" not in group.attrs:
        raise ValueError(f"{group.file.filename} holds no Keras weights (no layer_names attribute)")
    if max_layers is not None:
        listed = count_attributes(group, "layer_names")
        if listed > max_layers:
            raise ValueError(f"{group.file.filename} lists {listed} layers in layer_names, far more than the "
                             f"model's (at most {max_layers} accepted): a damaged or hostile file; nothing was read")
    saved = []
    for name in load_attributes(group, "layer_names"):
        if wanted is not None and name not in wanted:
            saved.append((name, []))
            continue
        if name not in group:
            raise ValueError(f"Layer '{name}' is listed in layer_names but the file has no group for it")
        saved.append((name, read_weight_group(group[name])))
    return saved


def read_top_level(group):
    """[(weight name, array)] of the weights the model itself owns (Keras >= 2.13's top_level_model_weights)."""
    top = group.get("top_level_model_weights")
    return read_weight_group(top) if isinstance(top, h5py.Group) else []


def write_layer_groups(group, layers, own=()):
    """Keras' save_weights_to_hdf5_group, given [(layer name, [Variable])] in model.layers order and the
    variables the model itself owns."""
    save_attributes(group, "layer_names", names(name for name, _ in layers))
    group.attrs["backend"] = BACKEND.encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for name, variables in sorted(layers, key=lambda item: item[0]):  # Keras creates the groups in name order
        write_weight_group(group.create_group(name), variables, f"layer '{name}'")
    write_weight_group(group.create_group("top_level_model_weights"), list(own), "the model")
