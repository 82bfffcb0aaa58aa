"""Concrete layers: values against independent numpy references, shapes, configs, gradients, errors."""
import json
import os
import re

import numpy as np
import pytest

import minigraph as keras
from minigraph import ops, registry
from minigraph import layers
from minigraph.autodiff import Tape
from minigraph.layers.base import KerasTensor

DATA = os.path.join(os.path.dirname(__file__), "data")
rng = np.random.default_rng(0)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def built(layer, shape, dtype=np.float32):
    """Build `layer` for an input of `shape` and give it random weights (biases too, so they are tested)."""
    layer.build(shape)
    layer.set_weights([randn(*w.shape, dtype=dtype) for w in layer.weights])
    return layer


# ----------------------------------------------------------------------------------------------- references
def same_pads(n, k, s):
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv2d_ref(x, kernel, bias, strides, padding):
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    if padding == "same":
        x = np.pad(x, ((0, 0), same_pads(x.shape[1], kh, sh), same_pads(x.shape[2], kw, sw), (0, 0)))
    oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            y[:, i, j] = np.tensordot(patch, kernel, axes=([1, 2, 3], [0, 1, 2]))
    return y + bias


def conv2d_transpose_ref(x, kernel, bias, strides, padding, output_padding=None):
    """Scatter each input pixel times the kernel, then crop as TensorFlow's conv2d_backprop_input does."""
    n, h, w, _ = x.shape
    (kh, kw), (sh, sw) = kernel.shape[:2], strides
    full = np.zeros((n, (h - 1) * sh + kh + sh, (w - 1) * sw + kw + sw, kernel.shape[2]))
    for i in range(h):
        for j in range(w):
            full[:, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum("nc,abfc->nabf", x[:, i, j], kernel)

    def out_len(n_, k, s, p):
        if p is None:
            return n_ * s + max(k - s, 0) if padding == "valid" else n_ * s
        return (n_ - 1) * s + k - 2 * (k // 2 if padding == "same" else 0) + p

    pads = output_padding or (None, None)
    oh, ow = out_len(h, kh, sh, pads[0]), out_len(w, kw, sw, pads[1])
    top = max((h - 1) * sh + kh - oh, 0) // 2 if padding == "same" else 0
    left = max((w - 1) * sw + kw - ow, 0) // 2 if padding == "same" else 0
    return full[:, top:top + oh, left:left + ow] + bias


def max_pool_ref(x, pool, strides, padding):
    (ph, pw), (sh, sw) = pool, strides
    if padding == "same":
        x = np.pad(x, ((0, 0), same_pads(x.shape[1], ph, sh), same_pads(x.shape[2], pw, sw), (0, 0)),
                   constant_values=-np.inf)
    oh, ow = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    return np.stack([np.stack([x[:, i * sh:i * sh + ph, j * sw:j * sw + pw].max(axis=(1, 2))
                               for j in range(ow)], 1) for i in range(oh)], 1)


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


# ----------------------------------------------------------------------------------------------- values
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
@pytest.mark.parametrize("activation, fn", [(None, lambda z: z), ("relu", lambda z: np.maximum(z, 0)),
                                            ("softmax", softmax), ("tanh", np.tanh)])
def test_dense_values(shape, activation, fn):
    layer = built(layers.Dense(3, activation=activation), shape)
    x = randn(*shape)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(layer(x), fn(x @ kernel + bias), rtol=1e-5, atol=1e-6)


def test_dense_without_bias():
    layer = built(layers.Dense(3, use_bias=False), (4, 5))
    x = randn(4, 5)
    assert len(layer.weights) == 1
    np.testing.assert_allclose(layer(x), x @ layer.get_weights()[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("strides, padding, shape", [((1, 1), "valid", (2, 7, 6, 3)), ((2, 2), "same", (2, 7, 6, 3)),
                                                     ((2, 1), "valid", (1, 8, 5, 2)), ((1, 2), "same", (1, 4, 4, 2))])
def test_conv2d_values(strides, padding, shape):
    layer = built(layers.Conv2D(4, (3, 2), strides=strides, padding=padding, activation="relu"), shape)
    x = randn(*shape)
    ref = np.maximum(conv2d_ref(x, *layer.get_weights(), strides, padding), 0)
    np.testing.assert_allclose(layer(x), ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("strides, padding, output_padding", [
    ((1, 1), "valid", None), ((2, 2), "valid", None), ((2, 2), "same", None), ((3, 2), "same", (1, 1)),
    ((2, 2), "valid", (1, 0)), ((1, 1), "same", None), ((4, 4), "valid", None)])
def test_conv2d_transpose_values(strides, padding, output_padding):
    layer = built(layers.Conv2DTranspose(3, 3, strides=strides, padding=padding, output_padding=output_padding),
                  (2, 4, 5, 2))
    x = randn(2, 4, 5, 2)
    ref = conv2d_transpose_ref(x, *layer.get_weights(), strides, padding, output_padding)
    out = layer(x)
    assert out.shape == ref.shape == layer.compute_output_shape((2, 4, 5, 2))
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_max_pooling_values():
    x = randn(2, 6, 9, 3)
    default = layers.MaxPooling2D()(x)  # pool (2, 2), strides = pool size
    np.testing.assert_array_equal(default, x[:, :, :8].reshape(2, 3, 2, 4, 2, 3).max(axis=(2, 4)))
    for pool, strides, padding in [((3, 3), None, "valid"), ((3, 2), (2, 1), "valid"), ((3, 3), (2, 2), "same"),
                                   ((2, 2), (3, 3), "same")]:
        out = layers.MaxPooling2D(pool, strides, padding)(x)
        np.testing.assert_array_equal(out, max_pool_ref(x, pool, strides or pool, padding))


@pytest.mark.parametrize("cls, fn", [(layers.GlobalMaxPooling2D, np.max), (layers.GlobalAveragePooling2D, np.mean)])
def test_global_pooling_values(cls, fn):
    x = randn(3, 4, 5, 6)
    np.testing.assert_allclose(cls()(x), fn(x, axis=(1, 2)), rtol=1e-5, atol=1e-6)
    kept = cls(keepdims=True)
    np.testing.assert_allclose(kept(x), fn(x, axis=(1, 2), keepdims=True), rtol=1e-5, atol=1e-6)
    assert kept.compute_output_shape((None, 4, 5, 6)) == (None, 1, 1, 6)


def test_upsampling_values():
    x = randn(2, 3, 4, 5)
    np.testing.assert_array_equal(layers.UpSampling2D((2, 3))(x), np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))


def test_flatten_reshape_activation_values():
    x = randn(2, 3, 4, 5)
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(2, 60))
    np.testing.assert_array_equal(layers.Flatten(data_format="channels_first")(x),
                                  x.transpose(0, 2, 3, 1).reshape(2, 60))
    np.testing.assert_array_equal(layers.Reshape((5, -1))(x), x.reshape(2, 5, 12))
    np.testing.assert_array_equal(layers.Reshape((60,))(x), x.reshape(2, 60))
    np.testing.assert_array_equal(layers.Reshape((-1, 2))(np.zeros((0, 4))), np.zeros((0, 2, 2)))
    np.testing.assert_allclose(layers.Activation("sigmoid")(x), 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_array_equal(layers.Activation("linear")(x), x)


def test_dropout():
    x = randn(200, 50) + 5.0  # no zeros of its own
    layer = layers.Dropout(0.3, seed=1)
    np.testing.assert_array_equal(layer(x), x)  # inference by default, as Keras
    np.testing.assert_array_equal(layer(x, training=False), x)
    out = layer(x, training=True)
    dropped = out == 0
    assert abs(dropped.mean() - 0.3) < 0.02
    np.testing.assert_allclose(out[~dropped], x[~dropped] / 0.7, rtol=1e-6)
    assert out.dtype == x.dtype
    np.testing.assert_array_equal(layers.Dropout(0.3, seed=1)(x, training=True), out)  # seeded: reproducible
    # noise_shape: one mask per sample, shared over the features
    shared = layers.Dropout(0.5, noise_shape=(None, 1), seed=2)(x, training=True)
    assert np.all((shared == 0).all(axis=1) | (shared != 0).all(axis=1))
    np.testing.assert_array_equal(layers.Dropout(0.0)(x, training=True), x)


def test_dropout_gradient_follows_mask():
    x = randn(4, 6)
    dense = built(layers.Dense(6, name="dense_before_dropout"), (4, 6))
    drop = layers.Dropout(0.5, seed=3)
    with Tape() as tape:
        y = drop(dense(x), training=True)
        loss = ops.sum(y)
    _, dbias = tape.gradient(loss, dense.trainable_weights)
    mask = layers.Dropout(0.5, seed=3)(np.ones((4, 6), np.float32), training=True)
    np.testing.assert_allclose(dbias, mask.sum(axis=0), rtol=1e-6)


@pytest.mark.parametrize("name, fn", [("add", lambda a, b, c: a + b + c), ("multiply", lambda a, b, c: a * b * c),
                                      ("average", lambda a, b, c: (a + b + c) / 3),
                                      ("maximum", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
                                      ("minimum", lambda a, b, c: np.minimum(np.minimum(a, b), c))])
def test_elementwise_merges(name, fn):
    xs = [randn(2, 3, 4) for _ in range(3)]
    cls = getattr(layers, name.capitalize())
    np.testing.assert_allclose(cls()(xs), fn(*xs), rtol=1e-6)
    np.testing.assert_allclose(getattr(layers, name)(xs), fn(*xs), rtol=1e-6)  # functional form
    assert cls().compute_output_shape([(None, 3, 4), (None, None, 4), (2, 3, None)]) == (2, 3, 4)


def test_subtract_and_concatenate():
    a, b = randn(2, 3, 4), randn(2, 3, 5)
    np.testing.assert_array_equal(layers.subtract([a, a[..., ::-1]]), a - a[..., ::-1])
    np.testing.assert_array_equal(layers.Concatenate()([a, b]), np.concatenate([a, b], axis=-1))
    np.testing.assert_array_equal(layers.concatenate([a, a], axis=1), np.concatenate([a, a], axis=1))
    np.testing.assert_array_equal(layers.Concatenate(axis=-2)((a, a)), np.concatenate([a, a], axis=-2))
    shape = layers.Concatenate().compute_output_shape([(None, 3, 4), (None, 3, None)])
    assert shape == (None, 3, None)


# ----------------------------------------------------------------------------------------------- symbolic shapes
@pytest.mark.parametrize("make, in_shape, out_shape", [
    (lambda: layers.Dense(7), (None, 5), (None, 7)),
    (lambda: layers.Dense(7), (None, 3, 5), (None, 3, 7)),
    (lambda: layers.Conv2D(16, 3), (None, 28, 28, 1), (None, 26, 26, 16)),
    (lambda: layers.Conv2D(8, 3, strides=2, padding="same"), (None, 28, 27, 1), (None, 14, 14, 8)),
    (lambda: layers.Conv2D(8, (3, 5)), (None, None, 9, 2), (None, None, 5, 8)),
    (lambda: layers.Conv2DTranspose(16, 3), (None, 4, 4, 1), (None, 6, 6, 16)),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, padding="same"), (None, 5, 5, 2), (None, 10, 10, 4)),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=1), (None, 5, 5, 2), (None, 12, 12, 4)),
    (lambda: layers.MaxPooling2D(3), (None, 24, 24, 32), (None, 8, 8, 32)),
    (lambda: layers.MaxPooling2D(2, padding="same"), (None, 5, 5, 3), (None, 3, 3, 3)),
    (lambda: layers.GlobalMaxPooling2D(), (None, 8, 8, 16), (None, 16)),
    (lambda: layers.GlobalAveragePooling2D(keepdims=True), (None, 8, 8, 16), (None, 1, 1, 16)),
    (lambda: layers.UpSampling2D(3), (None, 8, 8, 32), (None, 24, 24, 32)),
    (lambda: layers.Flatten(), (None, 4, 4, 2), (None, 32)),
    (lambda: layers.Flatten(), (None, None, 2), (None, None)),
    (lambda: layers.Reshape((4, 4, 1)), (None, 16), (None, 4, 4, 1)),
    (lambda: layers.Reshape((-1, 4)), (None, 16), (None, 4, 4)),
    (lambda: layers.Reshape((-1, 4)), (None, None), (None, None, 4)),
    (lambda: layers.Activation("relu"), (None, 3, 3), (None, 3, 3)),
    (lambda: layers.Dropout(0.5), (None, 3), (None, 3)),
])
def test_symbolic_shapes(make, in_shape, out_shape):
    layer = make()
    out = layer(KerasTensor(in_shape))
    assert isinstance(out, KerasTensor) and out.shape == out_shape
    assert layer.output_shape == out_shape


def test_symbolic_merges():
    a, b = KerasTensor((None, 4, 3)), KerasTensor((None, 4, 5))
    assert layers.add([a, a]).shape == (None, 4, 3)
    assert layers.concatenate([a, b]).shape == (None, 4, 8)
    merged = layers.Concatenate(axis=1)
    assert merged([a, a]).shape == (None, 8, 3)
    assert [t.shape for t in merged._inbound_nodes[0].inputs] == [(None, 4, 3), (None, 4, 3)]


def test_parameter_counts_and_weight_names():
    x = KerasTensor((None, 28, 28, 1))
    c1, c2 = layers.Conv2D(16, 3, name="conv2d"), layers.Conv2D(32, 3, name="conv2d_1")
    c2(c1(x))
    deconv = layers.Conv2DTranspose(1, 3, name="conv2d_transpose_3")
    deconv(KerasTensor((None, 26, 26, 16)))
    dense = layers.Dense(64, name="dense")
    dense(KerasTensor((None, 784)))
    assert (c1.count_params(), c2.count_params(), deconv.count_params(), dense.count_params()) == (160, 4640, 145,
                                                                                                  50240)
    assert [w.name for w in c1.weights] == ["conv2d/kernel:0", "conv2d/bias:0"]
    assert [w.shape for w in deconv.weights] == [(3, 3, 1, 16), (1,)]
    assert [w.shape for w in c2.weights] == [(3, 3, 16, 32), (32,)]


def test_default_names_follow_keras():
    # counters are per process: only the stem is checked
    for layer, stem in [(layers.Conv2D(1, 1), "conv2d"), (layers.Conv2DTranspose(1, 1), "conv2d_transpose"),
                        (layers.MaxPooling2D(), "max_pooling2d"), (layers.UpSampling2D(), "up_sampling2d"),
                        (layers.GlobalAveragePooling2D(), "global_average_pooling2d")]:
        assert re.fullmatch(rf"{stem}(_\d+)?", layer.name), layer.name


# ----------------------------------------------------------------------------------------------- configs
ROUND_TRIP = [
    (lambda: layers.Dense(3, activation="relu", name="rt_dense", input_shape=(5,)), (4, 5)),
    (lambda: layers.Dense(3, use_bias=False, kernel_initializer="he_normal", name="rt_dense_nb"), (4, 2, 5)),
    (lambda: layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="tanh", name="rt_conv"), (2, 7, 6, 3)),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, output_padding=1, name="rt_deconv"), (2, 4, 4, 3)),
    (lambda: layers.MaxPooling2D((3, 2), strides=(1, 2), padding="same", name="rt_pool"), (2, 6, 6, 3)),
    (lambda: layers.GlobalMaxPooling2D(keepdims=True, name="rt_gmp"), (2, 4, 4, 3)),
    (lambda: layers.GlobalAveragePooling2D(name="rt_gap"), (2, 4, 4, 3)),
    (lambda: layers.UpSampling2D((1, 2), name="rt_up"), (2, 3, 3, 2)),
    (lambda: layers.Flatten(name="rt_flatten"), (2, 3, 3, 2)),
    (lambda: layers.Reshape((-1, 3), name="rt_reshape"), (2, 3, 3, 2)),
    (lambda: layers.Activation("softmax", name="rt_act"), (2, 5)),
    (lambda: layers.Dropout(0.25, noise_shape=(None, 1), seed=3, name="rt_drop"), (2, 5)),
    (lambda: layers.Add(name="rt_add"), [(2, 3), (2, 3)]),
    (lambda: layers.Subtract(name="rt_sub"), [(2, 3), (2, 3)]),
    (lambda: layers.Average(name="rt_avg"), [(2, 3), (2, 3), (2, 3)]),
    (lambda: layers.Concatenate(axis=1, name="rt_cat"), [(2, 3), (2, 4)]),
]


@pytest.mark.parametrize("make, shape", ROUND_TRIP)
def test_config_round_trip(make, shape):
    layer = make()
    x = [randn(*s) for s in shape] if isinstance(shape, list) else randn(*shape)
    y = layer(x)
    config = layer.get_config()
    # through JSON, as a saved model stores it: tuples come back as lists
    clone = registry.deserialize(json.loads(json.dumps(registry.serialize(layer))))
    assert type(clone) is type(layer)
    assert json.dumps(clone.get_config()) == json.dumps(config)
    assert type(layer).from_config(config).get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x), y)


def test_dense_config_keys():
    config = layers.Dense(2, name="keys_dense", input_shape=(3,)).get_config()
    assert set(config) == {"name", "trainable", "dtype", "units", "activation", "use_bias", "kernel_initializer",
                           "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                           "kernel_constraint", "bias_constraint", "batch_input_shape"}
    assert config["kernel_initializer"] == {"class_name": "GlorotUniform", "config": {"seed": None}}
    assert layers.Dense(4.0, name="float_units").get_config()["units"] == 4  # Keras takes int(units)
    assert config["bias_initializer"] == {"class_name": "Zeros", "config": {}}
    assert tuple(config["batch_input_shape"]) == (None, 3)


def _keras_model(name):
    h5py = pytest.importorskip("h5py")
    with h5py.File(os.path.join(DATA, f"{name}.h5"), "r") as f:
        config = json.loads(f["/"].attrs["model_config"])
        weights = {key: [f["model_weights"][key][key][w][()] for w in ("kernel:0", "bias:0")]
                   for key in f["model_weights"] if key in f["model_weights"][key]}
    return config["config"]["layers"][1:], weights


def _strip(config):
    """Keras 2.13+ adds 'module' and 'registered_name' to nested objects; they carry no meaning here."""
    config = json.loads(json.dumps(config))
    return {k: {"class_name": v["class_name"], "config": v["config"]} if isinstance(v, dict) and "class_name" in v
            else v for k, v in config.items()}


@pytest.mark.parametrize("model", ["encoder", "decoder", "mnist_model"])
def test_keras_configs_and_predictions(model):
    """Each layer from the config Keras wrote gives that config back, and with Keras' weights the layers
    chained by hand reproduce Keras' predictions."""
    layer_configs, weights = _keras_model(model)
    reference = np.load(os.path.join(DATA, f"{model}.npz"))
    x = reference["x0"][:4]
    for entry in layer_configs:
        layer = registry.deserialize({"class_name": entry["class_name"], "config": entry["config"]})
        assert _strip(layer.get_config()) == _strip(entry["config"])
        layer.build(x.shape)
        if layer.name in weights:
            layer.set_weights(weights[layer.name])
        x = layer(x)
    np.testing.assert_allclose(x, reference["pred0"][:4], atol=1e-5)


def test_from_config_accepts_keras3_and_refuses_what_changes_the_computation():
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}, "registered_name": None}
    layer = layers.Dense.from_config({"name": "k3_dense", "units": 2, "dtype": policy, "lora_rank": None,
                                      "kernel_initializer": {"module": "keras.initializers", "class_name": "Ones",
                                                             "config": {}, "registered_name": None}})
    assert layer.dtype == "float64"
    np.testing.assert_array_equal(layer(np.ones((1, 3))), [[3.0, 3.0]])
    with pytest.raises(ValueError, match="lora_rank"):
        layers.Dense.from_config({"name": "k3_lora", "units": 2, "lora_rank": 4})
    with pytest.raises(ValueError, match="mixed_float16"):
        layers.Conv2D.from_config({"name": "k3_mixed", "filters": 2, "kernel_size": 3,
                                   "dtype": {"class_name": "Policy", "config": {"name": "mixed_float16"}}})
    with pytest.raises(ValueError, match="k3_dilated.*dilation_rate"):
        layers.Conv2DTranspose.from_config({"name": "k3_dilated", "filters": 2, "kernel_size": 3,
                                            "dilation_rate": [2, 2], "strides": [2, 2]})
    regularized = layers.Dense.from_config({"name": "k3_reg", "units": 2, "kernel_regularizer": {
        "module": "keras.regularizers", "class_name": "L2", "config": {"l2": 0.01}, "registered_name": None}})
    assert regularized.get_config()["kernel_regularizer"] == {"class_name": "L2",
                                                              "config": {"l2": 0.009999999776482582}}


def test_custom_activation_through_custom_objects():
    def cube(x):
        return ops.multiply(x, ops.multiply(x, x))
    layer = layers.Activation(cube, name="cubed")
    config = json.loads(json.dumps(registry.serialize(layer)))
    assert config["config"]["activation"] == "cube"
    clone = registry.deserialize(config, custom_objects={"cube": cube})
    np.testing.assert_allclose(clone(np.array([[2.0]])), [[8.0]])


# ----------------------------------------------------------------------------------------------- gradients
def _finite_difference_check(layer, x):
    r = rng.standard_normal(layer(x).shape)

    def loss_value():
        return float(np.sum(np.asarray(layer(x)) * r))

    with Tape() as tape:
        loss = ops.sum(ops.multiply(layer(x), r))
    grads = tape.gradient(loss, layer.trainable_weights)
    eps = 1e-6
    for var, grad in zip(layer.trainable_weights, grads):
        numeric = np.zeros_like(var.value)
        for idx in np.ndindex(var.shape):
            old = var.value[idx]
            var.value[idx] = old + eps
            up = loss_value()
            var.value[idx] = old - eps
            numeric[idx] = (up - loss_value()) / (2 * eps)
            var.value[idx] = old
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=var.name)


def test_dense_gradient():
    layer = built(layers.Dense(3, activation="tanh", dtype="float64", name="grad_dense"), (4, 5), np.float64)
    _finite_difference_check(layer, randn(4, 5, dtype=np.float64))


def test_conv2d_gradient():
    layer = built(layers.Conv2D(2, 3, strides=2, padding="same", activation="tanh", dtype="float64",
                                name="grad_conv"), (2, 5, 6, 3), np.float64)
    _finite_difference_check(layer, randn(2, 5, 6, 3, dtype=np.float64))


def test_conv2d_transpose_gradient():
    layer = built(layers.Conv2DTranspose(2, 3, strides=2, dtype="float64", name="grad_deconv"), (1, 3, 3, 2),
                  np.float64)
    _finite_difference_check(layer, randn(1, 3, 3, 2, dtype=np.float64))


# ----------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make, match", [
    (lambda: layers.Dense(0, name="e_units"), r"'e_units'.*units.*0"),
    (lambda: layers.Dense(-3, name="e_neg"), r"'e_neg'.*units.*-3"),
    (lambda: layers.Dense(2.5, name="e_float"), r"'e_float'.*units.*2.5"),
    (lambda: layers.Dense(4, activation="swishy", name="e_act"), r"'e_act'.*activation.*'swishy'"),
    (lambda: layers.Dense(4, kernel_initializer="nope", name="e_init"), r"'e_init'.*kernel_initializer.*'nope'"),
    (lambda: layers.Dense(4, dtype="mixed_float16", name="e_dtype"), r"'e_dtype'.*mixed_float16"),
    (lambda: layers.Dense(4, kernel_constraint="non_negative", name="e_cons"), r"'e_cons'.*kernel_constraint.*'non_negative'"),
    (lambda: layers.Conv2D(0, 3, name="e_filters"), r"'e_filters'.*filters"),
    (lambda: layers.Conv2D(4, 0, name="e_ksize"), r"'e_ksize'.*kernel_size"),
    (lambda: layers.Conv2D(4, (3, 3, 3), name="e_ksize3"), r"'e_ksize3'.*kernel_size"),
    (lambda: layers.Conv2D(4, 3, strides=0, name="e_strides"), r"'e_strides'.*strides"),
    (lambda: layers.Conv2D(4, 3, padding="full", name="e_pad"), r"'e_pad'.*'full'"),
    (lambda: layers.Conv2D(4, 3, data_format="channels_first", name="e_df"), r"'e_df'.*channels_first"),
    (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2, name="e_dil"), r"'e_dil'.*dilation_rate"),
    (lambda: layers.Conv2D(4, 3, groups=3, name="e_groups"), r"'e_groups'.*groups=3 must divide filters=4"),
    (lambda: layers.Conv2D(4, 3, activity_regularizer="l3", name="e_areg"), r"'e_areg'.*activity_regularizer.*'l3'"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2, name="e_op"), r"'e_op'.*output_padding"),
    (lambda: layers.MaxPooling2D(padding="causal", name="e_mp"), r"'e_mp'.*'causal'"),
    (lambda: layers.MaxPooling2D(0, name="e_mp0"), r"'e_mp0'.*pool_size"),
    (lambda: layers.UpSampling2D(interpolation="bicubic", name="e_up"), r"'e_up'.*bicubic"),
    (lambda: layers.UpSampling2D(0, name="e_up0"), r"'e_up0'.*size"),
    (lambda: layers.GlobalMaxPooling2D(data_format="channels_first", name="e_gdf"), r"'e_gdf'.*channels_first"),
    (lambda: layers.Dropout(1.5, name="e_rate"), r"'e_rate'.*rate.*1.5"),
    (lambda: layers.Reshape((0, 4), name="e_rs0"), r"'e_rs0'.*target_shape"),
    (lambda: layers.Reshape((-1, -1), name="e_rs2"), r"'e_rs2'.*target_shape"),
    # negative sizes, unknown names, numbers no C integer holds, NaN: each names the layer and the argument
    (lambda: layers.Conv2D(-4, 3, name="e_negf"), r"'e_negf'.*filters.*-4"),
    (lambda: layers.Conv2DTranspose(-1, 3, name="e_tnegf"), r"'e_tnegf'.*filters.*-1"),
    (lambda: layers.Conv2D(4, -3, name="e_negk"), r"'e_negk'.*kernel_size.*-3"),
    (lambda: layers.Conv2D(4, 2.5, name="e_fk"), r"'e_fk'.*kernel_size.*2.5"),
    (lambda: layers.MaxPooling2D(2.5, name="e_fpool"), r"'e_fpool'.*pool_size.*2.5"),
    (lambda: layers.UpSampling2D((2, 1.5), name="e_fup"), r"'e_fup'.*size.*1.5"),
    (lambda: layers.Conv2D(4, 3, activation="swishy", name="e_cact"), r"'e_cact'.*activation.*'swishy'"),
    (lambda: layers.Conv2DTranspose(4, 3, padding="full", name="e_tpad"), r"'e_tpad'.*padding.*'full'"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=-1, name="e_opneg"), r"'e_opneg'.*output_padding"),
    (lambda: layers.Conv2D(4, 3, strides=2**70, name="e_huge"), r"'e_huge'.*strides.*2\*\*31"),
    (lambda: layers.MaxPooling2D(2, strides=-1, name="e_mps"), r"'e_mps'.*strides.*-1"),
    (lambda: layers.MaxPooling2D((2, 0), name="e_mp20"), r"'e_mp20'.*pool_size"),
    (lambda: layers.UpSampling2D(-2, name="e_upneg"), r"'e_upneg'.*size.*-2"),
    (lambda: layers.Activation("nope", name="e_actl"), r"'e_actl'.*activation.*'nope'"),
    (lambda: layers.Dense(float("nan"), name="e_nan"), r"'e_nan'.*units.*nan"),
    (lambda: layers.Dense(float("inf"), name="e_inf"), r"'e_inf'.*units.*inf"),
    (lambda: layers.Concatenate(axis="a", name="e_axis"), r"'e_axis'.*axis.*'a'"),
    (lambda: keras.Input(shape=(3,), dtype="complex64", name="e_cplx"), r"'e_cplx'.*dtype.*complex64"),
    (lambda: keras.Input(shape=(3,), dtype="string", name="e_str"), r"'e_str'.*dtype.*string"),
])
def test_argument_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def _call_twice(layer, first, second):
    layer(KerasTensor(first))
    layer(KerasTensor(second))


@pytest.mark.parametrize("call, match", [
    (lambda: layers.Conv2D(4, 3, name="s_rank")(KerasTensor((None, 28, 28))), r"'s_rank'.*rank 4.*\(None, 28, 28\)"),
    (lambda: layers.Conv2D(4, 5, name="s_big")(KerasTensor((None, 3, 8, 1))),
     r"'s_big'.*kernel_size \(5, 5\).*\(None, 3, 8, 1\)"),
    (lambda: layers.Conv2D(4, 3, name="s_none")(KerasTensor((None, 8, 8, None))),
     r"'s_none'.*channel.*\(None, 8, 8, None\)"),
    (lambda: _call_twice(layers.Conv2D(4, 3, name="s_ch"), (None, 8, 8, 3), (None, 8, 8, 4)),
     r"'s_ch'.*3.*\(None, 8, 8, 4\)"),
    (lambda: _call_twice(layers.Conv2DTranspose(4, 3, name="s_tch"), (None, 8, 8, 3), (None, 8, 8, 2)),
     r"'s_tch'.*3.*\(None, 8, 8, 2\)"),
    (lambda: _call_twice(layers.Dense(4, name="s_dense"), (None, 5), (None, 6)), r"'s_dense'.*5.*\(None, 6\)"),
    (lambda: layers.Dense(4, name="s_dnone")(KerasTensor((None, None))), r"'s_dnone'.*\(None, None\)"),
    (lambda: layers.Dense(4, name="s_drank")(KerasTensor((None,))), r"'s_drank'.*rank.*\(None,\)"),
    (lambda: layers.MaxPooling2D(4, name="s_pool")(KerasTensor((None, 3, 3, 1))),
     r"'s_pool'.*pool_size \(4, 4\).*\(None, 3, 3, 1\)"),
    (lambda: layers.MaxPooling2D((2, 4), name="s_pool1")(KerasTensor((None, 3, 3, 1))),
     r"'s_pool1'.*pool_size \(2, 4\).*\(None, 3, 3, 1\)"),
    (lambda: layers.MaxPooling2D(4, name="s_pool_eager")(np.zeros((2, 3, 3, 1), np.float32)),
     r"'s_pool_eager'.*pool_size \(4, 4\).*\(None, 3, 3, 1\)"),
    (lambda: layers.Conv2D(1, 4, name="s_conv_eager")(np.zeros((2, 3, 5, 1), np.float32)),
     r"'s_conv_eager'.*kernel_size \(4, 4\).*\((None|2), 3, 5, 1\)"),
    (lambda: layers.UpSampling2D(name="s_up")(KerasTensor((None, 3, 3))), r"'s_up'.*rank 4.*\(None, 3, 3\)"),
    (lambda: layers.GlobalAveragePooling2D(name="s_gap")(KerasTensor((None, 3))), r"'s_gap'.*\(None, 3\)"),
    (lambda: layers.Reshape((4, 4, 2), name="s_rs")(KerasTensor((None, 16))), r"'s_rs'.*\(None, 16\).*\(4, 4, 2\)"),
    (lambda: layers.Reshape((-1, 3), name="s_rs1")(KerasTensor((None, 16))), r"'s_rs1'.*\(None, 16\).*\(-1, 3\)"),
    (lambda: layers.Dropout(0.5, noise_shape=(None, 2), name="s_noise")(KerasTensor((None, 3))),
     r"'s_noise'.*\(None, 2\).*\(None, 3\)"),
    (lambda: layers.Add(name="s_add")([KerasTensor((None, 3)), KerasTensor((None, 4))]),
     r"'s_add'.*\(None, 3\), \(None, 4\)"),
    (lambda: layers.Add(name="s_addr")([KerasTensor((None, 3)), KerasTensor((None, 3, 1))]),
     r"'s_addr'.*\(None, 3\), \(None, 3, 1\)"),
    (lambda: layers.Add(name="s_eager")([np.zeros((2, 3)), np.zeros((3, 3))]), r"'s_eager'.*\(2, 3\), \(3, 3\)"),
    (lambda: layers.Add(name="s_single")(KerasTensor((None, 3))), r"'s_single'.*list"),
    (lambda: layers.Subtract(name="s_sub3")([KerasTensor((None, 3))] * 3), r"'s_sub3'.*exactly 2.*3"),
    (lambda: layers.Concatenate(name="s_cat")([KerasTensor((None, 3, 4)), KerasTensor((None, 2, 4))]),
     r"'s_cat'.*axis -1.*\(None, 3, 4\), \(None, 2, 4\)"),
    (lambda: layers.Concatenate(axis=3, name="s_cat_ax")([KerasTensor((None, 3)), KerasTensor((None, 3))]),
     r"'s_cat_ax'.*axis 3"),
])
def test_shape_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
