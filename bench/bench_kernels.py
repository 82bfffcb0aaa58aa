"""Kernel benchmark: minigraph vs a numpy implementation vs PyTorch (when importable), batch 128, float32.

    python bench/bench_kernels.py            (about 2 minutes on 2 cores)

Every row times the forward pass and forward + backward (all gradients: input, kernel, bias; minigraph's
bias gradient is its bias_relu_backward kernel, the one the layers use) and
prints the median milliseconds over several repeats after a warm-up, GFLOP/s for conv and dense, and
the speed-up of minigraph over numpy (np/mg = numpy ms / minigraph ms) and over torch (torch/mg).
Torch runs with minigraph's thread count, without autograd (its forward ops and the aten backward
kernels autograd would call), on tensors converted outside the timed region, in whichever memory
format (NCHW or channels_last) is faster for it.
"""
import contextlib
import os
import platform
import subprocess
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's in-place build
import minigraph.kernels as K  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

N = 128
RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def median_ms(fn, min_repeats=5, max_repeats=50, budget=0.5, warmup=0.15):
    """Median wall time of fn() in ms: after `warmup` seconds of calls (threads and cores coming out of
    idle need ~20 ms here), at least min_repeats runs, more while under `budget` seconds."""
    start = time.perf_counter()
    while time.perf_counter() - start < warmup:
        fn()
    times = []
    while len(times) < min_repeats or (len(times) < max_repeats and sum(times) < budget):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


# --------------------------------------------------------------------- numpy implementations (3x3 valid)

def np_conv(x, k):
    """Valid stride-1 correlation: an im2col view and one tensordot."""
    cols = sliding_window_view(x, k.shape[:2], axis=(1, 2))  # (n, oh, ow, cin, kh, kw)
    return np.tensordot(cols, k, axes=([4, 5, 3], [0, 1, 2]))


def np_conv_dx(dy, k):
    """Input gradient of np_conv: the full correlation of dy with the flipped, transposed kernel."""
    kh, kw = k.shape[:2]
    return np_conv(np.pad(dy, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0))),
                   k[::-1, ::-1].transpose(0, 1, 3, 2))


def np_conv_dk(x, dy):
    cols = sliding_window_view(x, dy.shape[1:3], axis=(1, 2))  # (n, kh, kw, cin, oh, ow)
    return np.tensordot(cols, dy, axes=([0, 4, 5], [0, 1, 2]))


def np_max_pool(x, p):
    """Non-overlapping pool p (h, w divisible by p): block view, argmax, and its scatter for dx."""
    n, h, w, c = x.shape
    blocks = x.reshape(n, h // p, p, w // p, p, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // p, w // p, c, p * p)
    idx = blocks.argmax(-1)[..., None]
    return np.take_along_axis(blocks, idx, -1)[..., 0], idx


def np_max_pool_backward(dy, idx, p):
    n, oh, ow, c = dy.shape
    blocks = np.zeros((n, oh, ow, c, p * p), dy.dtype)
    np.put_along_axis(blocks, idx, dy[..., None], -1)
    return blocks.reshape(n, oh, ow, c, p, p).transpose(0, 1, 4, 2, 5, 3).reshape(n, oh * p, ow * p, c)


# --------------------------------------------------------------------------------------- workloads
# Each returns (name, forward GFLOP or None, {implementation: (forward, backward)}).  A backward closes
# over the forward's inputs and a fixed dy; "fwd+bwd" times forward() then backward().

def tensor(a, axes, fmt):
    """numpy array -> torch tensor with its axes permuted (NHWC -> NCHW) in memory format fmt."""
    return torch.from_numpy(np.ascontiguousarray(a.transpose(axes))).contiguous(memory_format=fmt)


def torch_layouts(make):
    """{"torch NCHW": make(contiguous_format), "torch NHWC": make(channels_last)}, {} without torch."""
    if torch is None:
        return {}
    return {"torch NCHW": make(torch.contiguous_format), "torch NHWC": make(torch.channels_last)}


def conv_case(h, w, cin, cout, transpose=False):
    """3x3 valid conv2d, or conv2d_transpose (Keras kernel (3, 3, cout, cin)), with bias."""
    x, b = rand(N, h, w, cin), rand(cout)
    k = rand(3, 3, cout, cin) / 10 if transpose else rand(3, 3, cin, cout) / 10
    oh, ow = (h + 2, w + 2) if transpose else (h - 2, w - 2)
    dy = rand(N, oh, ow, cout)
    if transpose:  # conv2d_transpose is conv2d's input gradient, and the other way round
        mg = (lambda: K.conv2d_transpose_forward(x, k, b),
              lambda: (K.conv2d_transpose_backward_input(dy, k), K.conv2d_transpose_backward_kernel(x, dy, (3, 3)),
                       K.bias_relu_backward(dy)[1]))
        ref = (lambda: np_conv_dx(x, k) + b, lambda: (np_conv(dy, k), np_conv_dk(dy, x), dy.sum(axis=(0, 1, 2))))
    else:
        mg = (lambda: K.conv2d_forward(x, k, b),
              lambda: (K.conv2d_backward_input(dy, k, (h, w)), K.conv2d_backward_kernel(x, dy, (3, 3)),
                       K.bias_relu_backward(dy)[1]))
        ref = (lambda: np_conv(x, k) + b, lambda: (np_conv_dx(dy, k), np_conv_dk(x, dy), dy.sum(axis=(0, 1, 2))))

    def torch_pair(fmt):
        # torch weights: conv (cout, cin, kh, kw), transpose (cin, cout, kh, kw): both permute(3, 2, 0, 1)
        xt, dyt, kt = tensor(x, (0, 3, 1, 2), fmt), tensor(dy, (0, 3, 1, 2), fmt), tensor(k, (3, 2, 0, 1), fmt)
        bt = torch.from_numpy(b)
        op = F.conv_transpose2d if transpose else F.conv2d
        return (lambda: op(xt, kt, bt),
                lambda: torch.ops.aten.convolution_backward(dyt, xt, kt, [cout], [1, 1], [0, 0], [1, 1], transpose,
                                                            [0, 0], 1, [True, True, True]))

    name = f"{'transpose' if transpose else 'conv'} 3x3 {h}x{w}x{cin}->{cout}"
    gflop = 2e-9 * N * (h * w if transpose else oh * ow) * 9 * cin * cout
    return name, gflop, {"minigraph": mg, "numpy": ref, **torch_layouts(torch_pair)}


def pool_case(h, w, c, p):
    x = rand(N, h, w, c)
    y, argmax = K.max_pool2d_forward(x, p)
    idx, dy = np_max_pool(x, p)[1], rand(*y.shape)

    def torch_pair(fmt):  # with indices, like minigraph (and like torch's autograd)
        xt, dyt = tensor(x, (0, 3, 1, 2), fmt), tensor(dy, (0, 3, 1, 2), fmt)
        idx_t = torch.ops.aten.max_pool2d_with_indices(xt, [p, p], [p, p])[1]
        return (lambda: torch.ops.aten.max_pool2d_with_indices(xt, [p, p], [p, p]),
                lambda: torch.ops.aten.max_pool2d_with_indices_backward(dyt, xt, [p, p], [p, p], [0, 0], [1, 1],
                                                                        False, idx_t))

    return f"max pool {p} {h}x{w}x{c}", None, {
        "minigraph": (lambda: K.max_pool2d_forward(x, p), lambda: K.max_pool2d_backward(dy, argmax, x.shape)),
        "numpy": (lambda: np_max_pool(x, p), lambda: np_max_pool_backward(dy, idx, p)),
        **torch_layouts(torch_pair)}


def upsample_case(h, w, c, s):
    x, dy = rand(N, h, w, c), rand(N, h * s, w * s, c)

    def torch_pair(fmt):
        xt, dyt = tensor(x, (0, 3, 1, 2), fmt), tensor(dy, (0, 3, 1, 2), fmt)
        return (lambda: torch.ops.aten.upsample_nearest2d(xt, [h * s, w * s]),
                lambda: torch.ops.aten.upsample_nearest2d_backward(dyt, [h * s, w * s], list(xt.shape)))

    return f"upsampling {s} {h}x{w}x{c}", None, {
        "minigraph": (lambda: K.upsampling2d_forward(x, s), lambda: K.upsampling2d_backward(dy, s)),
        "numpy": (lambda: x.repeat(s, axis=1).repeat(s, axis=2),
                  lambda: dy.reshape(N, h, s, w, s, c).sum(axis=(2, 4))),
        **torch_layouts(torch_pair)}


def dense_case(n_in, n_out):
    x, k, b, dy = rand(N, n_in), rand(n_in, n_out), rand(n_out), rand(N, n_out)
    impls = {"minigraph": (lambda: K.dense_forward(x, k, b), lambda: K.dense_backward(x, k, dy)),
             "numpy": (lambda: x @ k + b, lambda: (dy @ k.T, x.T @ dy, dy.sum(axis=0)))}
    if torch is not None:
        xt, kt, bt, dyt = map(torch.from_numpy, (x, k, b, dy))
        impls["torch"] = (lambda: torch.addmm(bt, xt, kt), lambda: (dyt.mm(kt.t()), xt.t().mm(dyt), dyt.sum(0)))
    return f"dense {N}x{n_in}->{n_out}", 2e-9 * N * n_in * n_out, impls


def time_pair(fwd, bwd):
    """(forward ms, forward + backward ms).  Each timing starts after a 0.2 s pause: OpenBLAS workers
    spin ~0.1 s after a call, and the three libraries have separate thread pools (numpy's and scipy's
    OpenBLAS, torch's), so without it one library's spinning threads steal the cores from the next."""
    times = []
    for fn in (fwd, lambda: (fwd(), bwd())):
        time.sleep(0.2)
        times.append(median_ms(fn))
    return tuple(times)


def machine_lines():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    lines = [f"CPU: {model}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
             f"numpy {np.__version__}, torch {torch.__version__ if torch else 'not installed'}",
             f"threads: minigraph {K.get_num_threads()} (OpenMP {'on' if K.openmp_enabled() else 'off'})"
             + (f", torch {torch.get_num_threads()}" if torch else "")
             + f"; 1-minute load average before the run {os.getloadavg()[0]:.2f} (other processes' share)"]
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            lines.append(f"  {lib['user_api']}: {lib['internal_api']} {lib.get('version') or ''} "
                         f"{lib.get('architecture') or ''} threads={lib['num_threads']} "
                         f"({os.path.basename(lib['filepath'])})")
    except ImportError:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        lines.append(f"  numpy BLAS: {blas.get('name')} {blas.get('version')} (threadpoolctl not installed)")
    return lines


def main():
    if torch is not None:
        torch.set_num_threads(K.get_num_threads())
    for line in machine_lines():
        print(line)
    a, b = rand(1024, 1024), rand(1024, 1024)
    print(f"numpy sgemm 1024x1024x1024: {2 * 1024 ** 3 / median_ms(lambda: a @ b) / 1e6:.1f} GFLOP/s\n")

    cases = []
    if hasattr(K, "conv2d_forward"):
        cases += [conv_case(28, 28, 1, 16), conv_case(26, 26, 16, 32), conv_case(8, 8, 32, 32),
                  conv_case(4, 4, 1, 16, True), conv_case(24, 24, 32, 16, True), conv_case(26, 26, 16, 1, True)]
    else:
        print("(minigraph.kernels.conv is not built: no conv rows)")
    cases += [pool_case(24, 24, 32, 3), upsample_case(8, 8, 32, 3), dense_case(784, 64)]

    header = (f"{'workload (batch 128, float32)':34} {'pass':8} {'mg ms':>8} {'GFLOP/s':>8} {'np ms':>8} "
              f"{'np/mg':>6}" + (f" {'torch ms':>9} {'torch/mg':>8}  torch layout" if torch else ""))
    print(header)
    print("-" * len(header))
    for name, gflop, impls in cases:
        outputs = [impls[impl][0]() for impl in ("minigraph", "numpy")]  # the same work? (pools: y, argmax)
        np.testing.assert_allclose(*[out[0] if isinstance(out, tuple) else out for out in outputs],
                                   rtol=1e-3, atol=1e-3, err_msg=f"{name}: minigraph and numpy disagree")
        with torch.no_grad() if torch else contextlib.nullcontext():
            times = {impl: time_pair(*pair) for impl, pair in impls.items()}
        mg, ref = times.pop("minigraph"), times.pop("numpy")
        for i, label in enumerate(["fwd", "fwd+bwd"]):
            flops = f"{gflop * (1 if i == 0 else 3) / mg[i] * 1e3:8.1f}" if gflop else " " * 8
            row = f"{name:34} {label:8} {mg[i]:8.3f} {flops} {ref[i]:8.3f} {ref[i] / mg[i]:6.2f}"
            if times:  # the faster torch memory format
                impl, best = min(((impl, t[i]) for impl, t in times.items()), key=lambda it: it[1])
                row += f" {best:9.3f} {best / mg[i]:8.2f}  {impl.replace('torch', '').strip() or '-'}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
