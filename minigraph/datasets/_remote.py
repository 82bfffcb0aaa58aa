"""Where each Keras data set file lives, its hash, and the one call that fetches it through get_file.

The origins and hashes are Keras's own, so the cache (~/.keras/datasets) is shared with Keras. Setting
MINIGRAPH_DATASETS_ORIGIN to a base URL fetches every file as <base>/<file name> instead (a mirror, or
a local server in the tests).
"""
import os

from minigraph.file_utils import get_file

KERAS_STORAGE = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
TORONTO_CIFAR = "https://www.cs.toronto.edu/~kriz/"
ORIGIN_ENV = "MINIGRAPH_DATASETS_ORIGIN"

# file name -> (Keras's origin folder, Keras's hash of the file; None where Keras checks none)
FILES = {
    "mnist.npz": (KERAS_STORAGE, "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    "train-labels-idx1-ubyte.gz": (KERAS_STORAGE, None),
    "train-images-idx3-ubyte.gz": (KERAS_STORAGE, None),
    "t10k-labels-idx1-ubyte.gz": (KERAS_STORAGE, None),
    "t10k-images-idx3-ubyte.gz": (KERAS_STORAGE, None),
    "cifar-10-python.tar.gz": (TORONTO_CIFAR, "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    "cifar-100-python.tar.gz": (TORONTO_CIFAR, "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
    "imdb.npz": (KERAS_STORAGE, "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
    "imdb_word_index.json": (KERAS_STORAGE, "bfafd718b763782e994055a2d397834f"),
    "reuters.npz": (KERAS_STORAGE, "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"),
    "reuters_word_index.json": (KERAS_STORAGE, "4d44cc38712099c9e383dc6e5f11a921"),
    "boston_housing.npz": (KERAS_STORAGE, "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"),
}


def origin_of(remote_name):
    folder, _ = FILES[remote_name]
    base = os.environ.get(ORIGIN_ENV)
    if base:
        folder = base if base.endswith("/") else base + "/"
    return folder + remote_name


def fetch(remote_name, fname=None, **get_file_kwargs):
    """get_file for one of the FILES, cached as `fname` (default: its own name)."""
    _, file_hash = FILES[remote_name]
    return get_file(fname=fname or remote_name, origin=origin_of(remote_name), file_hash=file_hash,
                    **get_file_kwargs)
