"""The compiled inference plan (minigraph/engine/inference_plan.py) behind `model(x)` and the one-batch
`predict(x, verbose=0)`: the same values, bit for bit, and the same errors as the general path (the graph
walk of Network.call, and predict's batch loop with its callbacks), and a fresh plan after any change."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers, ops
from minigraph.autodiff import Tape, Traced
from minigraph.engine import functional
from minigraph.engine.inference_plan import plan_for


def seed_mlp(activation="softmax"):
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, activation=activation)(x)
    return keras.Model(inputs, outputs, name="mnist_model")


def general_predict(model, x, **kwargs):
    """predict's general path: a callback makes it run the batch loop and its hooks."""
    return model.predict(x, callbacks=[keras.callbacks.Callback()], **kwargs)


def graph_walk(model, x):
    return model.call(x, training=False)


def fast_paths(model, x):
    return model.predict(x, verbose=0), model(x), model(x, training=False)


@pytest.fixture
def no_graph_walk(monkeypatch):
    """Network.call raising: whatever still runs went through the plan."""
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"the graph walk of '{self.name}' ran")
    monkeypatch.setattr(functional.Network, "call", refuse)


@pytest.mark.parametrize("rows", [0, 1, 5, 30])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_seed_mlp_fast_paths_equal_the_general_path_bit_for_bit(rows, dtype):
    # 30 rows: the first products run on the direct tiles; float64 and int32 data are cast to float32 first
    model = seed_mlp()
    x = (np.random.default_rng(rows).random((rows, 784)) * 3).astype(dtype)
    want = general_predict(model, x)
    assert want.dtype == np.float32 and want.shape == (rows, 10)
    np.testing.assert_array_equal(graph_walk(model, x.astype(np.float32)), want)
    for got in fast_paths(model, x):
        assert type(got) is np.ndarray and got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    if rows:
        np.testing.assert_allclose(want.sum(axis=1), 1, rtol=1e-5)


def test_the_fast_paths_skip_the_graph_walk(no_graph_walk):
    model = seed_mlp()
    x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    plan = plan_for(model)
    assert plan is not None and [type(e).__name__ for e in plan.entries] == ["_DenseRun"]
    for got in fast_paths(model, x):
        assert got.shape == (1, 10)
    with pytest.raises(AssertionError, match="graph walk of 'mnist_model' ran"):
        general_predict(model, x)


@pytest.mark.parametrize("activation", ["linear", "sigmoid", "tanh", "softmax", "relu", None])
def test_every_activation_of_the_last_dense(activation):
    model = seed_mlp(activation)
    x = np.random.default_rng(1).standard_normal((3, 784)).astype(np.float32)
    want = general_predict(model, x)
    for got in fast_paths(model, x):
        np.testing.assert_array_equal(got, want)


def conv_model():
    inputs = keras.Input(shape=(8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(16, activation="relu")(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, x)
    bn = model.layers[2]  # statistics away from 0 and 1, so that inference mode shows
    bn.moving_mean.assign(np.linspace(-1, 1, 4))
    bn.moving_variance.assign(np.linspace(0.5, 2, 4))
    return model


def test_training_only_layers_run_in_inference_mode():
    model = conv_model()
    plan = plan_for(model)
    kinds = [type(e).__name__ for e in plan.entries]
    assert kinds == ["_Generic", "_Generic", "_Generic", "_DenseRun"]  # conv, batch norm, flatten, the dense
    x = np.random.default_rng(2).random((4, 8, 8, 1), dtype=np.float32)
    want = general_predict(model, x)
    np.testing.assert_array_equal(graph_walk(model, x), want)
    for got in fast_paths(model, x):
        np.testing.assert_array_equal(got, want)
    # in training mode batch norm and dropout give other values
    trained = model(x, training=True)
    assert not np.allclose(trained, want)


def test_dropout_called_with_training_true_stays_on_in_the_plan():
    inputs = keras.Input(shape=(200,))
    x = layers.Dropout(0.5, seed=3)(inputs, training=True)
    model = keras.Model(inputs, layers.Dense(200, kernel_initializer="identity")(x))
    entries = plan_for(model).entries
    assert [(type(e).__name__, getattr(e, "training", None)) for e in entries] == [("_Generic", True),
                                                                                  ("_DenseRun", None)]
    out = model.predict(np.ones((1, 200), np.float32), verbose=0)
    assert set(np.unique(out)) == {0.0, 2.0}


@pytest.mark.parametrize("x, message", [
    (np.zeros((2, 783), np.float32), r"Input 'img' of model 'mnist_model' is incompatible: expected shape "
                                     r"\(None, 784\), found shape \(2, 783\)"),
    (np.zeros((784,), np.float32), r"expected shape \(None, 784\), found shape \(784,\)"),
    (np.zeros((1, 1, 784), np.float64), r"found shape \(1, 1, 784\)"),
    (np.array([["a"] * 784]), r"input 'img' must be numeric, got dtype <U1"),
    (np.zeros((1, 784), object), "must be numeric, got dtype object"),
    (np.zeros((1, 784), np.complex64), "must be numeric, got dtype complex64"),
])
def test_bad_data_gives_the_general_paths_errors(x, message):
    model = seed_mlp()
    plan_for(model)
    errors = []
    for call in (lambda: model.predict(x, verbose=0), lambda: model(x), lambda: general_predict(model, x),
                 lambda: model.predict(x, verbose=0, batch_size=1)):
        with pytest.raises(ValueError, match=message) as info:
            call()
        errors.append(str(info.value))
    assert len(set(errors)) == 1


def test_a_bad_batch_size_is_refused_before_the_data_is_looked_at():
    model = seed_mlp()
    for batch_size in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=f"batch_size must be a positive integer, got {batch_size!r}"):
            model.predict(np.zeros((1, 783), np.float32), verbose=0, batch_size=batch_size)


def test_more_rows_than_one_batch_take_the_batch_loop():
    model = seed_mlp()
    x = np.random.default_rng(3).random((40, 784), dtype=np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), general_predict(model, x))
    np.testing.assert_array_equal(model.predict(x, verbose=0, batch_size=7), general_predict(model, x, batch_size=7))


def test_lists_and_dicts_of_one_input():
    model = seed_mlp()
    x = np.random.default_rng(4).random((2, 784), dtype=np.float32)
    want = model.predict(x, verbose=0)
    for data in ([x], (x,), {"img": x}):
        np.testing.assert_array_equal(model.predict(data, verbose=0), want)
        np.testing.assert_array_equal(model(data), want)


def test_models_the_plan_does_not_cover_run_the_general_path():
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b")
    two_inputs = keras.Model([a, b], layers.Dense(2)(layers.Add()([a, b])))
    c = keras.Input(shape=(3,))
    h = layers.Dense(4)(c)
    two_outputs = keras.Model(c, [layers.Dense(1)(h), layers.Dense(2)(h)])
    d = keras.Input(shape=(3,))
    branch = layers.Dense(3)(d)
    residual = keras.Model(d, layers.Add()([d, branch]))
    for model in (two_inputs, two_outputs, residual):
        assert plan_for(model) is None
    x = np.random.default_rng(5).random((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(two_inputs.predict([x, x], verbose=0), two_inputs([x, x]))
    for got, want in zip(two_outputs.predict(x, verbose=0), two_outputs(x)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(residual.predict(x, verbose=0), x + residual.layers[1](x))


def test_masks_run_the_general_path():
    inputs = keras.Input(shape=(5,))
    x = layers.Embedding(10, 4, mask_zero=True)(inputs)
    x = layers.LSTM(3)(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    assert plan_for(model) is None
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0]])
    want = general_predict(model, ids)
    np.testing.assert_array_equal(model.predict(ids, verbose=0), want)
    np.testing.assert_array_equal(model(ids), want)
    mlp = seed_mlp()
    x = np.random.default_rng(6).random((2, 784), dtype=np.float32)
    np.testing.assert_array_equal(mlp(x, mask=np.ones((2, 784), bool)), mlp(x))


def test_the_plan_follows_weights_and_activations_as_they_change():
    model = seed_mlp()
    x = np.random.default_rng(7).random((2, 784), dtype=np.float32)
    model(x)
    weights = [w * 0.5 for w in model.get_weights()]
    model.set_weights(weights)  # in place
    np.testing.assert_array_equal(model(x), graph_walk(model, x))
    last = model.layers[-1]
    last.kernel = keras.Variable(np.ones((64, 10), np.float32))  # a new variable
    np.testing.assert_array_equal(model(x), graph_walk(model, x))
    last.kernel.value = np.full((64, 10), 2, np.float32)  # a new array in the variable
    np.testing.assert_array_equal(model.predict(x, verbose=0), graph_walk(model, x))
    last.activation = keras.activations.linear  # feature extraction: the logits
    logits = model(x)
    np.testing.assert_array_equal(logits, graph_walk(model, x))
    assert not np.allclose(logits.sum(axis=1), 1)
    model.layers[1].activation = keras.activations.tanh
    np.testing.assert_array_equal(model(x), graph_walk(model, x))


def test_a_sequential_gets_a_new_plan_as_layers_are_added_and_popped():
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(3, activation="relu")])
    x = np.random.default_rng(8).random((2, 4), dtype=np.float32)
    first = model(x)
    assert first.shape == (2, 3)
    model.add(layers.Dense(2))
    np.testing.assert_array_equal(model(x), model.layers[1](model.layers[0](x)))
    model.pop()
    np.testing.assert_array_equal(model(x), first)


def test_losses_of_a_call_are_those_of_the_general_path():
    inputs = keras.Input(shape=(4,))
    x = layers.Dense(3, activity_regularizer="l2")(inputs)  # a Dense the kernels cannot take: its penalty
    x = layers.ActivityRegularization(l1=0.5)(x)
    model = keras.Model(inputs, layers.Dense(2)(x))
    x = np.random.default_rng(9).random((2, 4), dtype=np.float32)
    for _ in range(2):  # each call clears the previous call's losses
        out = model(x)
    planned = [float(np.asarray(v)) for v in model.losses]
    assert len(planned) == 2
    keras.Model.__call__(model, x, mask=None)  # the general path (a keyword the plan leaves to it)
    np.testing.assert_array_equal(out, model(x, mask=None))
    assert [float(np.asarray(v)) for v in model.losses] == planned


def test_a_recording_tape_gets_the_general_path():
    model = seed_mlp()
    x = np.random.default_rng(10).random((1, 784), dtype=np.float32)
    with Tape() as tape:
        out = model(x)
        target = ops.sum(out[:, 0])
    assert isinstance(out, Traced)
    grads = tape.gradient(target, model.trainable_weights)
    assert any(np.any(g != 0) for g in grads)
    np.testing.assert_array_equal(out.data, model(x))


def test_a_model_called_inside_a_layer_gets_the_general_path(no_graph_walk):
    inner = seed_mlp()

    class Wrapper(layers.Layer):
        def call(self, inputs):
            return inner(inputs)
    x = np.random.default_rng(11).random((1, 784), dtype=np.float32)
    inner(x)  # at the top: the plan
    with pytest.raises(AssertionError, match="graph walk of 'mnist_model' ran"):
        Wrapper()(x)


def test_weights_that_no_longer_fit_give_the_graph_walks_error():
    model = seed_mlp()
    x = np.random.default_rng(12).random((1, 784), dtype=np.float32)
    model(x)
    model.layers[2].kernel.value = np.ones((63, 64), np.float32)  # the 2nd Dense: 63 rows for 64 inputs
    with pytest.raises(ValueError) as walk:
        graph_walk(model, x)
    for call in (lambda: model(x), lambda: model.predict(x, verbose=0)):
        with pytest.raises(ValueError) as planned:
            call()
        assert str(planned.value) == str(walk.value)
    assert "inner dimensions differ" in str(walk.value)


def test_dense_on_a_higher_rank_input_takes_the_layer_call():
    inputs = keras.Input(shape=(3, 5))
    x = layers.Dense(4, activation="relu")(inputs)
    model = keras.Model(inputs, layers.Dense(2, activation="softmax")(x))
    x = np.random.default_rng(13).random((2, 3, 5), dtype=np.float32)
    want = general_predict(model, x)
    for got in fast_paths(model, x):
        np.testing.assert_array_equal(got, want)


def test_a_functional_subclass_with_its_own_call_keeps_it():
    class Doubled(keras.Model):
        def call(self, inputs, training=None, mask=None):
            return super().call(inputs, training=training, mask=mask) * 2
    inputs = keras.Input(shape=(3,))
    model = Doubled(inputs, layers.Dense(2)(inputs))
    assert plan_for(model) is None
    x = np.random.default_rng(14).random((1, 3), dtype=np.float32)
    np.testing.assert_array_equal(model(x), 2 * model.layers[1](x))
    np.testing.assert_array_equal(model.predict(x, verbose=0), 2 * model.layers[1](x))
