"""Plain numpy references of Keras's recurrent cells, step by step from Keras's formulas, and the masked
loop of Keras's backend.rnn (tests only)."""
import numpy as np

ACTIVATIONS = {
    "linear": lambda v: v,
    "tanh": np.tanh,
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "hard_sigmoid": lambda v: np.clip(0.2 * v + 0.5, 0, 1),
    "hard_sigmoid_keras3": lambda v: np.clip(v + 3, 0, 6) / 6,
    "relu": lambda v: np.maximum(v, 0),
}


def lstm_step(x_t, states, kernel, recurrent_kernel, bias, act, rec_act):
    h, c = states
    u = h.shape[1]
    z = x_t @ kernel + h @ recurrent_kernel + bias
    i, f = rec_act(z[:, :u]), rec_act(z[:, u:2 * u])
    c = f * c + i * act(z[:, 2 * u:3 * u])
    o = rec_act(z[:, 3 * u:])
    h = o * act(c)
    return h, [h, c]


def gru_step(x_t, states, kernel, recurrent_kernel, bias, act, rec_act, reset_after):
    (h,) = states
    u = h.shape[1]
    if reset_after:
        mx = x_t @ kernel + bias[0]
        mi = h @ recurrent_kernel + bias[1]
        z = rec_act(mx[:, :u] + mi[:, :u])
        r = rec_act(mx[:, u:2 * u] + mi[:, u:2 * u])
        hh = act(mx[:, 2 * u:] + r * mi[:, 2 * u:])
    else:
        mx = x_t @ kernel + bias
        z = rec_act(mx[:, :u] + h @ recurrent_kernel[:, :u])
        r = rec_act(mx[:, u:2 * u] + h @ recurrent_kernel[:, u:2 * u])
        hh = act(mx[:, 2 * u:] + (r * h) @ recurrent_kernel[:, 2 * u:])
    h = z * h + (1 - z) * hh
    return h, [h]


def simple_rnn_step(x_t, states, kernel, recurrent_kernel, bias, act):
    (h,) = states
    h = act(x_t @ kernel + bias + h @ recurrent_kernel)
    return h, [h]


def run(step, x, states, mask=None, zero_output_for_mask=False):
    """Keras's backend.rnn: masked steps keep the states; their output is the previous output (zeros at
    first) or zeros.  -> (outputs (batch, time, units), final states)."""
    batch, time = x.shape[:2]
    prev_output = np.zeros_like(states[0])
    outputs = []
    for t in range(time):
        output, new_states = step(x[:, t], states)
        keep = np.ones((batch, 1), bool) if mask is None else mask[:, t, None].astype(bool)
        output = np.where(keep, output, 0 if zero_output_for_mask else prev_output)
        states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
        outputs.append(output)
        prev_output = output
    y = np.stack(outputs, 1) if outputs else np.zeros((batch, 0, states[0].shape[1]))
    return y, states
