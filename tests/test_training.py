"""compile / fit / evaluate / predict, multi-input and multi-output models, callbacks, bad data."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers


def linear_model(name, units=1):
    inputs = keras.Input(shape=(4,), name=f"{name}_in")
    return keras.Model(inputs, layers.Dense(units, name=f"{name}_dense")(inputs), name=name)


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]]) + 0.25).astype("float32")
    return x, y


def test_sgd_fit_matches_a_hand_written_numpy_loop():
    """One epoch of mini-batch SGD on mse, against the same loop written in numpy."""
    x, y = regression_data()
    model = linear_model("sgd_ref")
    w0, b0 = model.get_weights()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    w, b = w0.astype(np.float64), b0.astype(np.float64)
    losses = []
    for _ in range(2):
        epoch = []
        for i in range(0, 64, 16):
            xb, yb = x[i:i + 16], y[i:i + 16]
            err = xb @ w + b - yb
            epoch.append(np.mean(err ** 2))
            w -= 0.1 * xb.T @ (2 * err / err.size)
            b -= 0.1 * (2 * err / err.size).sum(axis=0)
        losses.append(np.mean(epoch))
    got_w, got_b = model.get_weights()
    np.testing.assert_allclose(got_w, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_b, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-4)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), np.mean((x @ w + b - y) ** 2), rtol=1e-4)


def test_multi_input_multi_output_with_dicts_and_loss_weights():
    keras.utils.set_random_seed(0)
    a = keras.Input(shape=(4,), name="title")
    b = keras.Input(shape=(3,), name="body")
    joined = layers.concatenate([layers.Dense(5, activation="relu")(a), b])
    score = layers.Dense(1, name="score")(joined)
    klass = layers.Dense(3, activation="softmax", name="klass")(joined)
    model = keras.Model([a, b], [score, klass], name="mimo")
    model.compile(optimizer="adam", loss={"score": "mse", "klass": "sparse_categorical_crossentropy"},
                  loss_weights={"score": 2.0, "klass": 0.5}, metrics={"klass": ["accuracy"]})
    rng = np.random.default_rng(1)
    xa, xb = rng.random((40, 4), dtype=np.float32), rng.random((40, 3), dtype=np.float32)
    ys, yk = rng.random((40, 1), dtype=np.float32), rng.integers(0, 3, 40)
    history = model.fit({"title": xa, "body": xb}, {"score": ys, "klass": yk}, epochs=2, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "score_loss", "klass_loss", "klass_accuracy"}
    results = model.evaluate([xa, xb], [ys, yk], verbose=0)
    assert len(results) == 4
    total, score_loss, klass_loss, acc = results
    ps, pk = model.predict({"title": xa, "body": xb})
    np.testing.assert_allclose(score_loss, np.mean((ps - ys) ** 2), rtol=1e-4)
    ce = -np.mean(np.log(np.clip(pk[np.arange(40), yk], 1e-7, 1)))
    np.testing.assert_allclose(klass_loss, ce, rtol=1e-4)
    np.testing.assert_allclose(total, 2.0 * score_loss + 0.5 * klass_loss, rtol=1e-5)
    np.testing.assert_allclose(acc, np.mean(pk.argmax(axis=1) == yk), rtol=1e-6)


def test_batch_calls_and_predict_shapes():
    x, y = regression_data(10)
    model = linear_model("batch_calls")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    before = model.test_on_batch(x, y)
    after = model.train_on_batch(x, y)
    np.testing.assert_allclose(before, after, rtol=1e-6)  # train_on_batch reports the pre-update loss
    assert model.test_on_batch(x, y)[0] < before[0]
    pred = model.predict_on_batch(x)
    assert pred.shape == (10, 1)
    np.testing.assert_allclose(model.predict(x, batch_size=3), pred, rtol=1e-6)
    assert model.predict(x[:1]).shape == (1, 1)


def test_validation_split_uses_the_last_samples():
    x, y = regression_data(50)
    model = linear_model("val_split")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    history = model.fit(x, y, validation_split=0.2, epochs=1, verbose=0)
    expected = np.mean((model.predict(x[40:]) - y[40:]) ** 2)
    np.testing.assert_allclose(history.history["val_loss"][0], expected, rtol=1e-5)


def test_dropout_is_active_only_in_training():
    inputs = keras.Input(shape=(1000,))
    model = keras.Model(inputs, layers.Dropout(0.5)(inputs))
    x = np.ones((2, 1000), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x), x)
    out = model(x, training=True)
    assert set(np.unique(out)) <= {0.0, 2.0} and 0.3 < np.mean(out == 0) < 0.7


def test_early_stopping_and_terminate_on_nan():
    x, y = regression_data()
    model = linear_model("stopper")
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")  # no progress at all
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=2)
    history = model.fit(x, y, epochs=20, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 3
    model = linear_model("nan")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x_bad = x.copy()
    x_bad[5, 0] = np.nan
    history = model.fit(x_bad, y, batch_size=8, epochs=5, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])


def test_verbose_output_formats(capsys):
    x, y = regression_data(20)
    model = linear_model("verbose")
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(x, y, batch_size=10, epochs=2, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2"  # Keras names the epoch only when there are several
    assert out[1].startswith("2/2 [==============================] - ") and " - loss: " in out[1]
    assert "/step" in out[1] and " - mae: " in out[1]
    model.fit(x, y, batch_size=10, epochs=2, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "Epoch 1/2"  # verbose=2 names the epoch too, as Keras does
    assert lines[1].startswith("2/2 - ") and " - loss: " in lines[1]


@pytest.mark.parametrize("bad, message", [
    (lambda m, x, y: m.fit(x, y[:5], verbose=0), "x sizes: 64, y sizes: 5"),
    (lambda m, x, y: m.fit(x[:, :3], y, verbose=0), r"expected shape \(None, 4\), found shape \(64, 3\)"),
    (lambda m, x, y: m.predict(x[0]), r"expected shape \(None, 4\), found shape \(4,\)"),
    (lambda m, x, y: m.fit(x.astype(str), y, verbose=0), "must be numeric"),
    (lambda m, x, y: m.fit([[1, 2, 3, 4], [1, 2]], y[:2], verbose=0), "rectangular|shape"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), "batch_size"),
    (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), "epochs"),
    (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), "empty"),
    (lambda m, x, y: m.fit(x, np.ones((64, 3), "float32"), verbose=0), r"target .* \(None, 3\).*\(None, 1\)"),
    # every entry point, every kind of bad dtype: the message names the input or target and the dtype
    (lambda m, x, y: m.fit(x.astype(complex), y, verbose=0), "input 'bad_data_in' must be numeric.*complex128"),
    (lambda m, x, y: m.fit(x.astype(object), y, verbose=0), "input 'bad_data_in' must be numeric.*object"),
    (lambda m, x, y: m.fit(np.zeros((64, 4), "datetime64[s]"), y, verbose=0), "must be numeric.*datetime64"),
    (lambda m, x, y: m.fit(None, y, verbose=0), "fit: x .* is required"),
    (lambda m, x, y: m.fit(x, y.astype(str), verbose=0), "target for output 'bad_data_dense' must be numeric"),
    (lambda m, x, y: m.fit(x, y.astype(complex), verbose=0), "target .* must be numeric.*complex128"),
    (lambda m, x, y: m.fit(x, y.astype(object), verbose=0), "target .* must be numeric.*object"),
    (lambda m, x, y: m.fit(x[:2], [[1.0], [1.0, 2.0]], verbose=0), "target .* not a rectangular array"),
    (lambda m, x, y: m.predict(x.astype(complex)), "input 'bad_data_in' must be numeric.*complex128"),
    (lambda m, x, y: m.predict(x.astype(str)), "input 'bad_data_in' must be numeric"),
    (lambda m, x, y: m.predict(x.astype(object)), "input 'bad_data_in' must be numeric.*object"),
    (lambda m, x, y: m.predict([[1, 2, 3, 4], [1, 2]]), "input 'bad_data_in' is not a rectangular array"),
    (lambda m, x, y: m.predict_on_batch(x.astype(str)), "input 'bad_data_in' must be numeric"),
    (lambda m, x, y: m(x.astype(complex)), "input 'bad_data_in' must be numeric.*complex128"),
    (lambda m, x, y: m.evaluate(x, y.astype(str), verbose=0), "target .* must be numeric"),
    (lambda m, x, y: m.train_on_batch(x.astype(complex), y), "must be numeric.*complex128"),
    # sizes and counts
    (lambda m, x, y: m.predict(x, batch_size=0), "batch_size must be a positive integer, got 0"),
    (lambda m, x, y: m.predict(x, batch_size=-5), "batch_size .* got -5"),
    (lambda m, x, y: m.evaluate(x, y, batch_size=0, verbose=0), "batch_size .* got 0"),
    (lambda m, x, y: m.fit(x, y, batch_size=2.0, verbose=0), "batch_size .* got 2.0"),
    (lambda m, x, y: m.fit(x, y, batch_size="32", verbose=0), "batch_size .* got '32'"),
    (lambda m, x, y: m.fit(x, y, epochs=1.5, verbose=0), "epochs must be a non-negative integer, got 1.5"),
    (lambda m, x, y: m.fit(x, y, epochs=None, verbose=0), "epochs .* got None"),
    (lambda m, x, y: m.fit(x, y, initial_epoch=-1, verbose=0), "initial_epoch .* got -1"),
    (lambda m, x, y: m.fit(x, y, validation_split=1.5, verbose=0), r"validation_split must be in \[0, 1\)"),
    (lambda m, x, y: m.evaluate(x[:0], y[:0], verbose=0), "evaluate: x is empty"),
    (lambda m, x, y: m.fit(x, None, verbose=0), "y .* is required"),
])
def test_bad_data_raises_a_clear_error(bad, message):
    x, y = regression_data()
    model = linear_model("bad_data")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=message):
        bad(model, x, y)


# Found by the reliability work: these reach minigraph/engine/training.py's loops and fail there with an
# UnboundLocalError (no batch ran, so no logs), a TypeError or a NaN loss instead of a ValueError up front.
@pytest.mark.parametrize("bad, message", [
    (lambda m, x, y: m.fit(x, y, validation_split=0.999, verbose=0), "validation_split"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x[:0], y[:0]), verbose=0), "validation_data"),
    (lambda m, x, y: m.fit(x, y, validation_split="a", verbose=0), "validation_split"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x,), verbose=0), "validation_data"),
    (lambda m, x, y: m.evaluate(x, None, verbose=0), "evaluate: y"),
    (lambda m, x, y: m.train_on_batch(x[:0], y[:0]), "train_on_batch: x is empty"),
    (lambda m, x, y: m.test_on_batch(x[:0], y[:0]), "test_on_batch: x is empty"),
], ids=["validation_split leaves no training sample", "empty validation_data", "validation_split not a number",
        "validation_data without targets", "evaluate without y", "empty train_on_batch", "empty test_on_batch"])
def test_bad_data_reaching_the_training_loops(bad, message):
    x, y = regression_data()
    model = linear_model("bad_loops")
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=message):
        bad(model, x, y)


def test_accepted_dtypes_are_cast_to_float32():
    """Floating inputs of any width, integers and booleans are cast to the model's float32 (the Input's dtype)
    and give the float32 answer; the output is float32."""
    x, y = regression_data(16)
    model = linear_model("dtypes")
    model.compile(optimizer="sgd", loss="mse")
    want = model.predict(x)
    assert want.dtype == np.float32
    np.testing.assert_array_equal(model.predict(x.astype(np.float64)), want)
    for values in (x.astype(np.float16), np.round(x * 3).astype(np.int64), np.round(x).astype(np.int8),
                   (x > 0), np.abs(np.round(x)).astype(np.uint16)):
        got = model.predict(values)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, model.predict(values.astype(np.float32)))
    model.fit(x.astype(np.float64), y.astype(np.float64), verbose=0)  # float64 data trains too
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(x[:0]).shape == (0, 1)  # an empty batch predicts an empty result


def test_unknown_names_raise_quoting_the_name():
    model = linear_model("names")
    with pytest.raises(ValueError, match="'nope_loss'"):
        model.compile(optimizer="sgd", loss="nope_loss")
    with pytest.raises(ValueError, match="'nope_opt'"):
        model.compile(optimizer="nope_opt", loss="mse")
    with pytest.raises(ValueError, match="'nope_act'"):
        layers.Dense(2, activation="nope_act")
    with pytest.raises(RuntimeError, match="compile"):
        linear_model("not_compiled").fit(*regression_data(), verbose=0)
