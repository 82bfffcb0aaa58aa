"""keras.utils.split_dataset for numpy data: an array, or a tuple/list of arrays with one sample axis."""
import random

import numpy as np


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """(left, right): the first left_size samples and the last right_size ones, in the input's structure.

    Sizes are sample counts (int) or fractions of the data (float in (0, 1)); the one left out is the
    rest. shuffle=True shuffles the samples first, with Python's random.Random(seed).shuffle: the order
    Keras gets from random.seed(seed); random.shuffle(samples).
    """
    arrays, structure = _as_arrays(dataset)
    if left_size is None and right_size is None:
        raise ValueError("split_dataset: at least one of `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    total = len(arrays[0])
    left, right = _split_sizes(left_size, right_size, total)
    order = list(range(total))
    if shuffle:
        random.Random(random.randint(0, int(1e6)) if seed is None else seed).shuffle(order)
    order = np.asarray(order, dtype=np.intp)
    left_index, right_index = order[:left], order[total - right:]
    return (_restore([a[left_index] for a in arrays], structure),
            _restore([a[right_index] for a in arrays], structure))


def _as_arrays(dataset):
    if isinstance(dataset, np.ndarray):
        arrays, structure = [dataset], None
    elif isinstance(dataset, (list, tuple)) and dataset and all(
            isinstance(a, np.ndarray) or hasattr(a, "__array__") for a in dataset):
        arrays, structure = [np.asarray(a) for a in dataset], type(dataset)
    else:
        raise TypeError(f"split_dataset: `dataset` must be a numpy array or a list/tuple of arrays. Received: "
                        f"dataset of type {type(dataset).__name__}")
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("split_dataset: every array needs a sample axis; got a scalar")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"split_dataset: the arrays must have the same number of samples, got lengths "
                         f"{[len(a) for a in arrays]}")
    return arrays, structure


def _restore(arrays, structure):
    return arrays[0] if structure is None else structure(arrays)


def _split_sizes(left_size, right_size, total):
    """Keras's rules: ints are counts in (0, total), floats fractions in (0, 1) rounded to counts."""
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(f"split_dataset: invalid `{name}` type. Expected: int or float or None, "
                            f"Received: type({name})={type(size)}")
        if type(size) is int and not 0 < size < total or type(size) is float and not 0 < size < 1:
            raise ValueError(f"split_dataset: `{name}` should be either a positive integer smaller than {total}, "
                             f"or a float within the range (0, 1). Received: {name}={size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("split_dataset: the sum of `left_size` and `right_size` is greater than 1. It must be "
                         "less than or equal to 1.")
    left = round(left_size * total) if type(left_size) is float else left_size
    right = round(right_size * total) if type(right_size) is float else right_size
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"split_dataset: the sum of `left_size` and `right_size` should be at most the number "
                         f"of samples, {total}. Received: left_size + right_size = {left + right}")
    for side, size in (("left", left), ("right", right)):
        if size == 0:
            raise ValueError(f"split_dataset: with {total} samples, left_size={left} and right_size={right}, the "
                             f"{side} side split would be empty. Adjust the sizes.")
    return int(left), int(right)
