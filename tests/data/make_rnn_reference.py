"""Write rnn_keras_reference.npz: tf_keras's LSTM, GRU (reset_after both ways) and SimpleRNN outputs, final
states and gradients for fixed weights, inputs and a mask (tests/test_rnn_kernels.py compares the kernels
to them).  Run with the oracle environment (tf_keras 2.x):

    /path/to/oracle/bin/python tests/data/make_rnn_reference.py
"""
import json
import os

import numpy as np
import tensorflow as tf
import tf_keras as keras

BATCH, TIME, FEATURES, UNITS = 3, 5, 4, 6
CASES = {
    # name: (layer class, constructor arguments, number of gates)
    "lstm": (keras.layers.LSTM, {}, 4),
    "lstm_hard_sigmoid": (keras.layers.LSTM, {"recurrent_activation": "hard_sigmoid", "activation": "relu"}, 4),
    "gru": (keras.layers.GRU, {}, 3),
    "gru_reset_before": (keras.layers.GRU, {"reset_after": False}, 3),
    "simple_rnn": (keras.layers.SimpleRNN, {}, 1),
}


def main():
    rng = np.random.default_rng(20)
    out = {}
    x = rng.standard_normal((BATCH, TIME, FEATURES)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [0, 1, 1, 0, 1], [1, 1, 0, 0, 0]], bool)
    out["x"], out["mask"] = x, mask
    for name, (cls, kwargs, gates) in CASES.items():
        layer = cls(UNITS, return_sequences=True, return_state=True, **kwargs)
        layer.build((None, TIME, FEATURES))
        weights = [(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in layer.get_weights()]
        layer.set_weights(weights)
        n_states = 2 if gates == 4 else 1
        states = [(rng.standard_normal((BATCH, UNITS)) * 0.5).astype(np.float32) for _ in range(n_states)]
        d_outputs = rng.standard_normal((BATCH, TIME, UNITS)).astype(np.float32)
        d_states = [rng.standard_normal((BATCH, UNITS)).astype(np.float32) for _ in range(n_states)]
        tx = tf.constant(x)
        tstates = [tf.constant(s) for s in states]
        with tf.GradientTape() as tape:
            tape.watch([tx] + tstates)
            result = layer(tx, initial_state=tstates, mask=tf.constant(mask))
            y, final = result[0], result[1:]
            loss = tf.reduce_sum(y * d_outputs) + sum(tf.reduce_sum(s * d) for s, d in zip(final, d_states))
        grads = tape.gradient(loss, [tx] + tstates + layer.trainable_weights)
        for i, w in enumerate(weights):
            out[f"{name}/w{i}"] = w
        for i, s in enumerate(states):
            out[f"{name}/state{i}"] = s
            out[f"{name}/d_state{i}"] = d_states[i]
            out[f"{name}/final{i}"] = final[i].numpy()
        out[f"{name}/d_outputs"] = d_outputs
        out[f"{name}/outputs"] = y.numpy()
        for i, g in enumerate(grads):
            out[f"{name}/grad{i}"] = tf.convert_to_tensor(g).numpy()
        out[f"{name}/config"] = json.dumps(layer.get_config())
    out["meta"] = json.dumps({"tf_keras": keras.__version__, "tensorflow": tf.__version__})
    np.savez(os.path.join(os.path.dirname(os.path.abspath(__file__)), "rnn_keras_reference.npz"), **out)


if __name__ == "__main__":
    main()
