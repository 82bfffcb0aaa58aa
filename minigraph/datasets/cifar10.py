"""keras.datasets.cifar10: 60,000 32x32 colour images in 10 classes."""
import os

import numpy as np

from minigraph.datasets._cifar import as_column, channels_last, fetch_extracted, load_batch

_TRAIN_BATCHES = 5


def load_data():
    """((x_train, y_train), (x_test, y_test)): uint8 images (50000, 32, 32, 3) / (10000, 32, 32, 3) and
    uint8 labels of shape (n, 1)."""
    folder = fetch_extracted("cifar-10-python.tar.gz", "cifar-10-batches-py-target", "cifar-10-batches-py")
    parts = [load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, _TRAIN_BATCHES + 1)]
    x_train = np.concatenate([data for data, _ in parts]).astype("uint8")
    y_train = as_column([label for _, labels in parts for label in labels], "uint8")
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    return ((channels_last(x_train), y_train),
            (channels_last(x_test.astype("uint8")), as_column(y_test, "uint8")))
