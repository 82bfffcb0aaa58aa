"""Normalization models written by tf_keras 2.21 (tests/data/README.md): conv1d_ln.h5 (LayerNormalization) and
bn_cnn.h5, a BatchNormalization CNN. They load, predict in inference mode, and train to Keras's weights,
BatchNormalization's moving statistics included.

SGD is matched over the file's 3 epochs. Adam is matched over one step (tests/data/vision_reference.npz,
bn_cnn_adam1): over 3 epochs the run is at the mercy of float32 rounding in two places, in Keras as much as here.
conv2d_1's bias feeds a BatchNormalization, so its true gradient is zero and what is left is rounding
(~1e-8), which Adam scales to steps of up to the learning rate; and Adam's first steps magnify relative rounding
of the small gradients (|g| ~ 1e-6 next to epsilon 1e-7), so after one step a kernel cell is 2e-5 away, which
moves a pre-ReLU activation 1.5e-5 from zero across the kink at step 2. Two float32 implementations agree
to rounding on every gradient (checked against TensorFlow at 5e-8) and still part there.
"""
import json
import os

import numpy as np
import pytest

import minigraph as keras

DATA = os.path.join(os.path.dirname(__file__), "data")
REF = np.load(os.path.join(DATA, "bn_cnn.npz"))
META = json.loads(str(REF["meta"]))
ADAM1 = np.load(os.path.join(DATA, "vision_reference.npz"))


def _load(**kwargs):
    return keras.models.load_model(os.path.join(DATA, "bn_cnn.h5"), **kwargs)


def _keras_order(model):
    """model.get_weights() in Keras's order: layer by layer, each layer's weights in its own order."""
    return [w for layer in model.layers for w in layer.get_weights()]


def test_bn_cnn_loads_and_predicts_in_inference_mode():
    model = _load()
    assert [type(layer).__name__ for layer in model.layers[1:]] == [
        "Conv2D", "BatchNormalization", "Activation", "AveragePooling2D", "Conv2D", "BatchNormalization", "ReLU",
        "GlobalAveragePooling2D", "Dense"]
    bn = model.get_layer("batch_normalization_1")
    assert bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-3)
    assert [w.name for w in bn.weights] == [f"batch_normalization_1/{n}:0"
                                            for n in ("gamma", "beta", "moving_mean", "moving_variance")]
    np.testing.assert_allclose(model.predict(REF["x0"], verbose=0), REF["pred0"], rtol=0, atol=1e-5)


def test_bn_cnn_trains_with_sgd_to_keras_weights_and_moving_statistics():
    model = _load(compile=False)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=META["sgd_lr"]), loss=META["loss"])
    model.fit(REF["x0"], REF["y0"], batch_size=META["batch"], epochs=META["epochs"], shuffle=False, verbose=0)
    got = _keras_order(model)
    assert len(got) == int(REF["n_weights"])
    for i, value in enumerate(got):
        np.testing.assert_allclose(value, REF[f"w_after_sgd_{i}"], rtol=1e-3, atol=2e-5, err_msg=f"w_after_sgd_{i}")
    for layer in model.layers:
        for j, value in enumerate(layer.get_weights()):
            np.testing.assert_allclose(value, REF[f"L_sgd/{layer.name}/{j}"], rtol=1e-3, atol=2e-5,
                                       err_msg=f"{layer.name}/{j}")
    moving = model.get_layer("batch_normalization").moving_variance.value
    assert not np.allclose(moving, 1)  # the moving statistics did move, and matched Keras's (unbiased) update
    np.testing.assert_allclose(model.evaluate(REF["x0"], REF["y0"], verbose=0), REF["loss_after_sgd"],
                               rtol=1e-3, atol=1e-6)


def test_bn_cnn_adam_step_matches_keras():
    model = _load(compile=False)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=META["adam_lr"]), loss=META["loss"])
    loss = model.train_on_batch(REF["x0"][:8], REF["y0"][:8])
    np.testing.assert_allclose(loss, ADAM1["bn_cnn_adam1/loss"], rtol=1e-5)
    names = [w.name for layer in model.layers for w in layer.weights]
    for i, (name, value) in enumerate(zip(names, _keras_order(model))):
        want = ADAM1[f"bn_cnn_adam1/w{i}"]
        if name == "conv2d_1/bias:0":  # a zero gradient up to rounding: Adam moves it by noise, at most lr
            start = _load(compile=False).get_layer("conv2d_1").bias.value
            assert np.all(np.abs(value - start) <= META["adam_lr"] * 1.001)
            continue
        np.testing.assert_allclose(value, want, rtol=1e-3, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_conv1d_ln_trains_to_keras_weights(kind):
    """Conv1D (causal) -> LayerNormalization -> MaxPooling1D -> Conv1D -> GlobalMaxPooling1D -> Dense, 3 epochs."""
    ref = np.load(os.path.join(DATA, "conv1d_ln.npz"))
    meta = json.loads(str(ref["meta"]))
    model = keras.models.load_model(os.path.join(DATA, "conv1d_ln.h5"))
    np.testing.assert_allclose(model.predict(ref["x0"], verbose=0), ref["pred0"], rtol=0, atol=1e-5)
    model = keras.models.load_model(os.path.join(DATA, "conv1d_ln.h5"), compile=False)
    optimizer = (keras.optimizers.SGD(learning_rate=meta["sgd_lr"]) if kind == "sgd"
                 else keras.optimizers.Adam(learning_rate=meta["adam_lr"]))
    model.compile(optimizer=optimizer, loss=meta["loss"])
    model.fit(ref["x0"], ref["y0"], batch_size=meta["batch"], epochs=meta["epochs"], shuffle=False, verbose=0)
    got = _keras_order(model)
    assert len(got) == int(ref["n_weights"])
    for i, value in enumerate(got):
        np.testing.assert_allclose(value, ref[f"w_after_{kind}_{i}"], rtol=1e-3, atol=2e-5,
                                   err_msg=f"w_after_{kind}_{i}")
