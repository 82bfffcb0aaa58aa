"""minigraph against files written by real Keras (tf_keras 2.21, see tests/data/README.md).

Loading, predicting, and training step for step from the files' weights exercise the whole stack: kernels, ops,
layers, the training loop, losses and optimizers, and the optimizer state of a resumed file. The tolerances are
the ones real Keras meets against these files.
"""
import json
import os

import numpy as np
import pytest

import minigraph as keras

DATA = os.path.join(os.path.dirname(__file__), "data")
MODELS = ["mnist_model", "encoder", "decoder", "lstm_classifier", "gru_regressor"]


def reference(name):
    ref = np.load(os.path.join(DATA, f"{name}.npz"))
    return ref, json.loads(str(ref["meta"]))


def h5(name):
    return os.path.join(DATA, f"{name}.h5")


def assert_weights(model, ref, prefix):
    """Model weights against `<prefix>_<i>`, and each layer's against `L_<kind>/<layer>/<j>`."""
    got = model.get_weights()
    assert len(got) == int(ref["n_weights"])
    for i, value in enumerate(got):
        np.testing.assert_allclose(value, ref[f"{prefix}_{i}"], rtol=1e-3, atol=2e-5, err_msg=f"{prefix}_{i}")
    per_layer = "L_" + prefix.split("_")[-1]  # w_after_sgd -> L_sgd, w_resumed -> L_resumed
    for layer in model.layers:
        for j, value in enumerate(layer.get_weights()):
            np.testing.assert_allclose(value, ref[f"{per_layer}/{layer.name}/{j}"], rtol=1e-3, atol=2e-5,
                                       err_msg=f"{layer.name}/{j}")


@pytest.mark.parametrize("name", MODELS)
def test_load_and_predict(name):
    ref, _ = reference(name)
    model = keras.models.load_model(h5(name))
    assert model.compiled and type(model.optimizer).__name__ == "SGD"  # the files' training_config
    np.testing.assert_allclose(model.predict(ref["x0"]), ref["pred0"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", MODELS)
def test_training_matches_keras(name, kind):
    ref, meta = reference(name)
    model = keras.models.load_model(h5(name), compile=False)
    optimizer = (keras.optimizers.SGD(learning_rate=meta["sgd_lr"]) if kind == "sgd"
                 else keras.optimizers.Adam(learning_rate=meta["adam_lr"]))
    model.compile(optimizer=optimizer, loss=meta["loss"])
    model.fit(ref["x0"], ref["y0"], batch_size=meta["batch"], epochs=meta["epochs"], shuffle=False, verbose=0)
    assert_weights(model, ref, f"w_after_{kind}")
    loss = model.evaluate(ref["x0"], ref["y0"], verbose=0)
    np.testing.assert_allclose(loss, ref[f"loss_after_{kind}"], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("name, iterations", [("mnist_model_resume", 4), ("lstm_classifier_resume", None)])
def test_resume_with_optimizer_state(name, iterations):
    ref, meta = reference(name)
    model = keras.models.load_model(h5(name))
    for i, value in enumerate(model.get_weights()):
        np.testing.assert_array_equal(value, ref[f"w_saved_{i}"])
    if iterations is not None:
        assert model.optimizer.iterations == iterations  # 2 epochs of 2 batches, as stored in the file
    assert model.optimizer.iterations > 0
    model.fit(ref["x0"], ref["y0"], batch_size=meta["batch"], epochs=meta["epochs"], shuffle=False, verbose=0)
    assert_weights(model, ref, "w_resumed")


def test_resume_needs_the_optimizer_state():
    """A fresh Adam from the same weights lands elsewhere: the match above is the restored state's doing."""
    ref, meta = reference("mnist_model_resume")
    model = keras.models.load_model(h5("mnist_model_resume"), compile=False)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=meta["adam_lr"]), loss=meta["loss"])
    model.fit(ref["x0"], ref["y0"], batch_size=meta["batch"], epochs=meta["epochs"], shuffle=False, verbose=0)
    with pytest.raises(AssertionError):
        assert_weights(model, ref, "w_resumed")


# ------------------------------------------------------------------------------------------------ more Keras files
EXTRA = ["keras_every_layer", "keras_nested", "keras_sequential"]


@pytest.mark.parametrize("name", EXTRA)
def test_more_keras_files(name):
    """Every layer type, nested models called once and twice, Sequential; the optimizer states of SGD, RMSprop
    and Adam (tests/data/make_keras_files.py): load, predict, and resume training as Keras does."""
    ref, meta = reference(name)
    xs = [ref[f"x{i}"] for i in range(sum(k.startswith("x") for k in ref.files))]
    x = xs if len(xs) > 1 else xs[0]
    model = keras.models.load_model(h5(name))
    np.testing.assert_allclose(model.predict(x), ref["pred0"], rtol=0, atol=1e-5)
    state = model.optimizer.variables
    assert len(state) == len(meta["opt_names"])
    for i, var in enumerate(state):  # Keras' order, slot by slot (RMSprop) or interleaved (Adam)
        np.testing.assert_array_equal(var.value, ref[f"opt_{i}"], err_msg=var.name)
    if meta["epochs"]:
        model.fit(x, ref["y0"], batch_size=meta["batch"], epochs=meta["epochs"], shuffle=False, verbose=0)
        for i, value in enumerate(model.get_weights()):
            np.testing.assert_allclose(value, ref[f"w_resumed_{i}"], rtol=1e-3, atol=2e-5, err_msg=f"w_resumed_{i}")
