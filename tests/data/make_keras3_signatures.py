"""Record the parameters (names and defaults) of the Keras 3 functions minigraph mirrors in keras.utils and
keras.datasets, into tests/data/keras3_signatures.json.

Run with the oracle python: /work/oracle/bin/python tests/data/make_keras3_signatures.py
"""
import inspect
import json
import os

import keras

FUNCTIONS = {
    "utils.get_file": keras.utils.get_file,
    "utils.pad_sequences": keras.utils.pad_sequences,
    "utils.normalize": keras.utils.normalize,
    "utils.to_categorical": keras.utils.to_categorical,
    "utils.split_dataset": keras.utils.split_dataset,
    "utils.plot_model": keras.utils.plot_model,
    "utils.model_to_dot": keras.utils.model_to_dot,
    "utils.PyDataset.__init__": keras.utils.PyDataset.__init__,
    "datasets.mnist.load_data": keras.datasets.mnist.load_data,
    "datasets.fashion_mnist.load_data": keras.datasets.fashion_mnist.load_data,
    "datasets.cifar10.load_data": keras.datasets.cifar10.load_data,
    "datasets.cifar100.load_data": keras.datasets.cifar100.load_data,
    "datasets.imdb.load_data": keras.datasets.imdb.load_data,
    "datasets.imdb.get_word_index": keras.datasets.imdb.get_word_index,
    "datasets.reuters.load_data": keras.datasets.reuters.load_data,
    "datasets.reuters.get_word_index": keras.datasets.reuters.get_word_index,
    "datasets.boston_housing.load_data": keras.datasets.boston_housing.load_data,
}


def describe(fn):
    params = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        params.append([p.name, None if p.default is p.empty else repr(p.default)])
    return params


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras3_signatures.json")
    with open(out, "w") as f:
        json.dump({"keras_version": keras.__version__, **{k: describe(v) for k, v in FUNCTIONS.items()}}, f,
                  indent=1)
    print("wrote", out)
