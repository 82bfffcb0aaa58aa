"""Scale benchmark (issue 15): every workload against PyTorch, each product against numpy's sgemm, and the
time per sample over a sweep of batch sizes.

    python bench/bench_scale.py                   (all three parts; several minutes on 2 cores)
    python bench/bench_scale.py --part workloads  (or: roof, sweep)
    python bench/bench_scale.py --only resnet     (workloads whose name contains 'resnet')
    python bench/bench_scale.py --same-process    (the workloads in this process, not each in a fresh one)
    python bench/bench_scale.py --keep-freed-memory   (glibc keeps freed blocks: no page faults either side)
    python bench/bench_scale.py --plot bench/scale_sweep.png   (the sweep, drawn with matplotlib)

Workloads (float32): the seed's autoencoder and MLP; the keras-io functional guide's toy ResNet (32x32x3,
RMSprop, crossentropy from logits), train step and predict; a VGG-style stack at 64x64 (64 and 128
channels, SGD); a wide MLP 1024-2048-2048-10 (Adam); the sequence benchmark's LSTM text classifier and GRU;
a BatchNormalization CNN (Adam).

The roof: each dense or convolution product of a workload (forward, kernel gradient, input gradient), timed
as minigraph's kernel call and as numpy's sgemm on the same matrix shapes (a convolution's im2col shape:
rows n*oh*ow, depth kh*kw*cin, columns cout; numpy's time leaves out the im2col copy, which makes it a
strict roof). Each line prints the kernel's throughput as a share of numpy's. The two take paused turns
(bench_blas.turns): numpy's OpenBLAS threads spin after each call and would take the cores from the kernels.

Method as bench_models.py: the same process and threads, minigraph and torch alternating round by round,
medians, the ratio minigraph / torch beside each figure; each workload in a fresh process. PyTorch is optional.
Each row gives both libraries' minor page faults per call. minigraph's steps run in its workspace pool and
fault no pages; PyTorch's CPU tensors come from glibc's malloc, which unmaps large freed blocks, so its
steps fault thousands of fresh pages in as glibc comes. `--keep-freed-memory` (bench/allocator.py) tells
glibc to keep them: the comparison of the two libraries' own work, without the allocator.
OpenBLAS: where the machine sets OPENBLAS_CORETYPE (this workplace pins Haswell on some processors), run the
bench with it unset, `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_scale.py`; the BLAS
line prints the core in use.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_blas  # noqa: E402
from allocator import keep_freed_memory  # noqa: E402
import bench_models  # noqa: E402
import bench_sequence  # noqa: E402
from bench_models import guide_models, interleaved, keras  # noqa: E402
from minigraph import layers  # noqa: E402
from minigraph import kernels  # noqa: E402

RNG = np.random.default_rng(0)
SWEEP_BATCHES = (1, 8, 32, 128, 512)


# ----------------------------------------------------------------------------------------------- minigraph
def mg_toy_resnet():
    """The functional guide's toy ResNet for CIFAR-10, as it compiles it."""
    model = guide_models.toy_resnet()
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def mg_vgg():
    inputs = keras.Input(shape=(64, 64, 3))
    x = inputs
    for filters in (64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(10)(x), name="vgg_stack")
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def mg_wide_mlp():
    inputs = keras.Input(shape=(1024,))
    x = layers.Dense(2048, activation="relu")(inputs)
    x = layers.Dense(2048, activation="relu")(x)
    model = keras.Model(inputs, layers.Dense(10)(x), name="wide_mlp")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def mg_bn_cnn():
    inputs = keras.Input(shape=(32, 32, 3))
    x = inputs
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(10)(x), name="bn_cnn")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# ----------------------------------------------------------------------------------------------- torch
def torch_modules():
    """The same networks in torch.  The conv networks run channels_last (torch_layout), torch's fastest on this
    CPU (toy ResNet step 57 against 71 ms NCHW) and the NHWC memory minigraph and Keras use."""
    nn = bench_models.nn

    class ToyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3)
            self.pool = nn.MaxPool2d(3)
            self.blocks = nn.ModuleList(nn.Conv2d(64, 64, 3, padding=1) for _ in range(4))
            self.c7 = nn.Conv2d(64, 64, 3)
            self.d1, self.d2, self.drop = nn.Linear(64, 256), nn.Linear(256, 10), nn.Dropout(0.5)

        def forward(self, x):
            relu = nn.functional.relu
            x = self.pool(relu(self.c2(relu(self.c1(x)))))
            for i in (0, 2):
                x = relu(self.blocks[i + 1](relu(self.blocks[i](x)))) + x
            x = relu(self.c7(x)).mean(dim=(2, 3))
            return self.d2(self.drop(relu(self.d1(x))))

    def vgg():
        return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))

    def wide_mlp():
        return nn.Sequential(nn.Linear(1024, 2048), nn.ReLU(), nn.Linear(2048, 2048), nn.ReLU(), nn.Linear(2048, 10))

    def bn_cnn():
        # Keras's BatchNormalization: momentum 0.99 (torch counts 1 - momentum), epsilon 1e-3
        return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32, 1e-3, 0.01), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1, bias=False),
                             nn.BatchNorm2d(64, 1e-3, 0.01), nn.ReLU(), nn.MaxPool2d(2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    return {"toy_resnet": ToyResNet, "vgg_stack": vgg, "wide_mlp": wide_mlp, "bn_cnn": bn_cnn}


CONV_NETS = ("toy_resnet", "vgg_stack", "bn_cnn", "autoencoder")  # bench_models picks channels_last for the last


def torch_layout(name, module):
    """(module, input converter): conv networks in channels_last, taking the NHWC batch as it is (a permuted
    view, no copy); the others as they are."""
    torch = bench_models.torch
    if name in CONV_NETS:
        return module.to(memory_format=torch.channels_last), bench_models.nchw_input(torch.channels_last)
    return module, torch.from_numpy


def torch_step(name, module):
    torch, nn = bench_models.torch, bench_models.nn
    module, to_input = torch_layout(name, module)
    if name == "toy_resnet":
        optimizer = torch.optim.RMSprop(module.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)  # Keras's rho, epsilon
    elif name == "vgg_stack":
        optimizer = torch.optim.SGD(module.parameters(), lr=0.01)
    else:
        optimizer = bench_models.torch_adam(module)
    loss = nn.CrossEntropyLoss()
    if name in ("toy_resnet", "vgg_stack"):  # one-hot targets, as CategoricalCrossentropy takes
        return bench_models.torch_train_step(module, optimizer, loss, to_input)
    step = bench_models.torch_train_step(module, optimizer, loss, to_input)
    return lambda x, y: step(x, y.astype(np.int64))


def nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x


# ----------------------------------------------------------------------------------------------- workloads
def data_for(name, batch):
    shapes = {"toy_resnet": (32, 32, 3), "vgg_stack": (64, 64, 3), "wide_mlp": (1024,), "bn_cnn": (32, 32, 3),
              "autoencoder": (28, 28, 1)}
    x = RNG.random((batch,) + shapes[name], dtype=np.float32)
    if name == "autoencoder":
        return x, x
    labels = RNG.integers(0, 10, batch)
    if name in ("toy_resnet", "vgg_stack"):
        return x, np.eye(10, dtype=np.float32)[labels]
    return x, labels


MG_BUILDERS = {"toy_resnet": mg_toy_resnet, "vgg_stack": mg_vgg, "wide_mlp": mg_wide_mlp, "bn_cnn": mg_bn_cnn,
               "autoencoder": bench_models.mg_autoencoder}


def train_pair(name, batch):
    """(minigraph step, torch step or None) on one batch of `batch` samples."""
    x, y = data_for(name, batch)
    model = MG_BUILDERS[name]()
    mg = (lambda: model.train_on_batch(x, y))
    if bench_models.torch is None:
        return mg, None
    if name == "autoencoder":
        module, to_input = torch_layout(name, bench_models.torch_autoencoder())
        step = bench_models.torch_train_step(module, bench_models.torch_adam(module), bench_models.nn.MSELoss(),
                                             to_input)
    else:
        module = torch_modules()[name]()
        step = torch_step(name, module)
    xt, yt = (x, nchw(y)) if name == "autoencoder" else (x, y)  # torch's target: NCHW, copied once
    return mg, (lambda: step(xt, yt))


def predict_pair(name, batch):
    x, _ = data_for(name, batch)
    model = MG_BUILDERS[name]()
    mg = (lambda: model.predict(x, batch_size=batch, verbose=0))
    if bench_models.torch is None:
        return mg, None
    torch = bench_models.torch
    module, to_input = torch_layout(name, torch_modules()[name]().eval())

    def run():
        with torch.no_grad():
            return module(to_input(x)).numpy()
    return mg, run


def sequence_pairs():
    classifier, recurrent = bench_sequence.mg_lstm_classifier(), bench_sequence.mg_gru()
    tokens, labels = bench_sequence.TOKENS, bench_sequence.LABELS
    series, target = bench_sequence.SERIES, bench_sequence.SERIES_TARGET
    mg = [lambda: classifier.train_on_batch(tokens, labels), lambda: recurrent.train_on_batch(series, target)]
    if bench_models.torch is None:
        return [(m, None) for m in mg]
    step_c, step_r, _ = bench_sequence.torch_models()
    return list(zip(mg, [lambda: step_c(tokens, labels), lambda: step_r(series, target)]))


def workloads():
    """(name, factory of (minigraph callable, torch callable or None))."""
    lstm, gru = (lambda: sequence_pairs()[0]), (lambda: sequence_pairs()[1])
    return [
        ("seed autoencoder, Adam step, batch 128", lambda: train_pair("autoencoder", 128)),
        ("seed MLP, Adam step, batch 128", _mlp_pair),
        ("MLP predict, 1 sample", _mlp_predict_pair),
        ("toy ResNet, RMSprop step, batch 64", lambda: train_pair("toy_resnet", 64)),
        ("toy ResNet predict, batch 64", lambda: predict_pair("toy_resnet", 64)),
        ("VGG stack 64x64, SGD step, batch 32", lambda: train_pair("vgg_stack", 32)),
        ("wide MLP, Adam step, batch 256", lambda: train_pair("wide_mlp", 256)),
        ("LSTM text classifier, Adam step", lstm),
        ("GRU sequences, Adam step", gru),
        ("BatchNorm CNN, Adam step, batch 64", lambda: train_pair("bn_cnn", 64)),
    ]


def _mlp_pair():
    model, x, y = bench_models.mg_mlp(), RNG.random((128, 784), dtype=np.float32), RNG.integers(0, 10, 128)
    if bench_models.torch is None:
        return (lambda: model.train_on_batch(x, y)), None
    module = bench_models.torch_mlp()
    step = bench_models.torch_train_step(module, bench_models.torch_adam(module), bench_models.nn.CrossEntropyLoss(),
                                         bench_models.torch.from_numpy)
    y64 = y.astype(np.int64)
    return (lambda: model.train_on_batch(x, y)), (lambda: step(x, y64))


def _mlp_predict_pair():
    torch, model, one = bench_models.torch, bench_models.mg_mlp(), RNG.random((1, 784), dtype=np.float32)
    if torch is None:
        return (lambda: model.predict(one, verbose=0)), None
    module = bench_models.torch_mlp()

    def run():
        with torch.no_grad():
            return torch.softmax(module(torch.from_numpy(one)), dim=-1).numpy()
    return (lambda: model.predict(one, verbose=0)), run


def time_pair(mg, torch_fn, rounds, budget=0.25, faults=None):
    """Median seconds of each, in interleaved rounds sized so that one round takes about `budget` (faults: as
    bench_models.interleaved)."""
    start = time.perf_counter()
    mg()
    once = max(time.perf_counter() - start, 1e-6)
    repeats = max(1, min(200, int(budget / once)))
    candidates = {"mg": mg} if torch_fn is None else {"mg": mg, "torch": torch_fn}
    return interleaved(candidates, rounds, repeats, warmup=min(0.3, 3 * once), faults=faults)


def fmt_time(seconds):
    return f"{seconds * 1e3:9.3f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:9.1f} us"


def run_workloads(only, rounds, same_process, keep_freed):
    """Each workload in a fresh process of its own unless same_process: what ran before changes the
    allocator's state (glibc's mmap threshold moves with the blocks freed), and PyTorch's LSTM step was seen
    at 16 ms after the wide MLP against 26-30 ms in a process of its own (bench/RESULTS.md)."""
    header = f"{'workload':<42} {'minigraph':>12} {'faults':>7} {'torch':>12} {'faults':>7} {'mg/torch':>9}"
    print(header)
    print("-" * len(header))
    for index, (name, _) in enumerate(workloads()):
        if only and only not in name.lower():
            continue
        if same_process:
            run_workload(index, rounds)
        else:
            subprocess.run([sys.executable, os.path.abspath(__file__), "--workload", str(index), "--rounds",
                            str(rounds)] + (["--keep-freed-memory"] if keep_freed else []), check=True)


def run_workload(index, rounds):
    name, factory = workloads()[index]
    mg, torch_fn = factory()
    faults = {}
    medians = time_pair(mg, torch_fn, rounds, faults=faults)
    line = f"{name:<42} {fmt_time(medians['mg']):>12} {faults['mg']:7.0f}"
    if torch_fn is not None:
        line += (f" {fmt_time(medians['torch']):>12} {faults['torch']:7.0f}"
                 f" {medians['mg'] / medians['torch']:>9.2f}")
    print(line, flush=True)


# ----------------------------------------------------------------------------------------------- roof
def dense_products(batch, widths):
    """(label, minigraph call, numpy call, flops) for each dense layer's forward, dkernel and dx."""
    out = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        x = RNG.random((batch, n_in), dtype=np.float32)
        w = RNG.random((n_in, n_out), dtype=np.float32)
        dy = RNG.random((batch, n_out), dtype=np.float32)
        flops = 2 * batch * n_in * n_out
        shape = f"{batch}x{n_in}x{n_out}"
        out += [(f"dense {shape} forward", lambda x=x, w=w: kernels.dense_forward(x, w), lambda x=x, w=w: x @ w, flops),
                (f"dense {shape} dkernel", lambda x=x, dy=dy: kernels.matmul(x, dy, True, False),
                 lambda x=x, dy=dy: x.T @ dy, flops),
                (f"dense {shape} dx", lambda dy=dy, w=w: kernels.matmul(dy, w, False, True), lambda dy=dy, w=w: dy @ w.T,
                 flops)]
    return out


def conv_products(batch, hw, cin, cout, padding):
    """The same three products for a 3x3 stride-1 convolution, numpy on its im2col shapes."""
    x = RNG.random((batch, hw, hw, cin), dtype=np.float32)
    k = RNG.random((3, 3, cin, cout), dtype=np.float32)
    out_hw = hw if padding == "same" else hw - 2
    dy = RNG.random((batch, out_hw, out_hw, cout), dtype=np.float32)
    rows, depth = batch * out_hw * out_hw, 9 * cin
    cols = RNG.random((rows, depth), dtype=np.float32)
    k2, dy2 = k.reshape(depth, cout), dy.reshape(rows, cout)
    flops = 2 * rows * depth * cout
    shape = f"{batch}x{hw}x{hw}x{cin}->{cout} {padding}"
    return [(f"conv {shape} forward", lambda: kernels.conv2d_forward(x, k, padding=padding), lambda: cols @ k2, flops),
            (f"conv {shape} dkernel", lambda: kernels.conv2d_backward_kernel(x, dy, (3, 3), padding=padding),
             lambda: cols.T @ dy2, flops),
            (f"conv {shape} dx", lambda: kernels.conv2d_backward_input(dy, k, (hw, hw), padding=padding),
             lambda: dy2 @ k2.T, flops)]


def roof_products():
    return [("wide MLP, batch 256", dense_products(256, (1024, 2048, 2048, 10))),
            ("seed MLP, batch 128", dense_products(128, (784, 64, 64, 10))),
            ("toy ResNet, batch 64", conv_products(64, 32, 3, 32, "valid") + conv_products(64, 30, 32, 64, "valid")
             + conv_products(64, 9, 64, 64, "same") + conv_products(64, 9, 64, 64, "valid")),
            ("VGG stack, batch 32", conv_products(32, 64, 3, 64, "same") + conv_products(32, 64, 64, 64, "same")
             + conv_products(32, 32, 64, 128, "same") + conv_products(32, 32, 128, 128, "same"))]


def run_roof(rounds):
    header = f"{'product':<44} {'minigraph':>12} {'numpy sgemm':>12} {'GFLOP/s mg':>11} {'np':>6} {'share':>6}"
    print(header)
    print("-" * len(header))
    for group, products in roof_products():
        total_mg = total_np = 0.0
        for label, mg, ref, flops in products:
            medians = bench_blas.turns({"mg": mg, "np": ref}, rounds)  # paused turns: numpy's pool spins
            total_mg, total_np = total_mg + medians["mg"], total_np + medians["np"]
            print(f"{label:<44} {fmt_time(medians['mg']):>12} {fmt_time(medians['np']):>12} "
                  f"{flops / medians['mg'] / 1e9:>11.1f} {flops / medians['np'] / 1e9:>6.1f} "
                  f"{medians['np'] / medians['mg']:>6.0%}", flush=True)
        print(f"{'  all of ' + group:<44} {fmt_time(total_mg):>12} {fmt_time(total_np):>12} {'':>11} {'':>6} "
              f"{total_np / total_mg:>6.0%}", flush=True)


# ----------------------------------------------------------------------------------------------- sweep
def run_sweep(rounds, plot_path, batches=SWEEP_BATCHES, allocator_note=""):
    """Time per sample against batch size for the autoencoder, the toy ResNet and the wide MLP; the plot's
    title carries allocator_note."""
    header = f"{'train step':<14} {'batch':>6} {'minigraph/sample':>17} {'torch/sample':>14} {'mg/torch':>9}"
    print(header)
    print("-" * len(header))
    curves = {}
    for name in ("autoencoder", "toy_resnet", "wide_mlp"):
        for batch in batches:
            mg, torch_fn = train_pair(name, batch)
            medians = time_pair(mg, torch_fn, rounds)
            curves.setdefault(name, []).append((batch, medians["mg"] / batch, medians.get("torch", np.nan) / batch))
            line = f"{name:<14} {batch:>6} {fmt_time(medians['mg'] / batch):>17}"
            if torch_fn is not None:
                line += f" {fmt_time(medians['torch'] / batch):>14} {medians['mg'] / medians['torch']:>9.2f}"
            print(line, flush=True)
    if plot_path:
        draw_sweep(curves, plot_path, allocator_note)
        print(f"plot written to {plot_path}")


def draw_sweep(curves, path, note=""):
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.6))
    for ax, (name, points) in zip(np.atleast_1d(axes), curves.items()):
        batches = [p[0] for p in points]
        ax.loglog(batches, [p[1] * 1e3 for p in points], "o-", label="minigraph")
        ax.loglog(batches, [p[2] * 1e3 for p in points], "s--", label="PyTorch")
        ax.set_title(f"{name}, train step")
        ax.set_xlabel("batch size")
        ax.set_ylabel("ms per sample")
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("workloads", "roof", "sweep", "all"), default="all")
    parser.add_argument("--only", default="", help="workloads whose name contains this (lower case)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--same-process", action="store_true", help="run the workloads one after another in this "
                        "process rather than each in a fresh one")
    parser.add_argument("--keep-freed-memory", action="store_true", help="glibc keeps freed blocks (bench/"
                        "allocator.py): no page faults in either library's steps")
    parser.add_argument("--workload", type=int, default=-1, help=argparse.SUPPRESS)  # one workload, the row only
    parser.add_argument("--plot", default="", help="write the sweep's PNG here")
    parser.add_argument("--batches", default=",".join(map(str, SWEEP_BATCHES)), help="the sweep's batch sizes")
    args = parser.parse_args()
    kept = keep_freed_memory() if args.keep_freed_memory else False
    bench_models.import_torch()
    torch = bench_models.torch
    threads = kernels.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    if args.workload >= 0:
        run_workload(args.workload, args.rounds)
        return
    from minigraph.kernels import _blas_library
    print(f"threads: minigraph {threads}, torch {torch.get_num_threads() if torch else '-'}; "
          f"load average {os.getloadavg()[0]:.2f}; {bench_models.build_description()}; freed memory kept: "
          f"{kept if args.keep_freed_memory else 'no (glibc as it comes)'}")
    print(f"BLAS: {_blas_library.config()}; numpy {np.__version__}"
          + (f"; torch {torch.__version__}" if torch else ""))
    if args.part in ("workloads", "all"):
        run_workloads(args.only, args.rounds, args.same_process, args.keep_freed_memory)
    if args.part in ("roof", "all"):
        run_roof(args.rounds)
    if args.part in ("sweep", "all"):
        note = ("glibc kept freed memory: no page faults in either library" if kept else
                "glibc as it comes: PyTorch's steps fault their fresh pages in")
        run_sweep(max(2, args.rounds // 2), args.plot, [int(b) for b in args.batches.split(",")], note)


if __name__ == "__main__":
    main()
