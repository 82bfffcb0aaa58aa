"""Read the pickled parts of Keras's data set files (imdb/reuters object arrays, CIFAR batches) without
letting a pickle run code: only numpy's array-rebuilding globals are resolved, anything else is refused."""
import io
import pickle
import zipfile

import numpy as np

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's _reconstruct, under numpy 1 and 2 alike
_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load '{module}.{name}' from a data set file: only numpy "
                                         f"arrays are allowed") from None


def load_pickle(path, encoding="ASCII"):
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, encoding=encoding).load()


def load_npz(path):
    """np.load of an .npz as a dict, reading object arrays through the restricted unpickler."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            stream = io.BytesIO(archive.read(member))
            version = np.lib.format.read_magic(stream)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(stream)
            if dtype.hasobject:
                arrays[member[:-4]] = RestrictedUnpickler(stream, encoding="latin1").load()
            else:
                stream.seek(0)
                arrays[member[:-4]] = np.lib.format.read_array(stream, allow_pickle=False)
    return arrays
