"""keras.datasets.boston_housing: 506 houses, 13 features, price targets (in k$)."""
import numpy as np

from minigraph.datasets._remote import fetch


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """((x_train, y_train), (x_test, y_test)), shuffled with RandomState(seed) before the split (as Keras)."""
    if not 0 <= test_split < 1:
        raise ValueError(f"boston_housing.load_data: invalid `test_split` argument: {test_split}. It must be "
                         f"between 0 and 1 (exclusive of 1).")
    path = fetch("boston_housing.npz", fname=path)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
