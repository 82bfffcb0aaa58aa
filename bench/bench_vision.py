"""Vision kernels and models beside PyTorch (when importable) in the same process.

    python bench/bench_vision.py [rounds] [threads] [--kernels | --models]

Rows, float32, NHWC:
  depthwise 3x3 'same', 32 channels, 56x56, batch 32: forward, and forward + input and kernel gradients
      (minigraph: depthwise_conv2d_backward, as the op calls it; torch: conv2d with groups=32, channels_last,
      and aten.convolution_backward)
  batch norm training, (64, 32, 32, 32): forward, and forward + backward (dx, dgamma, dbeta)
      (torch: BatchNorm2d's aten.native_batch_norm / native_batch_norm_backward, channels_last)
  a BatchNorm CNN's training step: Conv2D(32, same, no bias) -> BN -> ReLU -> MaxPool, the same with 64,
      GAP, Dense(10), on 32x32x3, batch 64, Adam, crossentropy from logits (minigraph: train_on_batch;
      torch: zero_grad, forward, backward, Adam step)
  MobileNetV2 and ResNet50 (weights=None, 224x224) predicting on batches of 1 and 16 (minigraph:
      predict_on_batch; torch under no_grad, eval mode)
The torch models are bench/vision_torch_models.py's, built from the minigraph model's layers and weights;
each row first checks that both give the same outputs.  The kernel rows run without autograd, on tensors
made outside the timed region, with the same thread count in both libraries; both read the same input bytes,
which start on a cache line, as each library's own activations do (they come from minigraph's workspace
pool, which aligns to 64 bytes as PyTorch's CPU allocator does; a bare numpy array of this size starts 16
bytes past one).
The libraries take turns: each round times every implementation once (the best of 3 calls), so a burst of
load from other processes hits both alike; the table gives the median over the rounds and the ratio
minigraph / torch (below 1: minigraph is faster), in wall time and in process CPU time per call (all
threads, read over at least 50 ms of calls; it does not count the time the process waits for a core, so it
is the steadier figure on a shared machine, but it does count threads spinning at a barrier).
Page faults: both libraries take their outputs from glibc's malloc (minigraph's kernels outside the
workspace pool, PyTorch's CPU allocator always).  glibc hands blocks this large back to the system when they
are freed, by munmap or by trimming the heap, depending on what was freed before; the next call then faults
every page in again, at a cost that can pass the kernel's own and that changes from run to run
(bench/RESULTS.md).  So every row runs with glibc told to keep freed memory (bench/allocator.py), and the
table gives the minor page faults per call of each library, which should read 0.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout's in-place build
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # vision_torch_models, allocator
from allocator import keep_freed_memory, minor_faults  # noqa: E402
import minigraph as keras  # noqa: E402
import minigraph.kernels as K  # noqa: E402
from minigraph.kernels import workspace  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

RNG = np.random.default_rng(0)


def rand(*shape):
    """Standard normal float32 values, allocated as the training loops allocate activations: from the
    workspace pool, whose blocks (64 KiB and up) start on a cache line."""
    with workspace.pooled():
        return RNG.standard_normal(shape).astype(np.float32)


def nchw_channels_last(a):
    """NHWC numpy array -> NCHW torch tensor in channels_last memory (the same bytes, no copy in time)."""
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2)


def depthwise_case(n=32, h=56, w=56, c=32):
    x, k, dy = rand(n, h, w, c), rand(3, 3, c, 1) * 0.3, rand(n, h, w, c)
    fwd = lambda: K.depthwise_conv2d_forward(x, k, padding="same")
    impls = {"minigraph": (fwd, lambda: (fwd(), K.depthwise_conv2d_backward(x, dy, k, padding="same")))}
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


def batchnorm_cnn_case(n=64):
    """One training step of the BatchNorm CNN (issue 13's row), both libraries from the same weights."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3))
    x = inputs
    for filters, suffix in ((32, "a"), (64, "b")):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv_{suffix}")(x)
        x = layers.ReLU()(layers.BatchNormalization(name=f"bn_{suffix}")(x))
        x = layers.MaxPooling2D()(x)
    model = keras.Model(inputs, layers.Dense(10, name="logits")(layers.GlobalAveragePooling2D()(x)))
    images, labels = rand(n, 32, 32, 3), RNG.integers(0, 10, n)
    impls = {}
    if torch is not None:
        import vision_torch_models as twins
        twin = twins.BatchNormCNN(model).train()
        xt, yt = nchw_channels_last(images).contiguous(memory_format=torch.channels_last), torch.from_numpy(labels)
        np.testing.assert_allclose(twin.eval()(xt).detach().numpy(), model.predict_on_batch(images), rtol=1e-4,
                                   atol=1e-4)
        twin.train()
        optimizer = torch.optim.Adam(twin.params.values(), lr=1e-3, eps=1e-7)

        def torch_step():
            with torch.enable_grad():
                optimizer.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(twin(xt), yt)
                loss.backward()
                optimizer.step()
        impls["torch"] = torch_step
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    impls = {"minigraph": lambda: model.train_on_batch(images, labels), **impls}
    return f"BatchNorm CNN train step 32x32x3 batch {n}", "step", impls


def application_case(name, batch, size=224):
    """keras.applications.<name>(weights=None) predicting on one batch, beside its torch twin."""
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    images = rand(batch, size, size, 3)
    impls = {"minigraph": lambda: model.predict_on_batch(images)}
    if torch is not None:
        import vision_torch_models as twins
        twin = getattr(twins, name)(model).eval()
        xt = nchw_channels_last(images).contiguous(memory_format=torch.channels_last)
        np.testing.assert_allclose(twin(xt).numpy(), model.predict_on_batch(images), rtol=1e-4, atol=1e-6)
        impls["torch"] = lambda: twin(xt)
    return f"{name} {size}x{size} predict batch {batch}", "predict", impls


CPU_WINDOW = 0.05  # seconds of calls per CPU-time reading


def best_of_calls(fn, calls=3):
    """(wall, cpu, faults): the fastest of `calls` calls by the wall clock in seconds, and the process CPU
    time and minor page faults per call over at least CPU_WINDOW of further calls.  (Linux adds a worker
    thread's running time to the process clock only at its next scheduler tick, so a single call of a
    millisecond or two shows little more than the calling thread's own time.)"""
    wall = []
    for _ in range(calls):
        w0 = time.perf_counter()
        fn()
        wall.append(time.perf_counter() - w0)
    count, w0, c0, f0 = 0, time.perf_counter(), time.process_time(), minor_faults()
    while count < calls or time.perf_counter() - w0 < CPU_WINDOW:
        fn()
        count += 1
    return min(wall), (time.process_time() - c0) / count, (minor_faults() - f0) / count


def interleaved(impls, rounds, calls=3):
    """{impl: (wall ms, cpu ms, faults per call)}, medians over `rounds` rounds, every impl timed once per
    round (the best of `calls` calls)."""
    for fn in impls.values():  # warm-up: thread pools up, caches and allocator primed
        for _ in range(2):
            fn()
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            samples[name].append(best_of_calls(fn, calls))
    return {name: tuple(np.median(np.array(t), axis=0) * (1e3, 1e3, 1)) for name, t in samples.items()}


def kernel_rows():
    for name, impls in (depthwise_case(), batchnorm_case()):
        for which, label in enumerate(("fwd", "fwd+bwd")):
            yield name, label, {impl: fns[which] for impl, fns in impls.items()}


def model_rows():
    yield batchnorm_cnn_case()
    for name in ("MobileNetV2", "ResNet50"):
        for batch in (1, 16):  # the batches
            yield application_case(name, batch)


def main():
    flags = {a for a in sys.argv[1:] if a.startswith("--")}
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if flags - {"--kernels", "--models"}:
        raise SystemExit(__doc__)
    rounds = int(args[0]) if args else 15
    if len(args) > 1:
        K.set_num_threads(int(args[1]))
    if torch is not None:
        torch.set_num_threads(K.get_num_threads())
    kept = keep_freed_memory()
    print(f"threads: minigraph {K.get_num_threads()}" + (f", torch {torch.get_num_threads()} "
          f"(torch {torch.__version__})" if torch else " (torch not importable: minigraph only)")
          + f"; load average {os.getloadavg()[0]:.2f}; {rounds} rounds; freed memory kept: {kept}")
    header = (f"{'workload (float32)':44} {'pass':8} {'mg ms':>8} {'mg cpu':>8} {'faults':>6}"
              + (f" {'torch ms':>9} {'torch cpu':>9} {'faults':>6} {'mg/torch':>9} {'cpu ratio':>9}"
                 if torch else ""))
    print(header)
    print("-" * len(header))
    groups = []
    if "--models" not in flags or "--kernels" in flags:
        groups.append((kernel_rows, rounds, 3))
    if "--kernels" not in flags or "--models" in flags:
        groups.append((model_rows, max(3, rounds // 3), 1))  # whole models: fewer rounds, one call each
    with torch.no_grad() if torch else open(os.devnull):
        for rows, group_rounds, calls in groups:
            for name, label, impls in rows():
                t = interleaved(impls, group_rounds, calls)
                mg, mg_cpu, mg_faults = t["minigraph"]
                row = f"{name:44} {label:8} {mg:8.3f} {mg_cpu:8.3f} {mg_faults:6.0f}"
                if "torch" in t:
                    tw, tc, t_faults = t["torch"]
                    row += f" {tw:9.3f} {tc:9.3f} {t_faults:6.0f} {mg / tw:9.2f} {mg_cpu / tc:9.2f}"
                print(row, flush=True)


if __name__ == "__main__":
    main()
