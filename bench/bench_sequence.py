"""Sequence-model benchmark: whole training steps and latency through the public API, minigraph vs PyTorch.

    python bench/bench_sequence.py [--rounds N] [--blas-steps]

Workloads (issue 12's, float32):
- LSTM text classifier: Embedding(10000, 64) -> LSTM(128) -> Dense(4), batch 64, length 100, one Adam step,
  crossentropy from logits;
- GRU: GRU(64, return_sequences=True) over (64, 50, 32), then the mean over time and mse, one Adam step;
- LSTM predict of one sequence (length 100) against torch's forward under no_grad.

Same method as bench_models.py (whose timing helpers this reuses): the same process and threads, the two
frameworks alternating round by round, medians, and the ratio minigraph / torch beside each figure.
--blas-steps adds a third candidate in the same rounds: minigraph with the recurrent kernels' per-step
products on BLAS (rnn._set_direct(False), the path before the packed step kernels).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_models  # noqa: E402
from bench_models import interleaved, keras  # noqa: E402
from minigraph import layers  # noqa: E402
from bench_rnn import with_blas_steps  # noqa: E402
from minigraph.kernels import get_num_threads  # noqa: E402

RNG = np.random.default_rng(0)
TOKENS = RNG.integers(1, 10000, size=(64, 100)).astype("int32")
LABELS = RNG.integers(0, 4, size=64)
SERIES = RNG.standard_normal((64, 50, 32)).astype("float32")
SERIES_TARGET = RNG.standard_normal((64, 64)).astype("float32")


def mg_lstm_classifier():
    tokens = keras.Input((None,), dtype="int32")
    x = layers.Embedding(10000, 64)(tokens)
    x = layers.LSTM(128)(x)
    model = keras.Model(tokens, layers.Dense(4)(x))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def mg_gru():
    series = keras.Input((50, 32))
    x = layers.GRU(64, return_sequences=True)(series)
    model = keras.Model(series, layers.GlobalAveragePooling1D()(x))
    model.compile(optimizer="adam", loss="mse")
    return model


def torch_models():
    torch, nn = bench_models.torch, bench_models.nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10000, 64)
            self.lstm = nn.LSTM(64, 128, batch_first=True)
            self.head = nn.Linear(128, 4)

        def forward(self, ids):
            _, (h, _) = self.lstm(self.embed(ids))
            return self.head(h[-1])

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(32, 64, batch_first=True)

        def forward(self, x):
            return self.gru(x)[0].mean(dim=1)

    classifier, recurrent = Classifier(), Recurrent()
    step_classifier = bench_models.torch_train_step(classifier, bench_models.torch_adam(classifier),
                                                    nn.CrossEntropyLoss(), lambda x: torch.from_numpy(x).long())
    step_recurrent = bench_models.torch_train_step(recurrent, bench_models.torch_adam(recurrent), nn.MSELoss(),
                                                   torch.from_numpy)

    def predict_one(ids):
        with torch.no_grad():
            return classifier(torch.from_numpy(ids).long()).numpy()
    return step_classifier, step_recurrent, predict_one


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--blas-steps", action="store_true",
                        help="also time minigraph with the per-step recurrent products on BLAS")
    args = parser.parse_args()
    bench_models.import_torch()
    torch = bench_models.torch
    threads = get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"threads: minigraph {threads}, torch {torch.get_num_threads() if torch else '-'}; "
          f"load average {os.getloadavg()[0]:.2f}; {bench_models.build_description()}")
    classifier, recurrent = mg_lstm_classifier(), mg_gru()
    one = TOKENS[:1]
    rows = [("LSTM text classifier, Adam step", "ms", lambda: classifier.train_on_batch(TOKENS, LABELS)),
            ("GRU sequences, Adam step", "ms", lambda: recurrent.train_on_batch(SERIES, SERIES_TARGET)),
            ("LSTM predict, 1 sequence", "ms", lambda: classifier.predict(one, verbose=0))]
    torch_fns = [None] * 3
    if torch is not None:
        step_c, step_r, predict_one = torch_models()
        torch_fns = [lambda: step_c(TOKENS, LABELS), lambda: step_r(SERIES, SERIES_TARGET),
                     lambda: predict_one(one)]
    header = f"{'workload':<34} {'minigraph':>11} {'torch':>11} {'mg/torch':>9}"
    if args.blas_steps:
        header += f" {'BLAS steps':>11} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for (name, unit, mg_fn), torch_fn in zip(rows, torch_fns):
        candidates = {"mg": mg_fn} if torch_fn is None else {"mg": mg_fn, "torch": torch_fn}
        if args.blas_steps:
            candidates["blas"] = with_blas_steps(mg_fn)
        medians = interleaved(candidates, args.rounds, 5 if "predict" not in name else 50)
        mg = medians["mg"] * 1e3
        line = f"{name:<34} {mg:>8.3f} {unit}"
        if torch_fn is not None:
            t = medians["torch"] * 1e3
            line += f" {t:>8.3f} {unit} {mg / t:>9.2f}"
            if args.blas_steps:
                line += f" {medians['blas'] * 1e3:>8.3f} {unit} {medians['blas'] * 1e3 / t:>6.2f}"
        print(line)


if __name__ == "__main__":
    main()
