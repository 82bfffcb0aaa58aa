"""keras.utils: seeding, one-hot targets, and the custom-object helpers tf.keras keeps here."""
import random

import numpy as np

from minigraph import initializers
from minigraph import random as keras_random
from minigraph.registry import (CustomObjectScope, custom_object_scope, get_custom_objects,  # noqa: F401
                                get_registered_name, register_keras_serializable)


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


# keras.utils names that live in their own modules
from minigraph.data_adapters import PyDataset, Sequence  # noqa: E402
from minigraph.dataset_utils import split_dataset  # noqa: E402
from minigraph.file_utils import get_file  # noqa: E402
from minigraph.numerical_utils import normalize, to_categorical  # noqa: E402
from minigraph.plotting import model_to_dot, plot_model  # noqa: E402
from minigraph.sequence_utils import pad_sequences  # noqa: E402
