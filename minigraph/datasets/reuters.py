"""keras.datasets.reuters: 11,228 newswires as word-index sequences, labelled with 46 topics."""
import numpy as np

from minigraph.datasets._remote import fetch
from minigraph.datasets._safe_pickle import load_npz
from minigraph.datasets._sequences import (as_object_array, drop_long, limit_vocabulary, load_word_index,
                                           shift_indices, shuffled)

_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply", "coffee", "sugar",
    "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas", "cpi", "money-fx", "interest", "gnp",
    "meal-feed", "alum", "oilseed", "gold", "tin", "strategic-metal", "livestock", "retail", "ipi",
    "iron-steel", "rubber", "heat", "jobs", "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver",
    "wpi", "hog", "lead")


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113,
              start_char=1, oov_char=2, index_from=3):
    """((x_train, y_train), (x_test, y_test)): object arrays of lists of word indices, int topic labels."""
    if not 0 <= test_split < 1:
        raise ValueError(f"reuters.load_data: invalid `test_split` argument: {test_split}. It must be between "
                         f"0 and 1 (exclusive of 1).")
    arrays = load_npz(fetch("reuters.npz", fname=path))
    xs, labels = shuffled(np.random.RandomState(seed), arrays["x"], arrays["y"])
    xs = shift_indices(xs, start_char, index_from)
    if maxlen:
        xs, labels = drop_long(maxlen, xs, labels)
    xs = limit_vocabulary(xs, num_words, skip_top, oov_char)
    cut = int(len(xs) * (1 - test_split))
    labels = np.asarray(labels)
    return (as_object_array(xs[:cut]), np.array(labels[:cut])), (as_object_array(xs[cut:]), np.array(labels[cut:]))


def get_word_index(path="reuters_word_index.json"):
    """The dict word -> index (before index_from is added) of the reuters sequences."""
    return load_word_index("reuters_word_index.json", path)


def get_label_names():
    """The 46 topic names, by label index."""
    return _LABEL_NAMES
