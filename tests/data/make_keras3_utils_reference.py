"""Make the small data set files of tests/data/datasets/ and what Keras 3 returns for them.

Run with the oracle python (Keras 3, TensorFlow): /work/oracle/bin/python tests/data/make_keras3_utils_reference.py

1. Writes tiny files in the formats of Keras's data sets (mnist.npz, the fashion-mnist IDX files, the CIFAR
   python-pickle archives, imdb.npz / reuters.npz with ragged object arrays, boston_housing.npz, the word
   index JSONs) under tests/data/datasets/.
2. Loads each through Keras 3's own loaders (keras.datasets.*, with get_file pointed at those files) and
   calls keras.utils.pad_sequences / normalize / to_categorical / split_dataset on a few inputs, takes the
   node labels Keras 3's plot_model draws for a small model (make_layer_label), and stores the results
   in tests/data/keras3_utils_reference.json: the tests compare minigraph's answers to them.
"""
import gzip
import io
import json
import os
import pickle
import tarfile
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "datasets")


def encode(value):
    """JSON form of a result: arrays keep dtype and shape; object arrays of lists become lists."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"object_list": [list(map(int, v)) for v in value]}
        return {"dtype": value.dtype.name, "shape": list(value.shape), "values": value.ravel().tolist()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def write_files(rng):
    os.makedirs(OUT, exist_ok=True)
    files = {}
    np.savez(os.path.join(OUT, "mnist.npz"), x_train=rng.randint(0, 256, (6, 28, 28)).astype("uint8"),
             y_train=rng.randint(0, 10, 6).astype("uint8"), x_test=rng.randint(0, 256, (3, 28, 28)).astype("uint8"),
             y_test=rng.randint(0, 10, 3).astype("uint8"))
    files["mnist.npz"] = "mnist.npz"

    def idx(data, header):
        with gzip.GzipFile(fileobj=(buf := io.BytesIO()), mode="wb", mtime=0) as f:
            f.write(header + data.tobytes())
        return buf.getvalue()
    for prefix, n in (("train", 5), ("t10k", 2)):
        labels = rng.randint(0, 10, n).astype("uint8")
        images = rng.randint(0, 256, (n, 28, 28)).astype("uint8")
        for kind, data, header in (("labels-idx1", labels, b"\0\0\x08\x01" + n.to_bytes(4, "big")),
                                   ("images-idx3", images, b"\0\0\x08\x03" + n.to_bytes(4, "big") +
                                    (28).to_bytes(4, "big") * 2)):
            name = f"{prefix}-{kind}-ubyte.gz"
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(idx(data, header))

    def ragged(count, vocab):
        out = np.empty(count, dtype=object)
        out[:] = [list(map(int, rng.randint(1, vocab, rng.randint(1, 13)))) for _ in range(count)]
        return out
    np.savez(os.path.join(OUT, "imdb.npz"), x_train=ragged(10, 40), y_train=rng.randint(0, 2, 10),
             x_test=ragged(6, 40), y_test=rng.randint(0, 2, 6))
    np.savez(os.path.join(OUT, "reuters.npz"), x=ragged(15, 50), y=rng.randint(0, 46, 15))
    np.savez(os.path.join(OUT, "boston_housing.npz"), x=rng.rand(20, 13) * 100, y=rng.rand(20) * 40 + 10)
    for name in ("imdb_word_index.json", "reuters_word_index.json"):
        with open(os.path.join(OUT, name), "w") as f:
            json.dump({"the": 1, "and": 2, "a": 3, name.split("_")[0]: 4}, f)

    def cifar_tar(path, top, batches):
        with tarfile.open(path, "w:gz") as archive:
            for name, batch in batches.items():
                data = pickle.dumps({k.encode(): v for k, v in batch.items()}, protocol=4)
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    cifar_tar(os.path.join(OUT, "cifar-10-python.tar.gz"), "cifar-10-batches-py", {
        name: {"data": rng.randint(0, 256, (2, 3072)).astype("uint8"), "labels": list(map(int, rng.randint(0, 10, 2))),
               "batch_label": b"x"}
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]})
    cifar_tar(os.path.join(OUT, "cifar-100-python.tar.gz"), "cifar-100-python", {
        name: {"data": rng.randint(0, 256, (n, 3072)).astype("uint8"),
               "fine_labels": list(map(int, rng.randint(0, 100, n))),
               "coarse_labels": list(map(int, rng.randint(0, 20, n)))}
        for name, n in (("train", 4), ("test", 2))})


def keras_results():
    import keras
    from keras.src.datasets.cifar import load_batch
    from keras.src.datasets import (boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist,  # noqa: F401
                                    reuters)

    extracted = tempfile.mkdtemp()

    def local_get_file(fname=None, origin=None, extract=False, **kwargs):
        name = origin.rsplit("/", 1)[1]
        path = os.path.join(OUT, name)
        if extract:
            target = os.path.join(extracted, name)
            with tarfile.open(path) as archive:
                archive.extractall(target, filter="data")
            return target
        return path
    for module in (boston_housing, cifar10, cifar100, fashion_mnist, imdb, mnist, reuters):
        module.get_file = local_get_file

    results = {
        "mnist": mnist.load_data(),
        "fashion_mnist": fashion_mnist.load_data(),
        # cifar10.load_data assumes the full 50,000 images: its batches through Keras's own load_batch
        "cifar10_batches": {name: load_batch(os.path.join(local_get_file(origin="/cifar-10-python.tar.gz",
                                                                         extract=True), "cifar-10-batches-py", name))
                            for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]},
        "cifar100_fine": cifar100.load_data("fine"),
        "cifar100_coarse": cifar100.load_data("coarse"),
        "boston_housing": boston_housing.load_data(),
        "boston_housing_split_seed": boston_housing.load_data(test_split=0.3, seed=7),
        "imdb": imdb.load_data(),
        "imdb_options": imdb.load_data(num_words=20, skip_top=5, maxlen=9, seed=3, start_char=None,
                                       oov_char=None, index_from=0),
        "imdb_oov": imdb.load_data(num_words=25, skip_top=4, seed=1, start_char=7, oov_char=9, index_from=5),
        "imdb_word_index": imdb.get_word_index(),
        "reuters": reuters.load_data(),
        "reuters_options": reuters.load_data(num_words=30, skip_top=3, maxlen=10, test_split=0.4, seed=5,
                                             oov_char=None),
        "reuters_word_index": reuters.get_word_index(),
    }

    u = keras.utils
    seqs = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], []]
    results["pad_sequences"] = {
        "default": u.pad_sequences(seqs),
        "post_post_maxlen3": u.pad_sequences(seqs, maxlen=3, padding="post", truncating="post"),
        "pre_post_maxlen4_value": u.pad_sequences(seqs, maxlen=4, padding="pre", truncating="post", value=-1),
        "float32": u.pad_sequences([[0.5, 1.5], [2.5]], dtype="float32", value=0.25),
        "samples_2d": u.pad_sequences([[[1, 2], [3, 4]], [[5, 6]]], maxlen=3),
    }
    x = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    results["normalize"] = {
        "l2_last": u.normalize(x), "l1_last": u.normalize(x, order=1),
        "l2_axis0": u.normalize(np.array([[3.0, 1.0], [4.0, 1.0], [0.0, 1.0]]), axis=-2),
        "rank3": u.normalize(np.arange(24, dtype="float64").reshape(2, 3, 4) - 11),
    }
    results["to_categorical"] = {
        "flat": u.to_categorical([0, 2, 1, 2]),
        "num_classes": u.to_categorical(np.array([1, 0, 3]), num_classes=5),
        "column": u.to_categorical(np.array([[1], [0], [2]])),
        "matrix": u.to_categorical(np.array([[1, 0], [2, 1]])),
        "scalar_list": u.to_categorical([3], num_classes=4),
    }
    data = np.arange(20).reshape(10, 2)
    labels = np.arange(10) * 10

    def as_arrays(split):
        rows = list(split.as_numpy_iterator())
        if isinstance(rows[0], tuple):
            return [np.stack([r[i] for r in rows]) for i in range(len(rows[0]))]
        return np.stack(rows)
    results["split_dataset"] = {
        name: [as_arrays(s) for s in u.split_dataset(dataset, **kwargs)]
        for name, dataset, kwargs in (
            ("left_float", data, {"left_size": 0.7}),
            ("right_int", data, {"right_size": 3}),
            ("both", (data, labels), {"left_size": 4, "right_size": 3}),
            ("shuffled", (data, labels), {"left_size": 0.6, "shuffle": True, "seed": 42}),
            ("rounding", data, {"left_size": 0.25, "right_size": 0.35}),
        )
    }
    results["plot_labels"] = plot_labels(keras)
    return results


def plot_labels(keras):
    """Keras 3's node labels (make_layer_label needs no pydot) for a small model, by flag set and layer."""
    from keras.src.utils.model_visualization import make_layer_label
    inp = keras.Input((8,), name="inp")
    a = keras.layers.Dense(4, activation="relu", name="a")(inp)
    b = keras.layers.Dense(4, name="b")(inp)
    c = keras.layers.Add(name="add")([a, b])
    frozen = keras.layers.Dense(2, name="frozen")
    frozen.trainable = False
    model = keras.Model(inp, frozen(c), name="plotted")
    flag_sets = {
        "default": dict(show_shapes=False, show_dtype=False, show_layer_names=True, show_layer_activations=False,
                        show_trainable=False),
        "everything": dict(show_shapes=True, show_dtype=True, show_layer_names=True, show_layer_activations=True,
                           show_trainable=True),
        "shapes_no_names": dict(show_shapes=True, show_dtype=False, show_layer_names=False,
                                show_layer_activations=False, show_trainable=False),
    }
    return {flags: {layer.name: make_layer_label(layer, **options) for layer in model.layers}
            for flags, options in flag_sets.items()}


if __name__ == "__main__":
    write_files(np.random.RandomState(0))
    with open(os.path.join(HERE, "keras3_utils_reference.json"), "w") as f:
        json.dump(encode(keras_results()), f, indent=None, separators=(",", ":"))
    print("wrote", OUT, "and keras3_utils_reference.json")
