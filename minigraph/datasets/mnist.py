"""keras.datasets.mnist: 70,000 28x28 grayscale digits."""
import numpy as np

from minigraph.datasets._remote import fetch


def load_data(path="mnist.npz"):
    """((x_train, y_train), (x_test, y_test)): uint8 images (60000, 28, 28) / (10000, 28, 28), uint8 labels."""
    path = fetch("mnist.npz", fname=path)
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
