"""keras.datasets.imdb: 50,000 movie reviews as word-index sequences, with binary sentiment labels."""
import numpy as np

from minigraph.datasets._remote import fetch
from minigraph.datasets._safe_pickle import load_npz
from minigraph.datasets._sequences import (as_object_array, drop_long, limit_vocabulary, load_word_index,
                                           shift_indices, shuffled)


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3):
    """((x_train, y_train), (x_test, y_test)): object arrays of lists of word indices, int labels."""
    arrays = load_npz(fetch("imdb.npz", fname=path))
    rng = np.random.RandomState(seed)
    x_train, y_train = shuffled(rng, arrays["x_train"], arrays["y_train"])
    x_test, y_test = shuffled(rng, arrays["x_test"], arrays["y_test"])
    x_train = shift_indices(x_train, start_char, index_from)
    x_test = shift_indices(x_test, start_char, index_from)
    if maxlen:
        x_train, y_train = drop_long(maxlen, x_train, y_train)
        x_test, y_test = drop_long(maxlen, x_test, y_test)
        if not x_train or not x_test:
            raise ValueError(f"imdb.load_data: after filtering for sequences shorter than maxlen={maxlen}, no "
                             f"sequence was kept. Increase maxlen.")
    labels = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    sequences = limit_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    cut = len(x_train)
    return ((as_object_array(sequences[:cut]), labels[:cut]),
            (as_object_array(sequences[cut:]), labels[cut:]))


def get_word_index(path="imdb_word_index.json"):
    """The dict word -> index (before index_from is added) of the imdb sequences."""
    return load_word_index("imdb_word_index.json", path)
