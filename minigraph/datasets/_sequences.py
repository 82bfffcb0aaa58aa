"""What imdb and reuters share: their word-index sequences, re-indexed and filtered as Keras does."""
import json

import numpy as np

from minigraph.datasets._remote import fetch


def shuffled(rng, *arrays):
    indices = np.arange(len(arrays[0]))
    rng.shuffle(indices)
    return [a[indices] for a in arrays]


def shift_indices(sequences, start_char, index_from):
    """Prepend start_char (unless None) and add index_from to every word index."""
    head = [] if start_char is None else [start_char]
    return [head + [w + index_from for w in seq] for seq in sequences]


def drop_long(maxlen, sequences, labels):
    """Keep the sequences shorter than maxlen (strictly, as Keras) and their labels."""
    kept = [(seq, label) for seq, label in zip(sequences, labels) if len(seq) < maxlen]
    return [seq for seq, _ in kept], [label for _, label in kept]


def limit_vocabulary(sequences, num_words, skip_top, oov_char):
    """Words outside [skip_top, num_words) become oov_char, or are dropped when oov_char is None."""
    if not num_words:
        num_words = max(max(seq) for seq in sequences if seq)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in seq] for seq in sequences]
    return [[w for w in seq if skip_top <= w < num_words] for seq in sequences]


def as_object_array(sequences):
    out = np.empty(len(sequences), dtype=object)
    out[:] = sequences
    return out


def load_word_index(remote_name, path):
    with open(fetch(remote_name, fname=path)) as f:
        return json.load(f)
