"""ONNX export benchmark: the seed's MLP (784-64-64-10 softmax) predicting one sample, minigraph's
`model.predict` beside ONNX Runtime running the model's export, in the same process.

    python bench/bench_onnx.py              (about 10 s)
    python bench/bench_onnx.py --rounds 40

Both use 2 threads (minigraph's OpenMP team via set_num_threads, ONNX Runtime's intra-op pool) and take
a numpy array in and give one out. The two alternate in rounds (the order flips every round), so that
load from other processes on the shared machine hits both alike; each line prints the median over all
rounds, and the ratio is minigraph's time over ONNX Runtime's. The outputs are checked equal first.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the checkout's in-place build
import minigraph as keras  # noqa: E402
from minigraph import layers  # noqa: E402
from minigraph.kernels import set_num_threads  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_models import interleaved  # noqa: E402  (the same interleaved rounds as the model benchmark)

THREADS = 2


def mlp():
    inputs = keras.Input(shape=(784,), name="img")
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


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
    model = mlp()
    one = np.random.default_rng(0).random((1, 784), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mlp.onnx")
        model.export(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"img": one}
    np.testing.assert_allclose(session.run(None, feed)[0], model.predict(one, verbose=0), rtol=1e-4, atol=1e-5)

    medians = interleaved({"minigraph": lambda: model.predict(one, verbose=0),
                           "onnxruntime": lambda: session.run(None, feed)}, args.rounds, args.repeats)
    print(f"threads {THREADS}; onnxruntime {ort.__version__}; medians over {args.rounds} rounds of "
          f"{args.repeats} calls")
    print(f"{'workload':<30} {'minigraph':>11} {'onnxruntime':>12} {'ratio':>7}")
    mg, rt = medians["minigraph"] * 1e6, medians["onnxruntime"] * 1e6
    print(f"{'MLP predict (1 sample)':<30} {mg:>8.2f} us {rt:>9.2f} us {mg / rt:>7.2f}")


if __name__ == "__main__":
    main()
