"""Files minigraph writes with the sequence layers load in tf_keras 2.21 and predict the same (an optional
oracle: tests/keras_oracle.py; skips, naming the reason, when tf_keras is absent)."""
import numpy as np
import pytest

import minigraph as keras
from keras_oracle import predict_in_tf_keras, skip_reason
from minigraph import layers


def _sequence_model():
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    x = layers.Embedding(20, 4, mask_zero=True)(tokens)
    x = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(x)
    x = layers.GRU(3, return_sequences=True, go_backwards=True)(x)
    x = layers.TimeDistributed(layers.Dense(2))(x)
    x = layers.SimpleRNN(2)(x)
    x = layers.RepeatVector(3)(x)
    x = layers.Conv1D(2, 2, padding="causal")(x)
    x = layers.GRU(2, reset_after=False)(x)
    return keras.Model(tokens, layers.Dense(3, activation="softmax")(x))


def test_sequence_model_file_loads_in_tf_keras(tmp_path):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 20, size=(5, 6)).astype("int32")
    ids[:, -2:] = 0  # padding: the masks matter
    model = _sequence_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(ids, rng.integers(0, 3, 5), epochs=2, verbose=0)
    predicted, names = predict_in_tf_keras(model, ids, tmp_path)
    assert names == [type(layer).__name__ for layer in model.layers]
    np.testing.assert_allclose(predicted, model.predict(ids, verbose=0), rtol=1e-5, atol=1e-6)
