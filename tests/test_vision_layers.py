"""The normalization, vision, activation, regularization and preprocessing layers (issue 13): values against
tf_keras 2.21 (tests/data/vision_reference.npz, made by tests/data/make_vision_reference.py), gradients against
finite differences, every layer through the layer harness, Keras's training-mode rules, and bad input."""
import json
import os

import numpy as np
import pytest

import minigraph as keras
from minigraph import activations, layers
from minigraph.autodiff import Tape, Variable
from minigraph.layers import _vision_ops as vops
from minigraph import ops_activations
from layer_harness import check_layer

REF = np.load(os.path.join(os.path.dirname(__file__), "data", "vision_reference.npz"))
CASES = json.loads(str(REF["cases"]))
TRANSPOSED = np.load(os.path.join(os.path.dirname(__file__), "data", "conv_transpose_dilated.npz"))
TRANSPOSED_CASES = json.loads(str(TRANSPOSED["cases"]))


def _build(case):
    config = dict(case["config"])
    return getattr(layers, case["class_name"])(**config)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_layer_matches_keras(case):
    name = case["name"]
    layer = _build(case)
    x = REF[f"{name}/x"]
    layer.build(x.shape)
    n = sum(1 for k in REF.files if k.startswith(f"{name}/w"))
    assert len(layer.weights) == n
    if n:
        layer.set_weights([REF[f"{name}/w{j}"] for j in range(n)])
    y = layer(x, training=case["training"])
    np.testing.assert_allclose(np.asarray(y), REF[f"{name}/y"], rtol=1e-5, atol=1e-5)
    for j, w in enumerate(layer.get_weights()):  # BatchNormalization's moving averages after the call
        np.testing.assert_allclose(w, REF[f"{name}/after{j}"], rtol=1e-5, atol=1e-6, err_msg=f"{name} weight {j}")


def _transposed_layer(case, dtype="float32"):
    """The case's Conv2DTranspose with Keras 3's weights (tests/data/make_conv_transpose_dilated.py)."""
    name = case["name"]
    layer = layers.Conv2DTranspose(**case["config"], dtype=dtype)
    layer.build(TRANSPOSED[f"{name}/x"].shape)
    layer.set_weights([TRANSPOSED[f"{name}/{w}"] for w in ("kernel", "bias") if f"{name}/{w}" in TRANSPOSED])
    return layer


@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=[c["name"] for c in TRANSPOSED_CASES])
def test_conv2d_transpose_with_dilation_matches_keras3(case):
    layer = _transposed_layer(case)
    x = TRANSPOSED[f"{case['name']}/x"]
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y, TRANSPOSED[f"{case['name']}/y"], rtol=1e-5, atol=1e-5)
    assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + y.shape[1:]
    config = layer.get_config()
    assert config["dilation_rate"] == layers.Conv2DTranspose.from_config(config).dilation_rate != (1, 1)


@pytest.mark.parametrize("case", TRANSPOSED_CASES, ids=[c["name"] for c in TRANSPOSED_CASES])
def test_gradients_of_dilated_conv2d_transpose(case):
    """The layer's gradients for its input, kernel and bias against central differences, in float64."""
    layer = _transposed_layer(case, "float64")
    x = TRANSPOSED[f"{case['name']}/x"].astype(np.float64)
    params = layer.trainable_weights
    # the differences perturb x and the layer's own weight buffers in place
    weights, expected = _numeric_grads(lambda x, *_: np.asarray(layer(x)), [x] + [p.value for p in params])
    x_var = Variable(x.copy())
    with Tape() as tape:
        traced = keras.ops.multiply(x_var, 1.0)  # a layer reads a Variable input as its value: trace it first
        loss = keras.ops.sum(keras.ops.multiply(layer(traced), weights))
    for got, want in zip(tape.gradient(loss, [x_var] + params), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["relu6", "swish", "silu", "gelu", "hard_sigmoid", "elu", "selu", "softplus",
                                  "softsign", "exponential", "leaky_relu"])
def test_activation_matches_keras(name):
    x = REF["activations/x"]
    np.testing.assert_allclose(activations.get(name)(x), REF[f"activations/{name}"], rtol=1e-6, atol=1e-6)
    assert activations.serialize(activations.get(name)) == ("swish" if name == "silu" else name)
    assert layers.Dense(2, activation=name).get_config()["activation"] == ("swish" if name == "silu" else name)


def test_normalization_adapt_matches_keras():
    layer = layers.Normalization(axis=-1)
    layer.adapt(REF["adapt/x"])
    for j, w in enumerate(layer.get_weights()):
        np.testing.assert_allclose(w, REF[f"adapt/w{j}"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer(REF["adapt/x"]), REF["adapt/y"], rtol=1e-5, atol=1e-5)
    assert [w.name for w in layer.weights] == ["normalization/mean:0", "normalization/variance:0",
                                               "normalization/count:0"] or all(
        w.name.split("/")[-1] in ("mean:0", "variance:0", "count:0") for w in layer.weights)


# ------------------------------------------------------------------------------------------------ the harness
HARNESS = [
    (layers.BatchNormalization, {}, (4, 5, 5, 3), (None, 5, 5, 3), 2, 2),
    (layers.BatchNormalization, {"axis": 1, "center": False}, (4, 3, 2), (None, 3, 2), 1, 2),
    (layers.LayerNormalization, {"axis": [1, 2]}, (3, 4, 5), (None, 4, 5), 2, 0),
    (layers.GroupNormalization, {"groups": 2}, (3, 4, 4, 4), (None, 4, 4, 4), 2, 0),
    (layers.UnitNormalization, {}, (3, 5), (None, 5), 0, 0),
    (layers.DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 2, "padding": "same"}, (2, 5, 5, 3),
     (None, 5, 5, 6), 2, 0),
    (layers.DepthwiseConv2D, {"kernel_size": 2, "dilation_rate": 2, "activation": "relu6"}, (2, 5, 6, 2),
     (None, 3, 4, 2), 2, 0),
    (layers.SeparableConv2D, {"filters": 4, "kernel_size": 3, "strides": 2, "activation": "relu"}, (2, 7, 7, 3),
     (None, 3, 3, 4), 3, 0),
    (layers.Conv2D, {"filters": 4, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}, (2, 6, 6, 2),
     (None, 6, 6, 4), 2, 0),
    (layers.Conv2D, {"filters": 4, "kernel_size": 2, "groups": 2, "activation": "relu"}, (2, 5, 5, 4),
     (None, 4, 4, 4), 2, 0),
    (layers.Conv1D, {"filters": 2, "kernel_size": 2, "dilation_rate": 3, "padding": "causal"}, (2, 7, 2),
     (None, 7, 2), 2, 0),
    (layers.AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 5, 5, 2), (None, 3, 3, 2), 0, 0),
    (layers.AveragePooling1D, {"pool_size": 2}, (2, 6, 3), (None, 3, 3), 0, 0),
    (layers.ZeroPadding2D, {"padding": (1, 2)}, (2, 3, 3, 1), (None, 5, 7, 1), 0, 0),
    (layers.Cropping2D, {"cropping": 1}, (2, 4, 5, 1), (None, 2, 3, 1), 0, 0),
    (layers.UpSampling2D, {"interpolation": "bilinear"}, (2, 3, 3, 2), (None, 6, 6, 2), 0, 0),
    (layers.ReLU, {"max_value": 6.0}, (2, 4), (None, 4), 0, 0),
    (layers.LeakyReLU, {"alpha": 0.1}, (2, 4), (None, 4), 0, 0),
    (layers.PReLU, {}, (2, 4), (None, 4), 1, 0),
    (layers.ELU, {}, (2, 4), (None, 4), 0, 0),
    (layers.Softmax, {"axis": 1}, (2, 3, 4), (None, 3, 4), 0, 0),
    (layers.SpatialDropout2D, {"rate": 0.5}, (2, 3, 3, 4), (None, 3, 3, 4), 0, 0),
    (layers.GaussianNoise, {"stddev": 0.2}, (2, 4), (None, 4), 0, 0),
    (layers.GaussianDropout, {"rate": 0.2}, (2, 4), (None, 4), 0, 0),
    (layers.ActivityRegularization, {"l1": 0.01, "l2": 0.01}, (2, 4), (None, 4), 0, 0),
    (layers.Rescaling, {"scale": 0.5, "offset": 1.0}, (2, 3, 3, 1), (None, 3, 3, 1), 0, 0),
    (layers.Resizing, {"height": 4, "width": 6, "crop_to_aspect_ratio": True}, (2, 5, 5, 1), (None, 4, 6, 1), 0, 0),
    (layers.CenterCrop, {"height": 2, "width": 3}, (2, 5, 5, 1), (None, 2, 3, 1), 0, 0),
    (layers.Normalization, {"mean": 2.0, "variance": 4.0}, (2, 3), (None, 3), 0, 0),
    (layers.Normalization, {"axis": -1}, (2, 3), (None, 3), 0, 3),
]


@pytest.mark.parametrize("cls, kwargs, input_shape, output_shape, n_trainable, n_non_trainable", HARNESS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(HARNESS)])
def test_layer_harness(cls, kwargs, input_shape, output_shape, n_trainable, n_non_trainable, tmp_path):
    check_layer(cls, kwargs, input_shape, expected_output_shape=output_shape, expected_trainable=n_trainable,
                expected_non_trainable=n_non_trainable, trains=n_trainable > 0, tmp_path=tmp_path)


# ------------------------------------------------------------------------------------------------ gradients
def _numeric_grads(fn, arrays, eps=1e-6):
    """Central differences of sum(fn(*arrays) * weights) for each array (float64)."""
    rng = np.random.default_rng(3)
    weights = rng.standard_normal(np.shape(fn(*arrays)))
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = np.sum(fn(*arrays) * weights)
            a[idx] = old - eps
            down = np.sum(fn(*arrays) * weights)
            a[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    return weights, grads


def _check_gradients(fn, *arrays, atol=1e-6):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    weights, expected = _numeric_grads(lambda *xs: np.asarray(fn(*xs)), arrays)
    variables = [Variable(a.copy()) for a in arrays]
    with Tape() as tape:
        out = fn(*variables)
        loss = keras.ops.sum(keras.ops.multiply(out, weights))
    for got, want in zip(tape.gradient(loss, variables), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


RNG = np.random.default_rng(7)


def test_gradients_of_the_normalize_ops():
    x = RNG.standard_normal((4, 3, 2)) * 2
    gamma, beta = RNG.standard_normal(2), RNG.standard_normal(2)
    _check_gradients(lambda x, g, b: vops.normalize(x, g, b, axes=(0, 1), param_shape=(1, 1, 2)), x, gamma, beta)
    _check_gradients(lambda x, g, b: vops.normalize(x, g, b, axes=(1, 2), param_shape=(1, 1, 2)), x, gamma, beta)
    mean, var = RNG.standard_normal(2), RNG.random(2) + 0.5
    _check_gradients(lambda x, g, b: vops.scale_shift_normalize(x, mean, var, g, b, param_shape=(1, 1, 2)),
                     x, gamma, beta)


@pytest.mark.parametrize("padding, strides, dilation", [("valid", (1, 1), (1, 1)), ("same", (2, 1), (1, 1)),
                                                        ("same", (1, 1), (2, 2))])
def test_gradients_of_depthwise_and_pooling(padding, strides, dilation):
    x = RNG.standard_normal((2, 5, 4, 2))
    kernel, bias = RNG.standard_normal((3, 2, 2, 2)), RNG.standard_normal(4)
    _check_gradients(lambda x, k, b: vops.depthwise_conv2d(x, k, b, strides=strides, padding=padding,
                                                           dilation_rate=dilation), x, kernel, bias)
    _check_gradients(lambda x: vops.avg_pool2d(x, (3, 2), strides, padding), x)


def test_gradients_of_the_shape_ops():
    x = RNG.standard_normal((2, 3, 4, 2))
    _check_gradients(lambda k: vops.dilate_kernel(k, (2, 3)), RNG.standard_normal((2, 3, 2, 2)))
    _check_gradients(lambda x: vops.channel_slice(x, 1, 2), x)
    _check_gradients(lambda x: vops.pad(x, ((0, 0), (1, 2), (0, 1), (0, 0))), x)
    _check_gradients(lambda x: vops.crop(x, ((0, 0), (1, 0), (1, 2), (0, 0))), x)
    _check_gradients(lambda x: vops.resize(x, vops.bilinear_weights(3, 7), vops.bilinear_weights(4, 3)), x)


@pytest.mark.parametrize("name", ["relu6", "swish", "gelu", "hard_sigmoid", "elu", "selu", "softplus", "softsign",
                                  "exponential", "leaky_relu"])
def test_gradients_of_the_activations(name):
    x = np.array([-3.3, -1.1, -0.4, 0.3, 0.9, 2.2, 4.1, 6.7])  # away from the kinks
    _check_gradients(activations.get(name), x)


def test_gradients_of_relu_general_and_prelu_layer():
    x = np.array([-2.1, -0.7, 0.05, 0.35, 0.9, 1.7, 2.3])
    _check_gradients(lambda x: ops_activations.relu_general(x, max_value=1.5, negative_slope=0.1,
                                                            threshold=0.2), x)
    _check_gradients(lambda x: ops_activations.gelu(x, approximate=True), x)


# ------------------------------------------------------------------------------------------------ Keras's rules
def _bn_model(**kwargs):
    inputs = keras.Input((4,))
    bn = layers.BatchNormalization(momentum=0.5, **kwargs)
    model = keras.Model(inputs, layers.Dense(1)(bn(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model, bn


def test_batchnorm_moving_averages_update_in_training_steps_only():
    model, bn = _bn_model()
    x = (RNG.standard_normal((8, 4)) * 3 + 2).astype("float32")
    y = RNG.standard_normal((8, 1)).astype("float32")
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    bn(x)  # an outer call without training: inference
    np.testing.assert_array_equal(bn.moving_mean.value, 0)
    np.testing.assert_array_equal(bn.moving_variance.value, 1)
    model.train_on_batch(x, y)  # training=None inside follows fit's training=True
    np.testing.assert_allclose(bn.moving_mean.value, 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.value, 0.5 + 0.5 * x.var(0), rtol=1e-5)  # rank 2: biased
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.value, 0.75 * x.mean(0), rtol=1e-5)


def test_batchnorm_inference_uses_the_moving_statistics():
    bn = layers.BatchNormalization(epsilon=0.01)
    x = RNG.standard_normal((5, 3)).astype("float32")
    bn.build(x.shape)
    gamma, beta, mean, var = (RNG.random(3).astype("float32") + 0.5 for _ in range(4))
    bn.set_weights([gamma, beta, mean, var])
    np.testing.assert_allclose(bn(x), (x - mean) / np.sqrt(var + 0.01) * gamma + beta, rtol=1e-5)
    batch = bn(x, training=True)
    np.testing.assert_allclose(batch, (x - x.mean(0)) / np.sqrt(x.var(0) + 0.01) * gamma + beta, rtol=1e-4,
                               atol=1e-6)


def test_frozen_batchnorm_runs_in_inference_mode():
    """Keras's fine-tuning rule: trainable=False also means inference mode, in fit too."""
    model, bn = _bn_model()
    bn.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = (RNG.standard_normal((8, 4)) + 3).astype("float32")
    before = model.predict(x, verbose=0)
    np.testing.assert_allclose(bn(x, training=True), x / np.sqrt(1 + 1e-3), rtol=1e-5)
    model.train_on_batch(x, RNG.standard_normal((8, 1)).astype("float32"))
    np.testing.assert_array_equal(bn.moving_mean.value, 0)
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 4
    assert not np.allclose(model.predict(x, verbose=0), before)  # the Dense after it trained


def test_batchnorm_weights_order_names_and_config():
    bn = layers.BatchNormalization(name="bn", synchronized=True)
    bn.build((None, 6, 6, 5))
    assert [w.name for w in bn.weights] == ["bn/gamma:0", "bn/beta:0", "bn/moving_mean:0", "bn/moving_variance:0"]
    assert [w.trainable for w in bn.weights] == [True, True, False, False]
    config = bn.get_config()
    assert config["axis"] == [3] and config["momentum"] == 0.99 and config["epsilon"] == 1e-3
    assert config["gamma_initializer"]["class_name"] == "Ones"
    assert layers.BatchNormalization(center=False, scale=False).get_config()["axis"] == -1


def test_batchnorm_keras3_config_takes_the_biased_moving_variance():
    x = (RNG.standard_normal((4, 3, 3, 2)) * 2).astype("float32")
    for config, biased in (({"momentum": 0.0}, False), ({"momentum": 0.0, "synchronized": False}, True),
                           ({"momentum": 0.0, "fused": False}, True)):
        bn = layers.BatchNormalization.from_config(config)
        bn(x, training=True)
        m = 4 * 3 * 3
        want = x.var(axis=(0, 1, 2)) * (1 if biased else m / (m - 1))
        np.testing.assert_allclose(bn.moving_variance.value, want, rtol=1e-5)


def test_leaky_relu_takes_keras2_and_keras3_names():
    assert layers.LeakyReLU().alpha == pytest.approx(0.3)
    assert layers.LeakyReLU(negative_slope=0.1).get_config()["alpha"] == pytest.approx(0.1)
    assert layers.LeakyReLU.from_config({"name": "l", "negative_slope": 0.2}).alpha == pytest.approx(0.2)
    with pytest.raises(ValueError, match="alpha=0.1 and negative_slope=0.2"):
        layers.LeakyReLU(alpha=0.1, negative_slope=0.2)


def test_noise_layers_act_in_training_only():
    x = np.ones((64, 32), "float32")
    for layer in (layers.GaussianNoise(0.5, seed=1), layers.GaussianDropout(0.3, seed=1),
                  layers.SpatialDropout2D(0.5, seed=1)):
        data = x.reshape(64, 4, 4, 2) if isinstance(layer, layers.SpatialDropout2D) else x
        np.testing.assert_array_equal(layer(data), data)
        noisy = np.asarray(layer(data, training=True))
        assert not np.allclose(noisy, data)
        assert abs(noisy.mean() - 1) < 0.1
    spatial = np.asarray(layers.SpatialDropout2D(0.5, seed=2)(x.reshape(64, 4, 4, 2), training=True))
    per_channel = spatial.reshape(64, 16, 2)
    assert np.all(per_channel == per_channel[:, :1])  # whole channels dropped or kept
    assert set(np.unique(spatial)) == {0.0, 2.0}


def test_activity_regularization_adds_its_loss():
    layer = layers.ActivityRegularization(l1=0.1, l2=0.01)
    x = RNG.standard_normal((4, 3)).astype("float32")
    layer(x)
    np.testing.assert_allclose(float(np.asarray(layer.losses[0])),
                               (0.1 * np.abs(x).sum() + 0.01 * np.square(x).sum()) / 4, rtol=1e-5)


def test_depthwise_and_pooling_match_numpy_loops():
    x = RNG.standard_normal((2, 6, 5, 3)).astype("float32")
    layer = layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False)
    y = np.asarray(layer(x))
    k = layer.depthwise_kernel.value
    want = np.zeros((2, 4, 3, 6), "float32")
    for i in range(4):
        for j in range(3):
            patch = x[:, i:i + 3, j:j + 3]  # (n, 3, 3, c)
            want[:, i, j] = np.einsum("nhwc,hwcm->ncm", patch, k).reshape(2, 6)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    pooled = np.asarray(layers.AveragePooling2D(3, strides=2, padding="same")(x))
    # 'same', window 3, stride 2: 6 rows are padded (0, 1), 5 columns (1, 1); padded cells are not counted
    np.testing.assert_allclose(pooled[:, 0, 0], x[:, 0:3, 0:2].mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(pooled[:, 2, 2], x[:, 4:6, 3:5].mean(axis=(1, 2)), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_input_names_the_layer_and_the_argument():
    with pytest.raises(ValueError, match=r"'bn'.*axis=3 is out of range for an input of rank 2"):
        layers.BatchNormalization(axis=3, name="bn")(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"BatchNormalization.*cannot normalise an input of rank 1"):
        layers.BatchNormalization()(np.zeros((4,), "float32"))
    with pytest.raises(ValueError, match=r"BatchNormalization.*axis=0 includes the batch axis"):
        layers.BatchNormalization(axis=0)(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match=r"BatchNormalization.*argument axis must be an int"):
        layers.BatchNormalization(axis="channels")
    with pytest.raises(ValueError, match=r"'dw'.*depth_multiplier must be a positive integer, got 0"):
        layers.DepthwiseConv2D(3, depth_multiplier=0, name="dw")
    with pytest.raises(ValueError, match=r"SeparableConv2D.*depth_multiplier must be a positive integer, got -1"):
        layers.SeparableConv2D(4, 3, depth_multiplier=-1)
    with pytest.raises(ValueError, match=r"GroupNormalization.*groups=4 must divide the 6 channels"):
        layers.GroupNormalization(groups=4)(np.zeros((2, 6), "float32"))
    with pytest.raises(ValueError, match=r"DepthwiseConv2D.*strides .* cannot be combined with dilation_rate"):
        layers.DepthwiseConv2D(3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"ReLU.*max_value must be a finite number >= 0"):
        layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match=r"UpSampling2D.*interpolation='bicubic'"):
        layers.UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match=r"Cropping2D.*leaves nothing"):
        layers.Cropping2D(2)(np.zeros((1, 4, 5, 1), "float32"))
    with pytest.raises(ValueError, match=r"BatchNormalization.*renorm=True is not supported"):
        layers.BatchNormalization(renorm=True)
    with pytest.raises(TypeError, match="unknown keyword"):
        layers.BatchNormalization(momentun=0.9)
    with pytest.raises(ValueError, match=r"'g'.*groups=2 must divide the 3 input channels"):
        layers.Conv2D(4, 3, groups=2, name="g")(np.zeros((1, 5, 5, 3), "float32"))


# ------------------------------------------------------------------------------------------------ kernels
from minigraph.layers import _vision_kernels as vkernels  # noqa: E402


def _value_and_grads(fn, arrays, weights):
    variables = [Variable(a.copy()) for a in arrays]
    with Tape() as tape:
        out = fn(*variables)
        loss = keras.ops.sum(keras.ops.multiply(out, weights))
    return np.asarray(getattr(out, "data", out)), tape.gradient(loss, variables)


def _same_as_reference(kernel_fn, reference_fn, arrays, rtol=1e-5, atol=1e-5):
    out = np.asarray(reference_fn(*arrays))
    weights = RNG.standard_normal(out.shape).astype(out.dtype)
    got, got_grads = _value_and_grads(kernel_fn, arrays, weights)
    want, want_grads = _value_and_grads(reference_fn, arrays, weights)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    for g, w in zip(got_grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batchnorm_kernels_match_the_reference(dtype):
    x = (RNG.standard_normal((4, 5, 3, 6)) * 3 + 1).astype(dtype)
    gamma, beta = RNG.standard_normal(6).astype(dtype), RNG.standard_normal(6).astype(dtype)
    got_stats, want_stats = [], []
    _same_as_reference(lambda x, g, b: vkernels.batch_norm_last_axis(x, g, b, epsilon=1e-3, stats=got_stats),
                       lambda x, g, b: vops.normalize(x, g, b, axes=(0, 1, 2), param_shape=(1, 1, 1, 6),
                                                      epsilon=1e-3, stats=want_stats), [x, gamma, beta])
    for got, want in zip(got_stats, want_stats):
        np.testing.assert_allclose(got, want.reshape(-1), rtol=1e-5)
    mean, var = RNG.standard_normal(6).astype(dtype), (RNG.random(6) + 0.5).astype(dtype)
    _same_as_reference(lambda x, g, b: vkernels.batch_norm_last_axis_inference(x, mean, var, g, b, epsilon=1e-2),
                       lambda x, g, b: vops.scale_shift_normalize(x, mean, var, g, b, param_shape=(1, 1, 1, 6),
                                                                  epsilon=1e-2), [x, gamma, beta])


@pytest.mark.parametrize("strides, padding, dilation, mult", [
    ((1, 1), "valid", (1, 1), 1), ((2, 2), "same", (1, 1), 2), ((1, 1), "same", (2, 3), 3), ((2, 1), "valid", (1, 1), 1)])
def test_depthwise_and_avg_pool_kernels_match_the_reference(strides, padding, dilation, mult):
    x = RNG.standard_normal((2, 9, 8, 4)).astype("float32")
    kernel = RNG.standard_normal((3, 2, 4, mult)).astype("float32")
    bias = RNG.standard_normal(4 * mult).astype("float32")
    args = dict(strides=strides, padding=padding, dilation_rate=dilation)
    _same_as_reference(lambda x, k, b: vkernels.depthwise_conv2d(x, k, b, **args),
                       lambda x, k, b: vops.depthwise_conv2d(x, k, b, **args), [x, kernel, bias])
    _same_as_reference(lambda x, k, b: vkernels.depthwise_conv2d(x, k, b, relu=True, **args),
                       lambda x, k, b: keras.ops.relu(vops.depthwise_conv2d(x, k, b, **args)), [x, kernel, bias])
    _same_as_reference(lambda x: vkernels.avg_pool2d(x, (3, 2), strides, padding),
                       lambda x: vops.avg_pool2d(x, (3, 2), strides, padding), [x])
