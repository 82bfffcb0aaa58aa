"""Sequence models built the same way with any Keras-like module (tf_keras, Keras 3 or minigraph): the
functional guide's ticket-routing model and a few mixing every sequence layer.  tests/data/
make_sequence_summaries.py runs them with tf_keras; tests/test_sequence_summary.py with minigraph."""


def ticket(keras, num_words=10000, num_tags=12, num_departments=4, units=(128, 32)):
    """The guide's model: two text inputs through Embedding and LSTM, concatenated with a tag vector, with
    two outputs (a dict)."""
    L = keras.layers
    title_input = keras.Input(shape=(None,), name="title")
    body_input = keras.Input(shape=(None,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = L.LSTM(units[0])(L.Embedding(num_words, 64)(title_input))
    body_features = L.LSTM(units[1])(L.Embedding(num_words, 64)(body_input))
    x = L.concatenate([title_features, body_features, tags_input])
    priority_pred = L.Dense(1, name="priority")(x)
    department_pred = L.Dense(num_departments, name="department")(x)
    return keras.Model(inputs=[title_input, body_input, tags_input],
                       outputs={"priority": priority_pred, "department": department_pred}, name="ticket")


def recurrent_mix(keras):
    """Embedding with a mask, Bidirectional, GRU, SimpleRNN with return_state, RepeatVector, Permute,
    TimeDistributed, causal Conv1D and the 1-D pools."""
    L = keras.layers
    inputs = keras.Input((20,), name="ids")
    x = L.Embedding(500, 16, mask_zero=True)(inputs)
    x = L.Bidirectional(L.LSTM(8, return_sequences=True))(x)
    x = L.GRU(6, return_sequences=True)(x)
    last, state = L.SimpleRNN(5, return_state=True)(x)
    y = L.TimeDistributed(L.Dense(3))(L.Permute((2, 1))(L.RepeatVector(4)(last)))
    c = L.Conv1D(7, 2, padding="causal")(y)
    pooled = L.AveragePooling1D(2, padding="same")(c)
    return keras.Model(inputs, [L.MaxPooling1D(2)(c), L.GlobalAveragePooling1D()(c),
                                L.GlobalMaxPooling1D()(pooled), state], name="recurrent_mix")


def states(keras):
    """Masking, an LSTM returning its sequence and both states, Bidirectional with merge_mode sum and None."""
    L = keras.layers
    inputs = keras.Input((10, 3), name="steps")
    outputs, h, c = L.LSTM(4, return_sequences=True, return_state=True)(L.Masking(0.0)(inputs))
    summed = L.Bidirectional(L.GRU(3), merge_mode="sum")(outputs)
    forward, backward = L.Bidirectional(L.SimpleRNN(2, return_sequences=True), merge_mode=None)(outputs)
    return keras.Model(inputs, [summed, h, c, forward, backward], name="states")


def stacked(keras):
    """A Sequential stack: Embedding, Conv1D, MaxPooling1D, LSTM, GRU, RepeatVector, SimpleRNN, Dense."""
    L = keras.layers
    return keras.Sequential([keras.Input((30,)), L.Embedding(100, 8), L.Conv1D(16, 3, activation="relu"),
                             L.MaxPooling1D(), L.LSTM(12, return_sequences=True), L.GRU(6), L.RepeatVector(3),
                             L.SimpleRNN(4), L.Dense(2)], name="stacked")


MODELS = {"ticket": ticket, "recurrent_mix": recurrent_mix, "states": states, "stacked": stacked}
