"""keras.utils: seeding and one-hot targets."""
import random

import numpy as np

from minigraph import initializers
from minigraph import random as keras_random


def set_random_seed(seed):
    """Seed Python, numpy and minigraph's initializers, and reset the global SeedGenerator that unseeded
    keras.random calls draw from, in one call (as keras.utils.set_random_seed)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Expected `seed` argument to be an integer. Received: seed={seed!r} (of type {type(seed)})")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    initializers.set_seed(seed)
    keras_random.reset_global_seed_generator()


def to_categorical(y, num_classes=None, dtype="float32"):
    y = np.asarray(y, dtype="int64").ravel()
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    out = np.zeros((y.size, num_classes), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out
