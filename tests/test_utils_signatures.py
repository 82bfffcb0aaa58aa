"""keras.utils and keras.datasets take Keras 3's parameters with Keras 3's defaults
(tests/data/keras3_signatures.json, made by tests/data/make_keras3_signatures.py)."""
import inspect
import json
import os

import pytest

import minigraph as keras

with open(os.path.join(os.path.dirname(__file__), "data", "keras3_signatures.json")) as _f:
    KERAS = json.load(_f)

# Deliberate differences, each with its reason.
DIFFERENCES = {
    # tf.keras 2's argument, kept so its code runs (Keras 3 always returns float64, as minigraph does by default)
    "utils.to_categorical": {"added": {"dtype": "'float64'"}},
    # Keras 3 picks the tf.data or torch Dataset it returns; minigraph returns numpy arrays
    "utils.split_dataset": {"removed": {"preferred_backend"}},
    # tf.keras 2's default (layer names shown), as minigraph's brief asks; Keras 3 changed it to False
    "utils.plot_model": {"changed": {"show_layer_names": "True"}},
}


def resolve(name):
    obj = keras
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def described(fn):
    return [[p.name, None if p.default is p.empty else repr(p.default)]
            for p in inspect.signature(fn).parameters.values() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


@pytest.mark.parametrize("name", [k for k in KERAS if k != "keras_version"])
def test_parameters_and_defaults_are_keras_3s(name):
    expected = [list(p) for p in KERAS[name]]
    change = DIFFERENCES.get(name, {})
    expected = [p for p in expected if p[0] not in change.get("removed", ())]
    expected = [[n, change.get("changed", {}).get(n, d)] for n, d in expected]
    expected += [[n, d] for n, d in change.get("added", {}).items()]
    assert described(resolve(name)) == expected
