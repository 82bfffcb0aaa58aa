"""keras.datasets.fashion_mnist: 70,000 28x28 grayscale images of clothes, in MNIST's IDX files."""
import gzip
import os

import numpy as np

from minigraph.datasets._remote import fetch

_FILES = ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
          "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]
_LABEL_HEADER_BYTES, _IMAGE_HEADER_BYTES = 8, 16


def load_data():
    """((x_train, y_train), (x_test, y_test)): uint8 images (60000, 28, 28) / (10000, 28, 28), uint8 labels."""
    paths = [fetch(name, cache_subdir=os.path.join("datasets", "fashion-mnist")) for name in _FILES]

    def read(path, offset):
        with gzip.open(path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    y_train = read(paths[0], _LABEL_HEADER_BYTES)
    x_train = read(paths[1], _IMAGE_HEADER_BYTES).reshape(len(y_train), 28, 28)
    y_test = read(paths[2], _LABEL_HEADER_BYTES)
    x_test = read(paths[3], _IMAGE_HEADER_BYTES).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
