"""Model benchmark: whole training steps and inference through the public API, minigraph vs PyTorch.

    python bench/bench_models.py                  (about 40 s on 2 cores)
    python bench/bench_models.py --skip-memory    (timings only)
    python bench/bench_models.py --only mlp       (workloads whose name contains 'mlp')

Workloads (the seed's models, float32):
- autoencoder train step: the seed's conv encoder + decoder (28x28x1), one Adam step, batch 128, mse;
- MLP train step: 784-64-64-10 softmax, one Adam step, batch 128, sparse categorical crossentropy;
- MLP predict: one sample, `model.predict` against torch's forward under `torch.no_grad()`;
- peak memory of one autoencoder training epoch on 10,000 samples, each framework in its own
  subprocess: the peak RSS at the end minus the RSS after the imports, the data and the model.

minigraph runs through `train_on_batch` / `predict`; torch through the idiomatic nn.Module,
`zero_grad / backward / step` and `loss.item()`. Both take numpy in and give numpy (or a float) out.
Torch uses minigraph's thread count and whichever memory format (NCHW or channels_last) is faster
for it. The two frameworks alternate in rounds (the order flips every round) so that load from other
processes on the shared machine hits both alike; each line prints the median over all rounds.
PyTorch is optional: without it only minigraph's numbers are printed.
"""
import argparse
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # the checkout's in-place build
sys.path.insert(0, os.path.join(ROOT, "examples"))  # guide_models: the guide's models, shared with the tests
import guide_models  # noqa: E402
from allocator import minor_faults  # noqa: E402
import minigraph as keras  # noqa: E402
from minigraph.kernels import get_num_threads  # noqa: E402

torch = nn = None  # imported by main(), except in minigraph's memory subprocess (whose baseline it would inflate)


def import_torch():
    global torch, nn
    try:
        import torch
        from torch import nn
    except ImportError:
        torch = nn = None

BATCH = 128
RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------------------------- minigraph
def mg_autoencoder():
    model = guide_models.autoencoder()
    model.compile(optimizer="adam", loss="mse")
    return model


def mg_mlp():
    model = guide_models.mnist_mlp("mlp")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


# ----------------------------------------------------------------------------------------------- torch
def torch_autoencoder():
    relu = nn.ReLU
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), relu(), nn.Conv2d(16, 32, 3), relu(), nn.MaxPool2d(3),
        nn.Conv2d(32, 32, 3), relu(), nn.Conv2d(32, 16, 3), relu(),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Unflatten(1, (1, 4, 4)),  # as Keras' Reshape((4, 4, 1))
        nn.ConvTranspose2d(1, 16, 3), relu(), nn.ConvTranspose2d(16, 32, 3), relu(),
        nn.Upsample(scale_factor=3, mode="nearest"),
        nn.ConvTranspose2d(32, 16, 3), relu(), nn.ConvTranspose2d(16, 1, 3), relu())


def torch_mlp():
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def torch_adam(model):
    return torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)  # Keras' defaults


def torch_train_step(model, optimizer, loss_fn, to_input):
    """One idiomatic step on numpy data; returns the loss as a float, as train_on_batch does."""
    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(model(to_input(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def nchw_input(memory_format):
    def to_input(x):  # NHWC numpy -> NCHW tensor (a view), in the memory format torch is fastest with
        t = torch.from_numpy(x).permute(0, 3, 1, 2)
        return t.contiguous(memory_format=memory_format)
    return to_input


def torch_autoencoder_step():
    """The autoencoder step in whichever memory format is faster for torch here, and that format's name."""
    x = RNG.random((BATCH, 28, 28, 1), dtype=np.float32)
    y_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    best = None
    for name, memory_format in (("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last)):
        model = torch_autoencoder().to(memory_format=memory_format)
        step = torch_train_step(model, torch_adam(model), nn.MSELoss(), nchw_input(memory_format))
        ms = median_seconds(lambda: step(x, y_nchw), repeats=5) * 1e3
        if best is None or ms < best[0]:
            best = (ms, name, memory_format)
    model = torch_autoencoder().to(memory_format=best[2])
    step = torch_train_step(model, torch_adam(model), nn.MSELoss(), nchw_input(best[2]))
    # torch's target is NCHW: pass the NHWC target transposed (a copy made outside the step, like the data)
    return (lambda x, y: step(x, np.ascontiguousarray(y.transpose(0, 3, 1, 2)))), best[1]


# ----------------------------------------------------------------------------------------------- timing
def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved(candidates, rounds, repeats, warmup=0.3, faults=None):
    """{name: median seconds of one call} over `rounds` rounds of `repeats` calls of each candidate;
    the order of the candidates flips every round.  faults: a dict to receive each candidate's minor page
    faults per timed call."""
    for fn in candidates.values():
        start = time.perf_counter()
        while time.perf_counter() - start < warmup:
            fn()
    times = {name: [] for name in candidates}
    faulted = dict.fromkeys(candidates, 0)
    names = list(candidates)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn = candidates[name]
            before = minor_faults()
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
            faulted[name] += minor_faults() - before
    if faults is not None:
        faults.update({name: count / (rounds * repeats) for name, count in faulted.items()})
    return {name: float(np.median(t)) for name, t in times.items()}


def timing_workloads():
    """(name, unit, minigraph callable, torch callable or None, torch note) per workload."""
    ae_x = RNG.random((BATCH, 28, 28, 1), dtype=np.float32)
    mlp_x = RNG.random((BATCH, 784), dtype=np.float32)
    mlp_y = RNG.integers(0, 10, BATCH)
    one = RNG.random((1, 784), dtype=np.float32)

    ae, mlp = mg_autoencoder(), mg_mlp()
    work = [("autoencoder train step (batch 128)", "ms", lambda: ae.train_on_batch(ae_x, ae_x)),
            ("MLP train step (batch 128)", "ms", lambda: mlp.train_on_batch(mlp_x, mlp_y)),
            ("MLP predict (1 sample)", "us", lambda: mlp.predict(one, verbose=0))]
    if torch is None:
        return [(name, unit, fn, None, "") for name, unit, fn in work]

    ae_step, ae_format = torch_autoencoder_step()
    t_mlp = torch_mlp()
    mlp_step = torch_train_step(t_mlp, torch_adam(t_mlp), nn.CrossEntropyLoss(), torch.from_numpy)
    mlp_y64 = mlp_y.astype(np.int64)

    def t_predict():
        with torch.no_grad():
            return torch.softmax(t_mlp(torch.from_numpy(one)), dim=-1).numpy()
    torch_fns = [(lambda: ae_step(ae_x, ae_x), ae_format), (lambda: mlp_step(mlp_x, mlp_y64), "-"),
                 (t_predict, "no_grad")]
    return [w + t for w, t in zip(work, torch_fns)]


# ----------------------------------------------------------------------------------------------- memory
def reset_peak_rss():
    """The peak RSS (KiB) from now on starts at the current RSS; returns that baseline.

    A child process's ru_maxrss starts at its parent's peak (Linux carries the high-water mark across
    fork and exec), so the parent's torch would hide the child's epoch. Writing 5 to clear_refs resets
    the peak (VmHWM, what ru_maxrss reads) to the current RSS; without it the baseline is ru_maxrss."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak_rss()


def peak_rss():
    """Peak RSS in KiB: VmHWM (which reset_peak_rss can reset), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_epoch_memory(framework, n=10_000):
    """Run in a subprocess: MiB that one autoencoder epoch adds to the peak RSS of the process, over the
    RSS after the imports, the data and the model."""
    x = RNG.random((n, 28, 28, 1), dtype=np.float32)
    if framework == "minigraph":
        model = mg_autoencoder()
        baseline = reset_peak_rss()
        model.fit(x, x, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
    else:
        torch.set_num_threads(get_num_threads())
        model = torch_autoencoder()
        optimizer, loss_fn = torch_adam(model), nn.MSELoss()
        data = torch.from_numpy(x).permute(0, 3, 1, 2)  # NCHW view of the same numpy data
        baseline = reset_peak_rss()
        order = torch.randperm(n)
        for start in range(0, n, BATCH):
            batch = data[order[start:start + BATCH]]
            optimizer.zero_grad()
            loss = loss_fn(model(batch), batch)
            loss.backward()
            optimizer.step()
            loss.item()
    return (peak_rss() - baseline) / 1024


def memory_in_subprocess(framework):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", framework],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


# ----------------------------------------------------------------------------------------------- report
def build_description():
    """Which minigraph was measured: the checkout, its commit (and local changes), the kernel build."""
    def git(*args):
        try:
            return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    from minigraph.kernels import dense
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(dense.__file__)))
    return f"{os.path.dirname(keras.__file__)} at {commit}{dirty}; kernels built {built}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--only", default="", help="run the workloads whose name contains this text")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", choices=("minigraph", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child != "minigraph":
        import_torch()
    if args.memory_child:
        print(peak_epoch_memory(args.memory_child))
        return

    threads = get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"Python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}; {os.cpu_count()} logical cores")
    print(f"threads: minigraph {threads}, torch {torch.get_num_threads() if torch else '-'}")
    print(f"minigraph build: {build_description()}")
    print(f"1-minute load average before the run: {os.getloadavg()[0]:.2f}")
    # glibc's malloc settings change torch's step (it faults in fresh pages for every big tensor unless
    # freed memory is kept), and the OpenMP ones both frameworks (one libgomp serves the process), so the
    # run says which it had
    tuning = {k: v for k, v in os.environ.items()
              if k.startswith(("MALLOC_", "OMP_", "GOMP_")) or k == "GLIBC_TUNABLES"}
    print(f"malloc / OpenMP settings from the environment: {tuning or 'none (defaults)'}")
    print()
    header = f"{'workload':<36} {'minigraph':>11} {'torch':>11} {'mg/torch':>9}  torch variant"
    print(header)
    print("-" * len(header))
    for name, unit, mg_fn, torch_fn, note in timing_workloads():
        if args.only.lower() not in name.lower():
            continue
        scale = 1e3 if unit == "ms" else 1e6
        repeats = 3 if unit == "ms" and "autoencoder" in name else 20 if unit == "ms" else 200
        candidates = {"mg": mg_fn} if torch_fn is None else {"mg": mg_fn, "torch": torch_fn}
        medians = interleaved(candidates, args.rounds, repeats)
        mg = medians["mg"] * scale
        if torch_fn is None:
            print(f"{name:<36} {mg:>8.3f} {unit}")
        else:
            t = medians["torch"] * scale
            print(f"{name:<36} {mg:>8.3f} {unit} {t:>8.3f} {unit} {mg / t:>9.2f}  {note}")
    memory_name = "autoencoder epoch peak memory (10k)"
    if not args.skip_memory and args.only.lower() in memory_name:
        mg = memory_in_subprocess("minigraph")
        line = f"{memory_name:<36} {mg:>7.1f} MiB"
        if torch is not None:
            t = memory_in_subprocess("torch")
            line += f" {t:>7.1f} MiB {mg / t:>9.2f}  NCHW"
        print(line)


if __name__ == "__main__":
    main()
