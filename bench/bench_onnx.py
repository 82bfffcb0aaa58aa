"""ONNX export benchmark: the seed's MLP (784-64-64-10 softmax) predicting one sample: minigraph's
`model(x)` and `model.predict(x, verbose=0)` beside ONNX Runtime running the model's export and PyTorch's
forward of the same weights under `torch.no_grad()`, in the same process.

    python bench/bench_onnx.py              (about 20 s)
    python bench/bench_onnx.py --rounds 40

All use 2 threads (minigraph's OpenMP team via set_num_threads, ONNX Runtime's intra-op pool, torch's
set_num_threads) and take a numpy array in and give one out. They alternate in rounds (the order flips
every round), so that load from other processes on the shared machine hits all alike; each line prints
the median over all rounds and minigraph's time over ONNX Runtime's and over PyTorch's. The outputs are
checked equal first. PyTorch is optional.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the checkout's in-place build
from minigraph.kernels import set_num_threads  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_models import guide_models, interleaved  # noqa: E402  (the same interleaved rounds as the model benchmark)

THREADS = 2


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    try:
        import onnxruntime as ort
    except ImportError:
        sys.exit("bench_onnx needs onnx and onnxruntime: pip install '.[onnx]'")

    set_num_threads(THREADS)
    model = guide_models.mnist_mlp()
    one = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mlp.onnx")
        model.export(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"img": one}
    want = model.predict(one, verbose=0)
    np.testing.assert_allclose(session.run(None, feed)[0], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(model(one), want)
    candidates = {"model(x)": lambda: model(one), "predict(x)": lambda: model.predict(one, verbose=0),
                  "onnxruntime": lambda: session.run(None, feed)}
    torch_version = "not installed"
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch_version = torch.__version__
        torch.set_num_threads(THREADS)
        net = torch_mlp(torch, model)
        one_t = torch.from_numpy(one)

        def torch_forward():
            with torch.no_grad():
                return torch.softmax(net(one_t), dim=-1).numpy()
        np.testing.assert_allclose(torch_forward(), want, rtol=1e-4, atol=1e-5)
        candidates["torch"] = lambda: torch_forward()

    medians = interleaved(candidates, args.rounds, args.repeats)
    print(f"threads {THREADS}; onnxruntime {ort.__version__}; torch {torch_version}; medians over {args.rounds} "
          f"rounds of {args.repeats} calls; 1-minute load average {os.getloadavg()[0]:.2f}")
    rt = medians["onnxruntime"] * 1e6
    pt = medians["torch"] * 1e6 if "torch" in medians else None
    print(f"{'MLP, 1 sample':<22} {'time':>9} {'/ onnxruntime':>14} {'/ torch':>8}")
    for name, seconds in medians.items():
        us = seconds * 1e6
        vs_torch = f"{us / pt:>8.2f}" if pt else f"{'-':>8}"
        print(f"{name:<22} {us:>6.2f} us {us / rt:>14.2f} {vs_torch}")


def torch_mlp(torch, model):
    """The same MLP in PyTorch with the minigraph model's weights (a Linear holds the kernel transposed)."""
    dense = [layer for layer in model.layers if layer.weights]
    net = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 10))
    with torch.no_grad():
        for linear, layer in zip([m for m in net if isinstance(m, torch.nn.Linear)], dense):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.kernel.value.T)))
            linear.bias.copy_(torch.from_numpy(layer.bias.value))
    return net.eval()


if __name__ == "__main__":
    main()
