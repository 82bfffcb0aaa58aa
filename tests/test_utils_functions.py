"""pad_sequences, normalize, to_categorical and split_dataset against what Keras 3 returned
(tests/data/keras3_utils_reference.json, made by tests/data/make_keras3_utils_reference.py)."""
import json
import os

import numpy as np
import pytest

import minigraph as keras

with open(os.path.join(os.path.dirname(__file__), "data", "keras3_utils_reference.json")) as _f:
    REFERENCE = json.load(_f)


def expected(name, case):
    return _decode(REFERENCE[name][case])


def _decode(ref):
    if isinstance(ref, list):
        return [_decode(r) for r in ref]
    return np.array(ref["values"], dtype=ref["dtype"]).reshape(ref["shape"])


def assert_same(result, want):
    assert result.dtype == want.dtype and result.shape == want.shape, (result.dtype, result.shape, want.shape)
    np.testing.assert_array_equal(result, want)


SEQS = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], []]


@pytest.mark.parametrize("case, kwargs, sequences", [
    ("default", {}, SEQS),
    ("post_post_maxlen3", dict(maxlen=3, padding="post", truncating="post"), SEQS),
    ("pre_post_maxlen4_value", dict(maxlen=4, padding="pre", truncating="post", value=-1), SEQS),
    ("float32", dict(dtype="float32", value=0.25), [[0.5, 1.5], [2.5]]),
    ("samples_2d", dict(maxlen=3), [[[1, 2], [3, 4]], [[5, 6]]]),
])
def test_pad_sequences_as_keras(case, kwargs, sequences):
    assert_same(keras.utils.pad_sequences(sequences, **kwargs), expected("pad_sequences", case))


def test_pad_sequences_bad_input():
    with pytest.raises(ValueError, match="padding"):
        keras.utils.pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        keras.utils.pad_sequences(SEQS, truncating="middle")
    with pytest.raises(ValueError, match="non-iterable"):
        keras.utils.pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="position 1"):
        keras.utils.pad_sequences([[[1, 2]], [[1, 2, 3]]])
    with pytest.raises(ValueError, match="dtype=object"):
        keras.utils.pad_sequences([["a"]], value="x")
    with pytest.raises(ValueError, match="maxlen"):
        keras.utils.pad_sequences(SEQS, maxlen=-1)
    assert keras.utils.pad_sequences([["ab", "c"]], dtype=object, value="", maxlen=3).tolist() == [["", "ab", "c"]]


X = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])


@pytest.mark.parametrize("case, args", [
    ("l2_last", (X,)),
    ("l1_last", (X, -1, 1)),
    ("l2_axis0", (np.array([[3.0, 1.0], [4.0, 1.0], [0.0, 1.0]]), -2)),
    ("rank3", (np.arange(24, dtype="float64").reshape(2, 3, 4) - 11,)),
])
def test_normalize_as_keras(case, args):
    np.testing.assert_allclose(keras.utils.normalize(*args), expected("normalize", case), rtol=1e-15)


def test_normalize_first_axis_and_errors():
    # axis=0 means axis 0 (Keras 3 turns 0 into -1 on numpy input: `axis or -1`)
    x = np.array([[3.0, 1.0], [4.0, 1.0]])
    np.testing.assert_allclose(keras.utils.normalize(x, axis=0), x / np.array([[5.0, np.sqrt(2)]]))
    with pytest.raises(ValueError, match="axis"):
        keras.utils.normalize(x, axis=2)
    with pytest.raises(ValueError, match="scalar"):
        keras.utils.normalize(3.0)


@pytest.mark.parametrize("case, args", [
    ("flat", ([0, 2, 1, 2],)),
    ("num_classes", (np.array([1, 0, 3]), 5)),
    ("column", (np.array([[1], [0], [2]]),)),
    ("matrix", (np.array([[1, 0], [2, 1]]),)),
    ("scalar_list", ([3], 4)),
])
def test_to_categorical_as_keras(case, args):
    assert_same(keras.utils.to_categorical(*args), expected("to_categorical", case))


def test_to_categorical_dtype_and_bad_labels():
    out = keras.utils.to_categorical([1, 0], 3, dtype="float32")  # tf.keras 2's keyword
    assert out.dtype == np.float32 and out.tolist() == [[0, 1, 0], [1, 0, 0]]
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        keras.utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="-1"):
        keras.utils.to_categorical([0, -1], num_classes=3)
    with pytest.raises(ValueError, match="whole numbers"):
        keras.utils.to_categorical([0.5, 1])
    with pytest.raises(ValueError, match="num_classes"):
        keras.utils.to_categorical([0, 1], num_classes=-2)


DATA = np.arange(20).reshape(10, 2)
LABELS = np.arange(10) * 10


@pytest.mark.parametrize("case, dataset, kwargs", [
    ("left_float", DATA, {"left_size": 0.7}),
    ("right_int", DATA, {"right_size": 3}),
    ("both", (DATA, LABELS), {"left_size": 4, "right_size": 3}),
    ("shuffled", (DATA, LABELS), {"left_size": 0.6, "shuffle": True, "seed": 42}),
    ("rounding", DATA, {"left_size": 0.25, "right_size": 0.35}),
])
def test_split_dataset_as_keras(case, dataset, kwargs):
    left, right = keras.utils.split_dataset(dataset, **kwargs)
    want_left, want_right = expected("split_dataset", case)
    if isinstance(dataset, tuple):
        assert isinstance(left, tuple) and isinstance(right, tuple)
        for got, want in zip(left + right, want_left + want_right):
            assert_same(got, want)
    else:
        assert_same(left, want_left)
        assert_same(right, want_right)


def test_split_dataset_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        keras.utils.split_dataset(DATA)
    with pytest.raises(ValueError, match="left_size"):
        keras.utils.split_dataset(DATA, left_size=10)
    with pytest.raises(ValueError, match="right_size"):
        keras.utils.split_dataset(DATA, right_size=1.5)
    with pytest.raises(ValueError, match="greater than 1"):
        keras.utils.split_dataset(DATA, left_size=0.6, right_size=0.5)
    with pytest.raises(ValueError, match="at most"):
        keras.utils.split_dataset(DATA, left_size=6, right_size=5)
    with pytest.raises(ValueError, match="empty"):
        keras.utils.split_dataset(DATA, left_size=0.01)
    with pytest.raises(TypeError, match="left_size"):
        keras.utils.split_dataset(DATA, left_size="half")
    with pytest.raises(ValueError, match="same number of samples"):
        keras.utils.split_dataset((DATA, LABELS[:5]), left_size=2)
    with pytest.raises(TypeError, match="dataset"):
        keras.utils.split_dataset({"x": DATA}, left_size=2)
