"""Sequence layers: the fused kernels against the generic cell path, masks, states, wrappers and bad input."""
import numpy as np
import pytest

import minigraph as keras
from minigraph import layers, ops
from layer_harness import check_layer

RNG = np.random.default_rng(0)


def _pair(cls, **kwargs):
    """The same recurrent layer twice with the same weights: the fused kernel path, and RNN(cell) with a
    cell subclass that hides the kernel, so it runs the cell's call step by step."""
    fused = cls(**kwargs)
    cell_class = fused.cell.__class__

    class StepCell(cell_class):
        _sequence = None

    generic = layers.RNN(StepCell.from_config(fused.cell.get_config()),
                         return_sequences=fused.return_sequences, return_state=fused.return_state,
                         go_backwards=fused.go_backwards)
    return fused, generic


CELLS = [(layers.SimpleRNN, {}), (layers.LSTM, {}), (layers.GRU, {}), (layers.GRU, {"reset_after": False}),
         (layers.LSTM, {"activation": "relu"})]


@pytest.mark.parametrize("cls, extra", CELLS)
@pytest.mark.parametrize("return_sequences, go_backwards", [(True, False), (False, True)])
def test_fused_kernels_match_the_generic_cell_path_in_value_and_gradient(cls, extra, return_sequences,
                                                                          go_backwards):
    x = RNG.standard_normal((3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 1, 1]], bool)
    fused, generic = _pair(cls, units=6, return_sequences=return_sequences, go_backwards=go_backwards,
                           return_state=True, **extra)
    fused(x)
    generic(x)
    generic.set_weights(fused.get_weights())
    for m in (None, mask):
        a, b = fused(x, mask=m), generic(x, mask=m)
        for u, v in zip(a, b):
            np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6)
    grads = []
    for layer in (fused, generic):
        with keras.autodiff.Tape() as tape:
            out = layer(x, mask=mask)
            total = ops.sum(out[0] * out[0]) + ops.sum(out[1])
        grads.append(tape.gradient(total, layer.trainable_weights))
    for u, v in zip(*grads):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


def test_lstm_weights_follow_keras_layout_and_names():
    keras.backend.clear_session()
    inputs = keras.Input((None, 3))
    lstm = layers.LSTM(4)
    keras.Model(inputs, lstm(inputs))
    assert [w.shape for w in lstm.weights] == [(3, 16), (4, 16), (16,)]
    assert [w.name for w in lstm.weights] == ["lstm/lstm_cell/kernel:0", "lstm/lstm_cell/recurrent_kernel:0",
                                              "lstm/lstm_cell/bias:0"]
    bias = lstm.cell.bias.numpy()
    np.testing.assert_array_equal(bias, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])  # unit_forget_bias
    assert layers.GRU(2).cell._bias_shape() == (2, 6) and layers.GRU(2, reset_after=False).cell._bias_shape() == (6,)


def test_a_custom_cell_trains_through_rnn_without_a_written_gradient():
    class MinimalRNNCell(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="orthogonal")

        def call(self, inputs, states):
            prev = states[0] if isinstance(states, (list, tuple)) else states
            h = ops.matmul(inputs, self.kernel) + ops.matmul(prev, self.recurrent_kernel)
            return h, [h]

    inputs = keras.Input((None, 5))
    cell = MinimalRNNCell(3)
    model = keras.Model(inputs, layers.RNN(cell)(inputs))
    x = RNG.standard_normal((4, 6, 5)).astype("float32")
    h = np.zeros((4, 3), "float32")
    k, r = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    for t in range(6):
        h = x[:, t] @ k + h @ r
    np.testing.assert_allclose(model.predict(x, verbose=0), h, rtol=1e-4, atol=1e-5)
    model.compile(keras.optimizers.SGD(0.01), "mse")
    before = model.evaluate(x, np.zeros((4, 3)), verbose=0)
    model.fit(x, np.zeros((4, 3)), epochs=5, verbose=0)
    assert model.evaluate(x, np.zeros((4, 3)), verbose=0) < before


def test_embedding_mask_reaches_the_lstm_and_masked_steps_keep_the_state():
    tokens = keras.Input((None,), dtype="int32")
    embed = layers.Embedding(10, 4, mask_zero=True)
    lstm = layers.LSTM(3)
    model = keras.Model(tokens, lstm(embed(tokens)))
    ids = np.array([[3, 4, 0, 0], [5, 6, 7, 8]], "int32")
    trimmed = model.predict(ids[:, :2], verbose=0)
    padded = model.predict(ids, verbose=0)
    np.testing.assert_allclose(padded[0], trimmed[0], rtol=1e-6)  # padding after the tokens changes nothing
    assert not np.allclose(padded[1], trimmed[1])
    np.testing.assert_array_equal(embed.compute_mask(ids), ids != 0)


def test_embedding_looks_up_rows_and_refuses_ids_out_of_range():
    layer = layers.Embedding(5, 2)
    ids = np.array([[0, 4], [2, 2]])
    out = layer(ids)
    np.testing.assert_array_equal(out, layer.embeddings.numpy()[ids])
    np.testing.assert_array_equal(layer(ids.astype("float32")), out)  # float ids holding integers
    with pytest.raises(ValueError, match="embedding.*5"):
        layer(np.array([[1, 5]]))


def test_masking_layer_masks_steps_equal_to_the_mask_value():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [3.0, 0.0]]], "float32")
    masking = layers.Masking(0.0)
    np.testing.assert_array_equal(masking.compute_mask(x), [[True, False, True]])
    inputs = keras.Input((3, 2))
    model = keras.Model(inputs, layers.SimpleRNN(2, return_sequences=True)(layers.Masking()(inputs)))
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out[0, 1], out[0, 0])  # the masked step repeats the previous output


def test_initial_state_return_state_and_stateful():
    x = RNG.standard_normal((2, 3, 4)).astype("float32")
    lstm = layers.LSTM(5, return_state=True)
    out, h, c = lstm(x)
    np.testing.assert_allclose(out, h)
    out2, _, _ = lstm(x, initial_state=[h, c])
    assert not np.allclose(out2, out)
    with pytest.raises(ValueError, match="initial_state"):
        lstm(x, initial_state=[h])
    stateful = layers.GRU(3, stateful=True)
    inputs = keras.Input((3, 4), batch_size=2)
    model = keras.Model(inputs, stateful(inputs))
    first = model.predict(x, verbose=0)
    second = model.predict(x, verbose=0)
    assert not np.allclose(first, second)  # the state carried over
    stateful.reset_states()
    np.testing.assert_allclose(model.predict(x, verbose=0), first, rtol=1e-6)
    with pytest.raises(ValueError, match="stateful RNN needs a fixed batch size"):
        layers.LSTM(2, stateful=True)(keras.Input((3, 4)))


def test_bad_inputs_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match="lstm.*3-D input.*\\(None, 4\\)"):
        layers.LSTM(2)(keras.Input((4,)))
    with pytest.raises(ValueError, match="mask has shape"):
        layers.GRU(2)(np.zeros((2, 3, 1), "float32"), mask=np.ones((2, 4), bool))


def test_bidirectional_concatenates_a_forward_and_a_backward_pass():
    keras.backend.clear_session()
    x = RNG.standard_normal((2, 4, 3)).astype("float32")
    layer = layers.LSTM(2, return_sequences=True)
    bi = layers.Bidirectional(layer)
    out = bi(x)
    assert out.shape == (2, 4, 4)
    assert [w.name.split("/")[0] for w in bi.weights] == ["forward_lstm"] * 3 + ["backward_lstm"] * 3
    forward, backward = bi.forward_layer, bi.backward_layer
    np.testing.assert_allclose(out[..., :2], forward(x), rtol=1e-6)
    np.testing.assert_allclose(out[..., 2:], np.asarray(backward(x))[:, ::-1], rtol=1e-6)
    summed = layers.Bidirectional(layers.GRU(2), merge_mode="sum")
    assert summed(x).shape == (2, 2)


def test_time_distributed_applies_the_layer_to_every_step():
    x = RNG.standard_normal((2, 3, 4)).astype("float32")
    td = layers.TimeDistributed(layers.Dense(5))
    out = td(x)
    kernel, bias = td.layer.get_weights()
    np.testing.assert_allclose(out, x @ kernel + bias, rtol=1e-5)


@pytest.mark.parametrize("cls, kwargs, shape, out_shape, n", [
    (layers.SimpleRNN, {"units": 3}, (2, 4, 2), (None, 3), 3),
    (layers.LSTM, {"units": 3, "return_sequences": True}, (2, 4, 2), (None, 4, 3), 3),
    (layers.GRU, {"units": 2, "go_backwards": True}, (2, 4, 2), (None, 2), 3),
    (layers.Bidirectional, {"layer": layers.LSTM(2)}, (2, 4, 2), (None, 4), 6),
    (layers.TimeDistributed, {"layer": layers.Dense(3)}, (2, 4, 2), (None, 4, 3), 2),
])
def test_sequence_layers_through_the_harness(cls, kwargs, shape, out_shape, n, tmp_path):
    check_layer(cls, kwargs, shape, expected_output_shape=out_shape, expected_trainable=n, tmp_path=tmp_path,
                rtol=1e-5, atol=1e-6)


def test_embedding_through_the_harness(tmp_path):
    check_layer(layers.Embedding, {"input_dim": 10, "output_dim": 3}, (2, 5), input_dtype="int32",
                expected_output_shape=(None, 5, 3), expected_trainable=1, tmp_path=tmp_path)


def test_the_guide_ticket_model_trains():
    num_tags, num_words, num_departments = 12, 100, 4
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.LSTM(16)(layers.Embedding(num_words, 8)(title_input))
    body_features = layers.LSTM(4)(layers.Embedding(num_words, 8)(body_input))
    x = layers.concatenate([title_features, body_features, tags_input])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)
    model = keras.Model(inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred])
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=[keras.losses.BinaryCrossentropy(from_logits=True),
                        keras.losses.CategoricalCrossentropy(from_logits=True)],
                  loss_weights=[1.0, 0.2])
    title_data = RNG.integers(num_words, size=(32, 10))
    body_data = RNG.integers(num_words, size=(32, 20))
    tags_data = RNG.integers(2, size=(32, num_tags)).astype("float32")
    priority_targets = RNG.random(size=(32, 1))
    dept_targets = RNG.integers(2, size=(32, num_departments))
    history = model.fit({"title": title_data, "body": body_data, "tags": tags_data},
                        {"priority": priority_targets, "department": dept_targets}, epochs=3, batch_size=8,
                        verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert set(history) == {"loss", "priority_loss", "department_loss"}


def test_losses_and_metrics_skip_the_masked_steps_of_an_output():
    tokens = keras.Input((4,), dtype="int32")
    x = layers.Embedding(6, 2, mask_zero=True, embeddings_initializer="ones")(tokens)
    out = layers.TimeDistributed(layers.Dense(1, kernel_initializer="ones", use_bias=False))(
        layers.SimpleRNN(2, return_sequences=True, kernel_initializer="zeros", recurrent_initializer="zeros",
                         bias_initializer="ones")(x))
    model = keras.Model(tokens, out)
    model.compile("sgd", "mse", metrics=["mae"])
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]], "int32")
    target = np.where((ids == 0)[..., None], 100.0, 0.0).astype("float32")  # far off at the masked steps only
    value = 2 * np.tanh(1.0)  # every step outputs the same value
    logs = model.evaluate(ids, target, return_dict=True, verbose=0)
    assert logs["loss"] == pytest.approx(value ** 2, rel=1e-5)  # the mean over the 3 valid steps only
    assert logs["mae"] == pytest.approx(value, rel=1e-5)


def test_repeat_vector_permute_and_merges_pass_masks_on():
    x = RNG.standard_normal((2, 3)).astype("float32")
    np.testing.assert_array_equal(layers.RepeatVector(4)(x), np.repeat(x[:, None], 4, axis=1))
    y = RNG.standard_normal((2, 3, 5)).astype("float32")
    np.testing.assert_array_equal(layers.Permute((2, 1))(y), y.transpose(0, 2, 1))
    with pytest.raises(ValueError, match="permutation"):
        layers.Permute((1, 3))
    tokens = keras.Input((3,), dtype="int32")
    a = layers.Embedding(5, 2, mask_zero=True)(tokens)
    b = layers.Embedding(5, 2)(tokens)
    merged = layers.add([a, b])
    assert merged.has_mask and not b.has_mask
    ids = np.array([[1, 0, 2]])
    mask = layers.Add().compute_mask([a, b], [ids != 0, None])
    np.testing.assert_array_equal(mask, [[True, False, True]])


@pytest.mark.parametrize("cls, kwargs, expected", [
    (layers.ZeroPadding1D, {"padding": (1, 2)}, lambda x: np.pad(x, ((0, 0), (1, 2), (0, 0)))),
    (layers.Cropping1D, {"cropping": (1, 2)}, lambda x: x[:, 1:-2]),
    (layers.UpSampling1D, {"size": 3}, lambda x: np.repeat(x, 3, axis=1)),
])
def test_one_dimensional_shape_layers(cls, kwargs, expected, tmp_path):
    x = RNG.standard_normal((2, 5, 3)).astype("float32")
    model = check_layer(cls, kwargs, (2, 5, 3), input_data=x, trains=False, tmp_path=tmp_path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected(x))


def test_global_average_pooling_1d_averages_the_unmasked_steps():
    tokens = keras.Input((4,), dtype="int32")
    embed = layers.Embedding(5, 2, mask_zero=True)
    pooled = layers.GlobalAveragePooling1D()(embed(tokens))
    assert not pooled.has_mask
    model = keras.Model(tokens, pooled)
    ids = np.array([[1, 2, 0, 0], [3, 3, 3, 4]])
    table = embed.embeddings.numpy()
    expected = [table[[1, 2]].mean(0), table[[3, 3, 3, 4]].mean(0)]
    np.testing.assert_allclose(model.predict(ids, verbose=0), expected, rtol=1e-6)
