"""keras.datasets on small files in Keras's formats, served from a loopback HTTP server.

tests/data/datasets/ holds the files and tests/data/keras3_utils_reference.json what Keras 3's own loaders
returned for them (made by tests/data/make_keras3_utils_reference.py).
"""
import collections
import hashlib
import json
import os
import pickle
import urllib.error
import urllib.request

import numpy as np
import pytest

import minigraph as keras
from minigraph.datasets import _remote
from minigraph.file_utils import DownloadError
from loopback_server import closed_port_url, serve

DATA = os.path.join(os.path.dirname(__file__), "data")
FILES_DIR = os.path.join(DATA, "datasets")
with open(os.path.join(DATA, "keras3_utils_reference.json")) as _f:
    REFERENCE = json.load(_f)


def decode(ref):
    if isinstance(ref, list):
        return [decode(r) for r in ref]
    if isinstance(ref, dict) and "object_list" in ref:
        return ref["object_list"]
    if isinstance(ref, dict) and "dtype" in ref:
        return np.array(ref["values"], dtype=ref["dtype"]).reshape(ref["shape"])
    return ref


def assert_same(result, ref):
    """result (nested tuples of arrays) equals Keras's, dtypes and shapes included."""
    if isinstance(ref, dict) and "object_list" in ref:
        assert isinstance(result, np.ndarray) and result.dtype == object and result.ndim == 1
        assert [list(seq) for seq in result] == ref["object_list"]
    elif isinstance(ref, dict) and "dtype" in ref:
        expected = decode(ref)
        assert result.dtype == expected.dtype and result.shape == expected.shape
        np.testing.assert_array_equal(result, expected)
    else:
        assert len(result) == len(ref)
        for r, e in zip(result, ref):
            assert_same(r, e)


def _served_files():
    return {name: open(os.path.join(FILES_DIR, name), "rb").read() for name in os.listdir(FILES_DIR)}


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Serve the small files as the data set origin, with their hashes in place of Keras's."""
    files = _served_files()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    for name, body in files.items():
        folder, keras_hash = _remote.FILES[name]
        if keras_hash is not None:  # check what Keras checks, with the small file's hash
            algorithm = hashlib.sha256 if len(keras_hash) == 64 else hashlib.md5
            monkeypatch.setitem(_remote.FILES, name, (folder, algorithm(body).hexdigest()))
    with serve(files) as (base, server):
        monkeypatch.setenv(_remote.ORIGIN_ENV, base)
        yield server


@pytest.mark.parametrize("name, load", [
    ("mnist", lambda: keras.datasets.mnist.load_data()),
    ("fashion_mnist", lambda: keras.datasets.fashion_mnist.load_data()),
    ("cifar100_fine", lambda: keras.datasets.cifar100.load_data()),
    ("cifar100_coarse", lambda: keras.datasets.cifar100.load_data(label_mode="coarse")),
    ("boston_housing", lambda: keras.datasets.boston_housing.load_data()),
    ("boston_housing_split_seed", lambda: keras.datasets.boston_housing.load_data(test_split=0.3, seed=7)),
    ("imdb", lambda: keras.datasets.imdb.load_data()),
    ("imdb_options", lambda: keras.datasets.imdb.load_data(num_words=20, skip_top=5, maxlen=9, seed=3,
                                                           start_char=None, oov_char=None, index_from=0)),
    ("imdb_oov", lambda: keras.datasets.imdb.load_data(num_words=25, skip_top=4, seed=1, start_char=7, oov_char=9,
                                                       index_from=5)),
    ("reuters", lambda: keras.datasets.reuters.load_data()),
    ("reuters_options", lambda: keras.datasets.reuters.load_data(num_words=30, skip_top=3, maxlen=10,
                                                                 test_split=0.4, seed=5, oov_char=None)),
])
def test_loaders_return_what_keras_returns(mirror, name, load):
    assert_same(load(), REFERENCE[name])


def test_cifar10_is_keras_batches_channels_last(mirror):
    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    batches = REFERENCE["cifar10_batches"]
    train = [decode(batches[f"data_batch_{i}"]) for i in range(1, 6)]
    expected_x = np.concatenate([data for data, _ in train]).transpose(0, 2, 3, 1)
    expected_y = np.array([label for _, labels in train for label in labels], dtype="uint8").reshape(-1, 1)
    assert x_train.dtype == np.uint8 and x_train.shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(x_train, expected_x)
    assert y_train.dtype == np.uint8 and y_train.shape == (10, 1)
    np.testing.assert_array_equal(y_train, expected_y)
    test_data, test_labels = decode(batches["test_batch"])
    np.testing.assert_array_equal(x_test, test_data.transpose(0, 2, 3, 1))
    assert y_test.dtype == np.uint8
    np.testing.assert_array_equal(y_test, np.array(test_labels).reshape(-1, 1))


def test_word_indices_and_label_names(mirror):
    assert keras.datasets.imdb.get_word_index() == REFERENCE["imdb_word_index"]
    assert keras.datasets.reuters.get_word_index() == REFERENCE["reuters_word_index"]
    names = keras.datasets.reuters.get_label_names()
    assert len(names) == 46 and names[3] == "earn"


def test_cached_under_keras_home_as_keras_lays_it_out(mirror, tmp_path):
    keras.datasets.mnist.load_data()
    keras.datasets.fashion_mnist.load_data()
    keras.datasets.cifar10.load_data()
    requests = list(mirror.requests)
    keras.datasets.mnist.load_data()
    keras.datasets.fashion_mnist.load_data()
    keras.datasets.cifar10.load_data()
    assert mirror.requests == requests  # all served from the cache the second time
    datasets = tmp_path / "keras_home" / "datasets"
    assert (datasets / "mnist.npz").is_file()
    assert sorted(os.listdir(datasets / "fashion-mnist")) == sorted(
        ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz"])
    assert (datasets / "cifar-10-batches-py-target_archive").is_file()
    assert (datasets / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "test_batch").is_file()


def test_keras_hash_refuses_a_different_file(tmp_path, monkeypatch):
    """With Keras's real mnist hash, the small stand-in file is refused and nothing is cached."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with serve(_served_files()) as (base, _):
        monkeypatch.setenv(_remote.ORIGIN_ENV, base)
        with pytest.raises(ValueError) as err:
            keras.datasets.mnist.load_data()
    assert base + "mnist.npz" in str(err.value)
    assert _remote.FILES["mnist.npz"][1] in str(err.value)
    assert os.listdir(tmp_path / "datasets") == []


def test_offline_error_says_what_to_download_from_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv(_remote.ORIGIN_ENV, raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError) as err:
        keras.datasets.mnist.load_data()
    message = str(err.value)
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz" in message
    assert str(tmp_path / "datasets" / "mnist.npz") in message
    assert os.listdir(tmp_path / "datasets") == []


def test_offline_mirror_names_the_mirror_url(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    base = closed_port_url()
    monkeypatch.setenv(_remote.ORIGIN_ENV, base)
    with pytest.raises(DownloadError, match=base + "cifar-100-python.tar.gz"):
        keras.datasets.cifar100.load_data()


def test_a_pickle_that_is_not_a_numpy_array_is_refused(mirror, tmp_path):
    x = np.empty(2, dtype=object)
    x[:] = [collections.OrderedDict(a=1), [1, 2]]
    np.savez(tmp_path / "evil.npz", x_train=x, y_train=np.zeros(2), x_test=x, y_test=np.zeros(2))
    mirror.files["imdb.npz"] = (tmp_path / "evil.npz").read_bytes()
    keras_hash = hashlib.sha256(mirror.files["imdb.npz"]).hexdigest()
    _remote.FILES["imdb.npz"] = (_remote.FILES["imdb.npz"][0], keras_hash)  # restored by the fixture
    with pytest.raises(pickle.UnpicklingError, match="collections.OrderedDict"):
        keras.datasets.imdb.load_data(path="evil.npz")


def test_bad_arguments(mirror):
    with pytest.raises(ValueError, match="label_mode"):
        keras.datasets.cifar100.load_data(label_mode="medium")
    with pytest.raises(ValueError, match="test_split"):
        keras.datasets.boston_housing.load_data(test_split=1.0)
    with pytest.raises(ValueError, match="test_split"):
        keras.datasets.reuters.load_data(test_split=-0.1)
    with pytest.raises(ValueError, match="maxlen"):
        keras.datasets.imdb.load_data(maxlen=1)
    with pytest.raises(TypeError, match="nb_words"):
        keras.datasets.imdb.load_data(nb_words=10)
