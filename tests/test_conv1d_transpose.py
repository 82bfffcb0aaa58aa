"""Conv1DTranspose: values and gradients against Keras 3 (tests/data/conv1d_transpose_reference.npz, made by
tests/data/make_conv1d_transpose_reference.py), gradients by finite differences in float64, the layer
harness, .h5 and .keras round trips, Keras 3's config keys and bad arguments."""
import json
import os

import numpy as np
import pytest

import minigraph as keras
from minigraph import layers, ops
from kernel_reference import numeric_grads_in_place
from minigraph.autodiff import Tape, Variable
from layer_harness import check_layer

REFERENCE = np.load(os.path.join(os.path.dirname(__file__), "data", "conv1d_transpose_reference.npz"))
CASES = json.loads(str(REFERENCE["cases"]))


def _gradients(layer, x, dy):
    """d sum(layer(x) * dy) / d (x, kernel[, bias])."""
    x = Variable(np.array(x))
    with Tape() as tape:
        loss = ops.sum(ops.multiply(layer.call(x), dy))  # call: the layer's __call__ takes x as a constant
    return tape.gradient(loss, [x] + list(layer.trainable_weights))


@pytest.mark.parametrize("i", range(len(CASES)))
def test_outputs_and_gradients_match_keras3(i):
    case = CASES[i]
    layer = layers.Conv1DTranspose(**case)
    x = REFERENCE[f"x_{i}"]
    layer.build(x.shape)
    weights = [REFERENCE[f"kernel_{i}"]] + ([REFERENCE[f"bias_{i}"]] if f"bias_{i}" in REFERENCE else [])
    layer.set_weights(weights)
    y = np.asarray(layer(x))
    assert y.shape == REFERENCE[f"y_{i}"].shape
    assert tuple(layer.compute_output_shape((None,) + x.shape[1:]))[1:] == y.shape[1:]
    np.testing.assert_allclose(y, REFERENCE[f"y_{i}"], rtol=1e-5, atol=1e-5)
    grads = _gradients(layer, x, REFERENCE[f"dy_{i}"])
    names = ["dx", "dkernel", "dbias"][:len(grads)]
    for name, grad in zip(names, grads):
        np.testing.assert_allclose(np.asarray(grad), REFERENCE[f"{name}_{i}"], rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("kwargs", [
    {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "output_padding": 1, "activation": "tanh"},
    {"filters": 3, "kernel_size": 2, "dilation_rate": 2},
    {"filters": 2, "kernel_size": 3, "activation": "relu"},
])
def test_gradients_by_finite_differences_in_float64(kwargs):
    rng = np.random.default_rng(1)
    layer = layers.Conv1DTranspose(dtype="float64", **kwargs)
    x = rng.standard_normal((2, 4, 3))
    layer.build(x.shape)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    dy = rng.standard_normal(np.asarray(layer(x)).shape)
    grads = _gradients(layer, x, dy)

    def loss():
        return float(np.sum(np.asarray(layer(x)) * dy))

    numeric = numeric_grads_in_place(loss, [x] + [v.value for v in layer.trainable_weights])
    for grad, want in zip(grads, numeric):
        np.testing.assert_allclose(np.asarray(grad), want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kwargs, shape, out_shape, n", [
    ({"filters": 3, "kernel_size": 3, "strides": 2}, (2, 5, 2), (None, 11, 3), 2),
    ({"filters": 2, "kernel_size": 4, "strides": 2, "padding": "same", "output_padding": 1, "use_bias": False,
      "activation": "relu"}, (2, 4, 3), (None, 7, 2), 1),
    ({"filters": 2, "kernel_size": 2, "dilation_rate": 2, "kernel_regularizer": "l2",
      "bias_constraint": "non_neg"}, (2, 3, 2), (None, 5, 2), 2),
])
def test_through_the_harness(kwargs, shape, out_shape, n, tmp_path):
    check_layer(layers.Conv1DTranspose, kwargs, shape, expected_output_shape=out_shape, expected_trainable=n,
                tmp_path=tmp_path, rtol=1e-5, atol=1e-6)


def test_saves_and_loads_in_keras_format_with_keras3_config(tmp_path):
    inputs = keras.Input((6, 2))
    outputs = layers.Conv1DTranspose(4, 3, strides=2, padding="same", output_padding=1, name="up")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(2).standard_normal((2, 6, 2)).astype("float32")
    expected = model.predict(x, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(str(tmp_path / name))
        loaded = keras.models.load_model(str(tmp_path / name))
        assert isinstance(loaded.get_layer("up"), layers.Conv1DTranspose)
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
    import zipfile
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        config = json.loads(archive.read("config.json"))
    (up,) = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv1DTranspose"]
    # the keys Keras 3.15.1 writes for Conv1DTranspose (no groups)
    assert set(up["config"]) == {"name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
                                 "output_padding", "data_format", "dilation_rate", "activation", "use_bias",
                                 "kernel_initializer", "bias_initializer", "kernel_regularizer",
                                 "bias_regularizer", "activity_regularizer", "kernel_constraint",
                                 "bias_constraint"}
    assert up["config"]["output_padding"] == [1] and up["config"]["kernel_size"] == [3]


def test_in_keras_layers_with_keras_names_and_defaults():
    assert keras.layers.Conv1DTranspose is keras.layers.Convolution1DTranspose
    layer = keras.layers.Conv1DTranspose(2, 3)
    assert layer.name.startswith("conv1d_transpose")
    config = layer.get_config()
    assert (config["strides"], config["padding"], config["output_padding"], config["dilation_rate"],
            config["data_format"], config["activation"]) == ((1,), "valid", None, (1,), "channels_last", "linear")
    layer.build((None, 5, 4))
    assert layer.kernel.shape == (3, 2, 4) and layer.bias.shape == (2,)


@pytest.mark.parametrize("make, match", [
    (lambda: layers.Conv1DTranspose(2, 3, strides=2, output_padding=2, name="t1_op"), r"'t1_op'.*output_padding"),
    (lambda: layers.Conv1DTranspose(2, 3, strides=2, dilation_rate=2, name="t1_sd"), r"'t1_sd'.*strides.*dilation"),
    (lambda: layers.Conv1DTranspose(2, 3, padding="causal", name="t1_pad"), r"'t1_pad'.*padding.*'causal'"),
    (lambda: layers.Conv1DTranspose(2, 3, groups=2, name="t1_g"), r"'t1_g'.*groups"),
    (lambda: layers.Conv1DTranspose(2, 3, data_format="channels_first", name="t1_df"), r"'t1_df'.*channels_first"),
    (lambda: layers.Conv1DTranspose(2, 3, name="t1_rank")(keras.Input((4, 5, 2))), r"'t1_rank'.*\(None, 4, 5, 2\)"),
])
def test_bad_arguments_raise_naming_the_layer(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
