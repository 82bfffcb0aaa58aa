"""Whole-sequence recurrent ops and the embedding lookup, on the compiled kernels (csrc/rnn.pyx,
csrc/embedding.pyx), each with its gradient rule beside it.

A recurrent op returns one array holding, along axis 1, every step's output then the final states:
`(batch, time + n_states, units)`. Layers slice it (the slices are differentiable), so a single tape
record carries the outputs and the states, and one backward call of the kernel serves every use of them.
"""
from minigraph.autodiff import differentiable
from minigraph.kernels import embedding as _embedding
from minigraph.kernels import rnn as _rnn

import numpy as np

__all__ = ["lstm_sequence", "gru_sequence", "simple_rnn_sequence", "embedding_lookup"]


def _packed(outputs, *states):
    return np.concatenate([outputs] + [s[:, None, :] for s in states], axis=1)


@differentiable
def lstm_sequence(x, kernel, recurrent_kernel, bias, h0, c0, mask=None, activation="tanh",
                  recurrent_activation="sigmoid", zero_output_for_mask=False):
    """LSTM over x (batch, time, in) -> packed (outputs..., h, c) along axis 1."""
    outputs, h, c, cache = _rnn.lstm_forward(x, kernel, recurrent_kernel, bias, h0, c0, mask, activation,
                                             recurrent_activation, zero_output_for_mask)
    steps = outputs.shape[1]

    def backward(g, needs):
        dx, dh0, dc0, dk, drk, db = _rnn.lstm_backward(cache, g[:, :steps], g[:, steps], g[:, steps + 1])
        return dx, dk, drk, db, dh0, dc0
    return _packed(outputs, h, c), backward


@differentiable
def gru_sequence(x, kernel, recurrent_kernel, bias, h0, mask=None, activation="tanh",
                 recurrent_activation="sigmoid", reset_after=True, zero_output_for_mask=False):
    """GRU over x (batch, time, in) -> packed (outputs..., h) along axis 1."""
    outputs, h, cache = _rnn.gru_forward(x, kernel, recurrent_kernel, bias, h0, mask, activation,
                                         recurrent_activation, reset_after, zero_output_for_mask)
    steps = outputs.shape[1]

    def backward(g, needs):
        dx, dh0, dk, drk, db = _rnn.gru_backward(cache, g[:, :steps], g[:, steps])
        return dx, dk, drk, db, dh0
    return _packed(outputs, h), backward


@differentiable
def simple_rnn_sequence(x, kernel, recurrent_kernel, bias, h0, mask=None, activation="tanh",
                        zero_output_for_mask=False):
    """SimpleRNN over x (batch, time, in) -> packed (outputs..., h) along axis 1."""
    outputs, h, cache = _rnn.simple_rnn_forward(x, kernel, recurrent_kernel, bias, h0, mask, activation,
                                                zero_output_for_mask)
    steps = outputs.shape[1]

    def backward(g, needs):
        dx, dh0, dk, drk, db = _rnn.simple_rnn_backward(cache, g[:, :steps], g[:, steps])
        return dx, dk, drk, db, dh0
    return _packed(outputs, h), backward


@differentiable(tensors=("table",))
def embedding_lookup(ids, table):
    """table[ids] for integer ids (checked against the table's size); the ids are constants."""
    out = _embedding.embedding_forward(ids, table)
    rows = np.shape(table)[0]
    return out, lambda g, needs: (None, _embedding.embedding_backward(ids, g, rows))
