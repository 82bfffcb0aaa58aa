"""keras.utils: seeding and one-hot targets."""
import random

import numpy as np

from minigraph import initializers


def set_random_seed(seed):
    """Seed Python, numpy and minigraph's initializers in one call (as keras.utils.set_random_seed)."""
    random.seed(seed)
    np.random.seed(seed)
    initializers.set_seed(seed)


def to_categorical(y, num_classes=None, dtype="float32"):
    y = np.asarray(y, dtype="int64").ravel()
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out
