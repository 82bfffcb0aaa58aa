"""Recurrent kernel benchmark: minigraph's LSTM and GRU kernels beside torch's nn.LSTM / nn.GRU, float32.

    python bench/bench_rnn.py
    MINIGRAPH_TORCH_SITE=/path/to/site-packages python bench/bench_rnn.py   (torch from another environment
                                                                            of the same Python, appended to sys.path)

Rows: LSTM, batch 64, length 100, 64 features -> 128 units; GRU (reset_after, Keras's default), batch 64,
length 50, 32 features -> 64 units; each the forward pass alone and forward + backward (every gradient:
input, initial states, kernels, biases).  Torch runs in the same process with the same thread count, its
backward through autograd from the same output gradient; the two alternate round by round and the table
gives medians in ms and the ratio minigraph / torch (under 1: minigraph is faster).  The last two columns:
minigraph with its per-step recurrent products on BLAS (rnn._set_direct(False), the path before the packed
step kernels), timed in the same rounds, and its ratio to torch.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's in-place build
import minigraph.kernels as K  # noqa: E402
from minigraph.kernels import rnn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_models  # noqa: E402  (its interleaved rounds)

if os.environ.get("MINIGRAPH_TORCH_SITE"):
    sys.path.append(os.environ["MINIGRAPH_TORCH_SITE"])
try:
    import torch
except ImportError:
    torch = None

RNG = np.random.default_rng(0)
ROUNDS = 15


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def interleaved(fns, rounds=ROUNDS):
    """Median ms of each fn: bench_models.interleaved's rounds, one call of each fn per round."""
    medians = bench_models.interleaved(dict(enumerate(fns)), rounds, 1)
    return [1e3 * medians[i] for i in range(len(fns))]


def lstm_case(batch, time_steps, features, units):
    x, dy = rand(batch, time_steps, features), rand(batch, time_steps, units)
    kernel, rk, bias = rand(features, 4 * units, scale=0.1), rand(units, 4 * units, scale=0.1), rand(4 * units)

    def mg_forward():
        return K.lstm_forward(x, kernel, rk, bias)

    def mg_train():
        y, h, c, cache = K.lstm_forward(x, kernel, rk, bias)
        K.lstm_backward(cache, dy)

    return mg_forward, mg_train, ("LSTM", x, dy, units)


def gru_case(batch, time_steps, features, units):
    x, dy = rand(batch, time_steps, features), rand(batch, time_steps, units)
    kernel, rk, bias = rand(features, 3 * units, scale=0.1), rand(units, 3 * units, scale=0.1), rand(2, 3 * units)

    def mg_forward():
        return K.gru_forward(x, kernel, rk, bias)

    def mg_train():
        y, h, cache = K.gru_forward(x, kernel, rk, bias)
        K.gru_backward(cache, dy)

    return mg_forward, mg_train, ("GRU", x, dy, units)


def torch_case(kind, x, dy, units):
    module = (torch.nn.LSTM if kind == "LSTM" else torch.nn.GRU)(x.shape[2], units, batch_first=True)
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)

    def forward():
        with torch.no_grad():
            module(tx)

    def train():
        xg = tx.detach().requires_grad_(True)
        module.zero_grad(set_to_none=True)
        y, _ = module(xg)
        y.backward(tdy)

    return forward, train


def main():
    threads = K.get_num_threads()
    print(f"threads {threads}; torch {torch.__version__ if torch else 'not importable'}")
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"{'case':<34}{'minigraph ms':>14}{'torch ms':>10}{'mg/torch':>10}{'BLAS steps':>12}{'/torch':>8}")
    for name, case in [("LSTM (64, 100, 64) -> 128", lstm_case(64, 100, 64, 128)),
                       ("GRU (64, 50, 32) -> 64", gru_case(64, 50, 32, 64))]:
        mg_forward, mg_train, spec = case
        torch_fns = torch_case(*spec) if torch is not None else (None, None)
        for label, mg_fn, torch_fn in [("forward", mg_forward, torch_fns[0]),
                                       ("forward + backward", mg_train, torch_fns[1])]:
            if torch_fn is None:
                mg_ms, blas_ms = interleaved([mg_fn, with_blas_steps(mg_fn)])
                print(f"{name + ', ' + label:<34}{mg_ms:>14.2f}{'-':>10}{'-':>10}{blas_ms:>12.2f}{'-':>8}")
            else:
                mg_ms, torch_ms, blas_ms = interleaved([mg_fn, torch_fn, with_blas_steps(mg_fn)])
                print(f"{name + ', ' + label:<34}{mg_ms:>14.2f}{torch_ms:>10.2f}{mg_ms / torch_ms:>10.2f}"
                      f"{blas_ms:>12.2f}{blas_ms / torch_ms:>8.2f}")


def with_blas_steps(fn):
    """fn run with the recurrent kernels' per-step products on BLAS (the path before the packed steps)."""
    def run():
        old = rnn._set_direct(False)
        try:
            return fn()
        finally:
            rnn._set_direct(old)
    return run


if __name__ == "__main__":
    main()
