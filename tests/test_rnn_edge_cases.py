"""SimpleRNN, LSTM and GRU at the edges: sequences of 0 steps (Keras fails on them: here a clear error naming
the layer and the shape), of 1 step, fully masked rows and a batch of one; forward, return_sequences and
return_state, Bidirectional, and gradients by finite differences in float64."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers, ops
from minigraph.autodiff import Tape, Variable

CELLS = [layers.SimpleRNN, layers.LSTM, layers.GRU]
RNG = np.random.default_rng(7)


def _built(layer, shape, dtype="float64"):
    """The layer built for `shape` with random weights (biases too)."""
    layer.build(shape)
    layer.set_weights([RNG.standard_normal(w.shape).astype(dtype) * 0.5 for w in layer.get_weights()])
    return layer


def _loss_and_grads(layer, x, cotangents, **kwargs):
    """sum over the outputs of output * cotangent, and its gradients with respect to x and the weights."""
    xv = Variable(np.array(x))
    with Tape() as tape:
        outs = layer.call(xv, **kwargs)
        outs = outs if isinstance(outs, list) else [outs]
        loss = None
        for out, r in zip(outs, cotangents):
            term = ops.sum(ops.multiply(out, r))
            loss = term if loss is None else ops.add(loss, term)
    grads = tape.gradient(loss, [xv] + list(layer.trainable_weights))
    return float(np.asarray(getattr(loss, "data", loss))), [np.asarray(g) for g in grads]


def _check_finite_differences(layer, x, **kwargs):
    outs = layer(x, **kwargs)
    outs = outs if isinstance(outs, list) else [outs]
    cotangents = [RNG.standard_normal(np.shape(o)) for o in outs]
    _, grads = _loss_and_grads(layer, x, cotangents, **kwargs)

    def loss():
        value = layer(x, **kwargs)
        value = value if isinstance(value, list) else [value]
        return sum(float(np.sum(np.asarray(v) * r)) for v, r in zip(value, cotangents))

    eps = 1e-6
    for value, grad in zip([x] + [v.value for v in layer.trainable_weights], grads):
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + eps
            up = loss()
            value[idx] = old - eps
            numeric[idx] = (up - loss()) / (2 * eps)
            value[idx] = old
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    return grads


# ------------------------------------------------------------------------------------------------ 0 steps
@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("kwargs", [{}, {"return_sequences": True}, {"return_state": True}])
def test_zero_steps_raise_naming_the_layer_and_the_shape(cls, kwargs):
    # tf_keras 2.21 and Keras 3.15 both fail on a 0-step sequence (a strided slice out of bounds)
    layer = cls(2, name="empty_rnn", **kwargs)
    with pytest.raises(ValueError, match=r"'empty_rnn'.*0 timesteps.*\(2, 0, 3\)"):
        layer(np.ones((2, 0, 3), "float32"))


@pytest.mark.parametrize("cls", CELLS)
def test_zero_steps_through_bidirectional_raise_naming_the_inner_layer(cls):
    with pytest.raises(ValueError, match=r"'forward_.*0 timesteps.*\(1, 0, 4\)"):
        layers.Bidirectional(cls(2))(np.ones((1, 0, 4), "float32"))


def test_zero_steps_cannot_be_declared_symbolically():
    with pytest.raises(ValueError, match=r"\(None, 0, 3\)"):
        keras.Input((0, 3))


# ------------------------------------------------------------------------------------------------ 1 step
# with every kernel one and zero biases, over x = ones((2, 1, 3)), tf_keras 2.21 and Keras 3.15 both give
# (each output element): SimpleRNN tanh(3); LSTM o * tanh(c) with c = i * tanh(3), i = o = sigmoid(3);
# GRU (1 - z) * tanh(3) with z = sigmoid(3)
KERAS_ONE_STEP = {layers.SimpleRNN: 0.9951, layers.LSTM: 0.7038, layers.GRU: 0.0472}


@pytest.mark.parametrize("cls", CELLS)
def test_one_step_gives_keras_values(cls):
    x = np.ones((2, 1, 3), "float32")
    make = lambda **kw: cls(2, kernel_initializer="ones", recurrent_initializer="ones", **kw)  # noqa: E731
    np.testing.assert_allclose(make()(x), KERAS_ONE_STEP[cls], atol=1e-4)
    seq = make(return_sequences=True)(x)
    assert seq.shape == (2, 1, 2)
    np.testing.assert_allclose(seq, KERAS_ONE_STEP[cls], atol=1e-4)
    out, *states = make(return_state=True)(x)
    np.testing.assert_allclose(states[0], out)  # h is the output
    np.testing.assert_allclose(layers.Bidirectional(make())(x), KERAS_ONE_STEP[cls], atol=1e-4)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("kwargs", [{}, {"return_sequences": True, "go_backwards": True},
                                    {"return_state": True}])
def test_one_step_gradients_by_finite_differences(cls, kwargs):
    layer = _built(cls(3, dtype="float64", **kwargs), (2, 1, 4))
    _check_finite_differences(layer, RNG.standard_normal((2, 1, 4)))


@pytest.mark.parametrize("cls", CELLS)
def test_one_step_bidirectional_gradients_by_finite_differences(cls):
    layer = _built(layers.Bidirectional(cls(2, dtype="float64", return_sequences=True), dtype="float64"),
                   (2, 1, 3))
    _check_finite_differences(layer, RNG.standard_normal((2, 1, 3)))


# ------------------------------------------------------------------------------------------------ masks
@pytest.mark.parametrize("cls", CELLS)
def test_fully_masked_rows_output_zeros_and_keep_the_initial_state(cls):
    layer = _built(cls(2, dtype="float64", return_sequences=True, return_state=True), (3, 4, 3))
    x = RNG.standard_normal((3, 4, 3))
    mask = np.array([[False] * 4, [True, True, False, False], [False] * 4])
    n_states = 2 if cls is layers.LSTM else 1
    initial = [RNG.standard_normal((3, 2)) for _ in range(n_states)]
    seq, *states = layer(x, mask=mask, initial_state=initial)
    np.testing.assert_array_equal(np.asarray(seq)[[0, 2]], 0.0)  # as tf_keras and Keras 3
    for got, start in zip(states, initial):
        np.testing.assert_array_equal(np.asarray(got)[[0, 2]], start[[0, 2]])
    # the masked rows' own gradients: no weight gradient from them, and the state passes straight through
    xv = Variable(np.array(x))
    h0 = [Variable(s.copy()) for s in initial]
    r = RNG.standard_normal((3, 2))
    with Tape() as tape:
        outs = layer.call(xv, mask=np.array([[False] * 4] * 3), initial_state=h0)
        loss = ops.add(ops.sum(ops.multiply(outs[0], RNG.standard_normal((3, 4, 2)))),
                       ops.sum(ops.multiply(outs[1], r)))
    grads = tape.gradient(loss, [xv] + h0 + list(layer.trainable_weights))
    np.testing.assert_array_equal(np.asarray(grads[0]), 0.0)
    np.testing.assert_allclose(np.asarray(grads[1]), r)
    for g in grads[1 + n_states:]:
        np.testing.assert_array_equal(np.asarray(g), 0.0)


@pytest.mark.parametrize("cls", CELLS)
def test_fully_masked_batch_through_bidirectional(cls):
    layer = _built(layers.Bidirectional(cls(2, return_sequences=True)), (1, 3, 3), "float32")
    out = layer(np.ones((1, 3, 3), "float32"), mask=np.zeros((1, 3), bool))
    assert out.shape == (1, 3, 4)
    np.testing.assert_array_equal(out, 0.0)
    last = _built(layers.Bidirectional(cls(2)), (1, 3, 3), "float32")(np.ones((1, 3, 3), "float32"),
                                                                      mask=np.zeros((1, 3), bool))
    np.testing.assert_array_equal(last, 0.0)


# ------------------------------------------------------------------------------------------------ batch of 1
@pytest.mark.parametrize("cls", CELLS)
def test_batch_of_one_gradients_by_finite_differences_with_a_mask(cls):
    layer = _built(cls(3, dtype="float64", return_sequences=True), (1, 4, 2))
    x = RNG.standard_normal((1, 4, 2))
    _check_finite_differences(layer, x, mask=np.array([[True, True, False, True]]))


@pytest.mark.parametrize("cls", CELLS)
def test_batch_of_one_matches_the_same_row_in_a_larger_batch(cls):
    layer = _built(cls(5, return_sequences=True), (4, 6, 3), "float32")
    x = RNG.standard_normal((4, 6, 3)).astype("float32")
    full = np.asarray(layer(x))
    for b in range(4):
        np.testing.assert_allclose(layer(x[b:b + 1]), full[b:b + 1], rtol=1e-5, atol=1e-6)
