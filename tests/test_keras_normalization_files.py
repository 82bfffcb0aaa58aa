"""Normalization models written by tf_keras 2.21 (tests/data/README.md): conv1d_ln.h5 (LayerNormalization) and
bn_cnn.h5, a BatchNormalization CNN. They load, predict in inference mode, and train to Keras's weights,
BatchNormalization's moving statistics included.

SGD is matched over the file's 3 epochs. Adam(epsilon=1e-7) is matched step by step along Keras's own 3-epoch
trajectory (tests/data/bn_cnn_adam_steps.npz, from make_bn_cnn_adam_steps.py): at each step's weights the loss,
every gradient and the moving statistics agree with TensorFlow's to float32 rounding, and Adam's update from
Keras's state and gradients gives Keras's weights and slots. Over the 3 epochs as a whole it is matched with
Adam(epsilon=1e-3), tightly. A free 3-epoch run with epsilon=1e-7 parts from Keras's, and that is rounding,
not a formula: the first step's gradient has a cell of conv2d_1's kernel at 1.4e-6, where the two float32
sums differ by 2.6e-8 (5e-7 of the kernel gradient's largest cell); Adam's first step lr * g / (|g| + 3.2e-6)
magnifies that into 3.9e-5 of weight, enough to carry a pre-ReLU activation (2.8e-5 from zero) across the kink,
after which Keras's own gradient at minigraph's weights differs from its gradient at its own weights by 4e-3
(and agrees with minigraph's there to 5e-8). conv2d_1's bias feeds a BatchNormalization, so its true gradient is
zero and Adam turns its rounding (~5e-8) into steps of up to lr: Keras's own run with each batch's samples
reordered ends 1.4e-3 away on that bias (and 3.5e-4 on the moving mean that follows it).
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
STEPS = np.load(os.path.join(DATA, "bn_cnn_adam_steps.npz"))
STEPS_META = json.loads(str(STEPS["meta"]))


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


def _batch(step):
    start = step * META["batch"] % len(REF["x0"])
    return REF["x0"][start:start + META["batch"]], REF["y0"][start:start + META["batch"]]


def _set_model_state(model, step):
    """Every weight of the model (moving statistics included) as Keras had it before `step`."""
    assert [w.name for w in model.weights] == json.loads(str(STEPS["names"]))
    for j, w in enumerate(model.weights):
        w.assign(STEPS[f"s{step}/w{j}"])


@pytest.mark.parametrize("step", range(6))
def test_bn_cnn_loss_gradients_and_moving_statistics_match_keras_along_its_adam_run(step):
    """At Keras's weights before each step of its 3-epoch Adam run: the loss, all nine gradients (conv2d_1's
    bias included: zero in exact arithmetic, rounding in both) and the moving statistics after the
    training-mode forward pass, to float32 rounding."""
    assert STEPS_META["n_steps"] == 6 and STEPS_META["adam_lr"] == META["adam_lr"]
    model = _load(compile=False)
    _set_model_state(model, step)
    x, y = _batch(step)
    with keras.autodiff.Tape() as tape:
        loss = keras.ops.mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
    grads = tape.gradient(loss, model.trainable_weights)
    np.testing.assert_allclose(float(loss), STEPS[f"s{step}/loss"], rtol=1e-6)
    for j, (var, g) in enumerate(zip(model.trainable_weights, grads)):
        want = STEPS[f"s{step}/g{j}"]
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-5, atol=2e-7, err_msg=var.name)
        if var.name == "conv2d_1/bias:0":
            assert np.max(np.abs(want)) < 2e-7  # the bias before BN: Keras's gradient too is only rounding
    for j, w in enumerate(model.weights):
        if not w.trainable:  # the moving averages, updated by the forward pass
            assert "moving" in w.name
            np.testing.assert_allclose(w.value, STEPS[f"s{step}/after{j}"], rtol=1e-6, atol=1e-9, err_msg=w.name)


@pytest.mark.parametrize("step", range(6))
def test_bn_cnn_adam_update_matches_keras_from_its_state_and_gradients(step):
    """Adam given Keras's weights, slots and gradients at each step gives Keras's weights and slots: the
    update's formula (bias corrections folded into the step size, epsilon added to sqrt(v)) is Keras's."""
    model = _load(compile=False)
    _set_model_state(model, step)
    optimizer = keras.optimizers.Adam(learning_rate=META["adam_lr"])
    optimizer.build(model.trainable_weights)
    n_slots = len(optimizer.variables)
    optimizer.set_weights([STEPS[f"s{step}/opt{j}"] for j in range(n_slots)])
    grads = [STEPS[f"s{step}/g{j}"] for j in range(len(model.trainable_weights))]
    optimizer.apply_gradients(zip(grads, model.trainable_weights))
    for j, w in enumerate(model.weights):
        if w.trainable:
            np.testing.assert_allclose(w.value, STEPS[f"s{step}/after{j}"], rtol=1e-6, atol=1e-8, err_msg=w.name)
    for j, v in enumerate(optimizer.variables):  # to rounding of each slot's scale (m is a sum that cancels)
        want = STEPS[f"s{step}/opt_after{j}"]
        np.testing.assert_allclose(v.value, want, rtol=1e-6, atol=1e-6 * np.max(np.abs(want)), err_msg=v.name)


def test_bn_cnn_adam_three_epochs_match_keras_when_epsilon_bounds_the_gain_on_rounding():
    """fit for the file's 3 epochs with Adam(epsilon=1e-3), every weight and moving statistic to Keras's
    within 5e-7: with Adam's gain on a gradient's rounding bounded, the whole run agrees with Keras's."""
    model = _load(compile=False)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=META["adam_lr"],
                                                  epsilon=STEPS_META["fit_eps_epsilon"]), loss=META["loss"])
    history = model.fit(REF["x0"], REF["y0"], batch_size=META["batch"], epochs=META["epochs"], shuffle=False,
                        verbose=0)
    np.testing.assert_allclose(history.history["loss"], STEPS["fit_eps/loss"], rtol=1e-6)
    assert [w.name for w in model.weights] == json.loads(str(STEPS["names"]))
    for j, w in enumerate(model.weights):
        np.testing.assert_allclose(w.value, STEPS[f"fit_eps/w{j}"], rtol=1e-5, atol=5e-7, err_msg=w.name)
        if w.name == "conv2d_1/bias:0":  # moved, by rounding only, and by as much as Keras's moved it
            start = _load(compile=False).get_layer("conv2d_1").bias.value
            assert not np.array_equal(w.value, start)


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
