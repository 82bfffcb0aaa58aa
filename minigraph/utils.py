"""keras.utils: seeding, one-hot targets, and the custom-object helpers tf.keras keeps here."""
import random

import numpy as np

from minigraph import initializers
from minigraph.registry import (CustomObjectScope, custom_object_scope, get_custom_objects,  # noqa: F401
                                get_registered_name, register_keras_serializable)


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
