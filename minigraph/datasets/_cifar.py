"""What CIFAR-10 and CIFAR-100 share: their python-pickle batch files, turned into channels_last arrays."""
import os

import numpy as np

from minigraph.datasets._remote import fetch
from minigraph.datasets._safe_pickle import load_pickle


def fetch_extracted(archive_name, folder_name, inner_folder):
    """The unpacked folder of one CIFAR archive (cached and unpacked as Keras 3 does)."""
    return os.path.join(fetch(archive_name, fname=folder_name, extract=True), inner_folder)


def load_batch(fpath, label_key="labels"):
    """(data (n, 3, 32, 32) uint8, labels list) from one CIFAR batch file."""
    batch = {key.decode("utf8"): value for key, value in load_pickle(fpath, encoding="bytes").items()}
    data = batch["data"]
    return data.reshape(data.shape[0], 3, 32, 32), batch[label_key]


def channels_last(images):
    return images.transpose(0, 2, 3, 1)


def as_column(labels, dtype=None):
    labels = np.asarray(labels) if dtype is None else np.asarray(labels, dtype=dtype)
    return labels.reshape(len(labels), 1)
