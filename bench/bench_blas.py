"""The BLAS route (issue 15): the same sgemm shapes on the three OpenBLAS builds a process here can hold.

    python bench/bench_blas.py [--rounds N]

- minigraph: scipy-openblas32's library, which the kernels link (`minigraph.kernels.matmul` with the direct
  tiles switched off, so every product is one CBLAS sgemm call);
- numpy: `np.matmul` into a preallocated output (numpy's own OpenBLAS);
- scipy: `scipy.linalg.blas.sgemm` (the OpenBLAS scipy bundles, which the kernels used before) on
  Fortran-ordered operands, so that no copy is timed.

Each line prints GFLOP/s per build and the shares of numpy's, with the builds in interleaved rounds and
medians, and which core each OpenBLAS chose at run time (threadpoolctl, when it is installed).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_models import interleaved  # noqa: E402
from minigraph import kernels  # noqa: E402
from minigraph.kernels import _blas_library, dense  # noqa: E402

SHAPES = [(256, 1024, 2048), (256, 2048, 2048), (2048, 256, 2048), (128, 784, 64), (512, 512, 512),
          (64 * 49, 576, 64), (32 * 1024, 576, 128)]


def builds():
    lines = [f"minigraph: {_blas_library.config()}"]
    try:
        import threadpoolctl
    except ImportError:
        return lines + ["(threadpoolctl absent: pip install threadpoolctl to list every BLAS and its core)"]
    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS so that threadpoolctl sees it)
    for info in threadpoolctl.threadpool_info():
        if info.get("internal_api") == "openblas":
            lines.append(f"{os.path.basename(info['filepath'])}: OpenBLAS {info.get('version')}, "
                         f"core {info.get('architecture')}, {info.get('num_threads')} threads")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    from scipy.linalg import blas
    print(f"load average {os.getloadavg()[0]:.2f}")
    for line in builds():
        print(line)
    header = f"{'m x k x n':<18} {'minigraph':>10} {'numpy':>8} {'scipy':>8} {'mg/np':>7} {'scipy/np':>9}  (GFLOP/s)"
    print(header)
    print("-" * len(header))
    previous = dense._set_direct(False)
    rng = np.random.default_rng(0)
    try:
        for m, k, n in SHAPES:
            a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
            c = np.empty((m, n), np.float32)
            a_f, b_f = np.asfortranarray(a), np.asfortranarray(b)
            medians = interleaved({"mg": lambda: kernels.matmul(a, b), "np": lambda: np.matmul(a, b, out=c),
                                   "scipy": lambda: blas.sgemm(1.0, a_f, b_f)}, args.rounds, 5, warmup=0.1)
            rate = {name: 2 * m * k * n / seconds / 1e9 for name, seconds in medians.items()}
            print(f"{f'{m}x{k}x{n}':<18} {rate['mg']:>10.1f} {rate['np']:>8.1f} {rate['scipy']:>8.1f} "
                  f"{rate['mg'] / rate['np']:>7.0%} {rate['scipy'] / rate['np']:>9.0%}", flush=True)
    finally:
        dense._set_direct(previous)


if __name__ == "__main__":
    main()
