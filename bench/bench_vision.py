"""Vision kernels beside PyTorch (when importable) in the same process: depthwise convolution and batch norm.

    python bench/bench_vision.py [rounds] [threads]

Rows, float32, NHWC:
  depthwise 3x3 'same', 32 channels, 56x56, batch 32: forward, and forward + input and kernel gradients
      (torch: conv2d with groups=32, channels_last, and aten.convolution_backward)
  batch norm training, (64, 32, 32, 32): forward, and forward + backward (dx, dgamma, dbeta)
      (torch: BatchNorm2d's aten.native_batch_norm / native_batch_norm_backward, channels_last)
Both libraries run with the same thread count, without autograd, on tensors made outside the timed region.
The libraries take turns: each round times every implementation once (the best of 3 calls), so a burst of
load from other processes hits both alike; the table gives the median over the rounds and the ratio
minigraph / torch (below 1: minigraph is faster), in wall time and in process CPU time (all threads; it
does not count the time the process waits for a core, so it is the steadier figure on a shared machine,
but it does count threads spinning at a barrier).
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's in-place build
import minigraph.kernels as K  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def nchw_channels_last(a):
    """NHWC numpy array -> NCHW torch tensor in channels_last memory (the same bytes, no copy in time)."""
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


def depthwise_case(n=32, h=56, w=56, c=32):
    x, k, dy = rand(n, h, w, c), rand(3, 3, c, 1) * 0.3, rand(n, h, w, c)
    fwd = lambda: K.depthwise_conv2d_forward(x, k, padding="same")
    impls = {"minigraph": (fwd, lambda: (fwd(), K.depthwise_conv2d_backward_input(dy, k, (h, w), padding="same"),
                                         K.depthwise_conv2d_backward_kernel(x, dy, (3, 3), padding="same")))}
    if torch is not None:
        xt, dyt = nchw_channels_last(x), nchw_channels_last(dy)
        kt = torch.from_numpy(np.ascontiguousarray(k.transpose(2, 3, 0, 1)))  # (c, 1, 3, 3)
        tfwd = lambda: torch.nn.functional.conv2d(xt, kt, padding=1, groups=c)
        np.testing.assert_allclose(tfwd().permute(0, 2, 3, 1).numpy(), fwd(), rtol=1e-4, atol=1e-4)
        impls["torch"] = (tfwd, lambda: (tfwd(), torch.ops.aten.convolution_backward(
            dyt, xt, kt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], c, [True, True, False])))
    return f"depthwise 3x3 same {c}ch {h}x{w} batch {n}", impls


def batchnorm_case(n=64, h=32, w=32, c=32):
    x, dy = rand(n, h, w, c), rand(n, h, w, c)
    gamma, beta = RNG.uniform(0.5, 1.5, c).astype(np.float32), rand(c)
    fwd = lambda: K.batch_norm_train_forward(x, gamma, beta, 1e-3)

    def fwd_bwd():
        y, mean, var, inv_std = fwd()
        return K.batch_norm_train_backward(dy, x, mean, inv_std, gamma, beta)

    impls = {"minigraph": (fwd, fwd_bwd)}
    if torch is not None:
        xt, dyt = nchw_channels_last(x), nchw_channels_last(dy)
        gt, bt = torch.from_numpy(gamma), torch.from_numpy(beta)
        rm, rv = torch.zeros(c), torch.ones(c)
        tfwd = lambda: torch.ops.aten.native_batch_norm(xt, gt, bt, rm, rv, True, 0.01, 1e-3)

        def tfwd_bwd():
            out, mean, invstd = tfwd()
            return torch.ops.aten.native_batch_norm_backward(dyt, xt, gt, rm, rv, mean, invstd, True, 1e-3,
                                                             [True, True, True])

        np.testing.assert_allclose(tfwd()[0].permute(0, 2, 3, 1).numpy(), fwd()[0], rtol=1e-4, atol=1e-4)
        impls["torch"] = (tfwd, tfwd_bwd)
    return f"batch norm train {n}x{h}x{w}x{c}", impls


def best_of_calls(fn, calls=3):
    """(wall, cpu) seconds: the fastest of `calls` calls by each clock."""
    wall, cpu = [], []
    for _ in range(calls):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def interleaved(impls, which, rounds):
    """{impl: (wall ms, cpu ms)}, medians over `rounds` rounds, every impl timed once per round."""
    for fns in impls.values():  # warm-up: thread pools up, caches and allocator primed
        for _ in range(3):
            fns[which]()
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fns in impls.items():
            samples[name].append(best_of_calls(fns[which]))
    return {name: tuple(1e3 * np.median(np.array(t), axis=0)) for name, t in samples.items()}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    if len(sys.argv) > 2:
        K.set_num_threads(int(sys.argv[2]))
    if torch is not None:
        torch.set_num_threads(K.get_num_threads())
    print(f"threads: minigraph {K.get_num_threads()}" + (f", torch {torch.get_num_threads()} "
          f"(torch {torch.__version__})" if torch else " (torch not importable: minigraph only)")
          + f"; load average {os.getloadavg()[0]:.2f}; {rounds} rounds")
    header = (f"{'workload (float32)':44} {'pass':8} {'mg ms':>8} {'mg cpu':>8}"
              + (f" {'torch ms':>9} {'torch cpu':>9} {'mg/torch':>9} {'cpu ratio':>9}" if torch else ""))
    print(header)
    print("-" * len(header))
    with torch.no_grad() if torch else open(os.devnull):
        for name, impls in (depthwise_case(), batchnorm_case()):
            for which, label in enumerate(("fwd", "fwd+bwd")):
                t = interleaved(impls, which, rounds)
                (mg, mg_cpu) = t["minigraph"]
                row = f"{name:44} {label:8} {mg:8.3f} {mg_cpu:8.3f}"
                if "torch" in t:
                    tw, tc = t["torch"]
                    row += f" {tw:9.3f} {tc:9.3f} {mg / tw:9.2f} {mg_cpu / tc:9.2f}"
                print(row, flush=True)


if __name__ == "__main__":
    main()
