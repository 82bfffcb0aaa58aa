"""The Keras 3 weights store: an HDF5 file of `<path>/vars/<i>` datasets (`.weights.h5`, and the
`model.weights.h5` inside a `.keras` zip), as Keras 3's H5IOStore writes it.

    vars/                          attrs {name: <the model's name>}   the model's own variables
    layers/<class>/vars/0, 1, ...  attrs {name: <the layer's name>}   a layer's own variables, creation order
    layers/functional/layers/...                                      a nested model's layers
    optimizer/vars/0, 1, ...       attrs {name: <optimizer name>}     iteration, learning_rate, slots

The root has no attributes. Paths come from the object tree (weights.keras3_paths), not from layer names.
"""
import h5py
import numpy as np

from minigraph.saving import hdf5_store


class VarsWriter:
    """The store one object's save_own_variables fills: "<i>" -> a dataset of the variable's value."""

    def __init__(self, group):
        self.group = group

    def __setitem__(self, key, value):
        self.group.create_dataset(key, data=np.asarray(getattr(value, "value", value)))

    def keys(self):
        return list(self.group.keys())

    def __len__(self):
        return len(self.group)


class VarsReader:
    """The store one object's load_own_variables reads; values are copied out and checked to be numbers."""

    def __init__(self, group, path):
        self.path = path
        self.values = {}
        if group is None:
            return
        for key in group.keys():
            self.values[key] = hdf5_store.weight_value(group, key)

    def __getitem__(self, key):
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"The weights file has no variable {key} at {self.path or '/'}vars") from None

    def keys(self):
        return list(self.values)

    def __len__(self):
        return len(self.values)


def make(h5file, path, name=None):
    """A VarsWriter for the object at `path` ('' for the root), its `vars` group named `name`."""
    group = h5file.require_group(path) if path else h5file
    vars_group = group.create_group("vars")
    if name is not None:
        vars_group.attrs["name"] = name
    return VarsWriter(vars_group)


def read_all(h5file, where=None):
    """{path: VarsReader} for every `vars` group in the file ('' for the root's), values copied out. Errors
    name `where` (by default the file's name)."""
    where = where or h5file.file.filename
    stores = {}

    def visit(name, obj):
        if name.split("/")[-1] != "vars":
            return
        if not isinstance(obj, h5py.Group):
            raise ValueError(f"/{name} is a {type(obj).__name__}, not a group of variables")
        path = name[:-len("vars")].rstrip("/")
        stores[path] = VarsReader(obj, path + "/" if path else "")
    try:
        h5file.visititems(visit)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return stores


def empty(path):
    return VarsReader(None, path + "/" if path else "")


def is_keras3_weights(h5file):
    """True for Keras 3's layout (a root `vars` or `layers` group and no Keras 2 `layer_names`)."""
    keras2 = "layer_names" in h5file.attrs or "layer_names0" in h5file.attrs or "model_weights" in h5file
    return not keras2 and ("vars" in h5file or "layers" in h5file)
