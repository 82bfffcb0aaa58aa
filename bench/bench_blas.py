"""The BLAS route (issue 15): the same sgemm shapes on the three OpenBLAS builds a process here can hold.

    python bench/bench_blas.py [--rounds N] [--candidates [--mkl-lib PATH]]

- minigraph: scipy-openblas32's library, which the kernels link (`minigraph.kernels.matmul` with the direct
  tiles switched off, so every product is one CBLAS sgemm call);
- numpy: `np.matmul` into a preallocated output (numpy's own OpenBLAS);
- scipy: `scipy.linalg.blas.sgemm` (the OpenBLAS scipy bundles, which the kernels used before) on
  Fortran-ordered operands, so that no copy is timed.

Each line prints GFLOP/s per build and the shares of numpy's, and the header which core each OpenBLAS chose
at run time (threadpoolctl, when it is installed). The builds take turns in rounds, medians over all rounds;
each turn starts after a pause, because an OpenBLAS pool keeps its threads spinning for a while after a call
and would slow the next build's turn (the three builds have three thread pools).

--candidates instead weighs the other BLAS libraries the issue names against the kernels' OpenBLAS, one
thread each (the kernels run single-threaded BLAS calls on their own OpenMP team), beside the machine's
multiply-add roof (bench/fma_peak.c, compiled here with -march=native):
- MKL: libmkl_rt from the `mkl` wheel (found under sys.prefix/lib, or --mkl-lib), sequential layer;
- BLIS: the `blis` package's `blis.py.gemm` into a preallocated output.
Each is skipped, with the reason, when it is not installed.
"""
import argparse
import ctypes
import glob
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_models import median_seconds  # noqa: E402
from minigraph import kernels  # noqa: E402
from minigraph.kernels import _blas_library, dense  # noqa: E402

PAUSE = 0.3  # seconds: longer than OpenBLAS's spin before its threads sleep
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


def turns(candidates, rounds, repeats=5):
    """{name: median seconds}: each round gives every candidate one turn of `repeats` timed calls (after a
    pause and one untimed call), in an order that flips every round."""
    times = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            time.sleep(PAUSE)
            candidates[name]()
            times[name].append(median_seconds(candidates[name], repeats))
    return {name: float(np.median(t)) for name, t in times.items()}


def fma_roof():
    """(one-thread, two-thread) GFLOP/s of bench/fma_peak.c, or None without a C compiler."""
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fma_peak.c")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "fma_peak")
        try:
            subprocess.run(["cc", "-O3", "-march=native", "-fopenmp", source, "-o", exe], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"(fma_peak.c not compiled: {e})")
            return None
        return tuple(float(subprocess.run([exe], env={**os.environ, "OMP_NUM_THREADS": str(t)}, check=True,
                                          capture_output=True, text=True).stdout.split()[0]) for t in (1, 2))


def cblas_sgemm(function):
    """A callable (a, b, c) -> c = a @ b through a CBLAS sgemm entry point (row-major, no transposes)."""
    function.restype = None

    def call(a, b, c):
        (m, k), n = a.shape, b.shape[1]
        function(101, 111, 111, m, n, k, ctypes.c_float(1.0), a.ctypes.data_as(ctypes.c_void_p), k,
                 b.ctypes.data_as(ctypes.c_void_p), n, ctypes.c_float(0.0), c.ctypes.data_as(ctypes.c_void_p), n)
    return call


def candidate_libraries(mkl_lib):
    """{name: sgemm callable} for the kernels' OpenBLAS (one thread) and whichever of MKL and BLIS load."""
    found = {"openblas": cblas_sgemm(_blas_library.library.scipy_cblas_sgemm)}
    os.environ.setdefault("MKL_THREADING_LAYER", "SEQUENTIAL")
    paths = [mkl_lib] if mkl_lib else sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    if paths:
        mkl = ctypes.CDLL(paths[0])
        version = ctypes.create_string_buffer(256)
        mkl.mkl_get_version_string(version, 256)
        print(f"MKL: {version.value.decode().strip()} ({paths[0]})")
        found["mkl"] = cblas_sgemm(mkl.cblas_sgemm)
    else:
        print("MKL: skipped (no libmkl_rt under sys.prefix/lib: pip install mkl, or pass --mkl-lib)")
    try:
        os.environ.setdefault("BLIS_NUM_THREADS", "1")
        import blis
        import blis.py
        print(f"BLIS: the blis package {getattr(blis, '__version__', '')}".rstrip())
        found["blis"] = lambda a, b, c: blis.py.gemm(a, b, out=c, beta=0.0)
    except ImportError:
        print("BLIS: skipped (the blis package is not installed)")
    return found


def run_candidates(rounds, mkl_lib):
    kernels.set_num_threads(1)
    roof = fma_roof()
    if roof:
        print(f"multiply-add roof (fma_peak.c): {roof[0]:.1f} GFLOP/s on one thread, {roof[1]:.1f} on two")
    libraries = candidate_libraries(mkl_lib)
    header = f"{'m x k x n':<18}" + "".join(f" {name:>9}" for name in libraries) + "  (GFLOP/s, one thread)"
    if roof:
        header += ", share of the roof"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(0)
    for m, k, n in SHAPES:
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        outs = {name: np.empty((m, n), np.float32) for name in libraries}
        for name, sgemm in libraries.items():
            sgemm(a, b, outs[name])
            np.testing.assert_allclose(outs[name], outs["openblas"], rtol=1e-3, err_msg=name)
        medians = turns({name: (lambda f=f, c=outs[name]: f(a, b, c)) for name, f in libraries.items()}, rounds)
        rate = {name: 2 * m * k * n / seconds / 1e9 for name, seconds in medians.items()}
        line = f"{f'{m}x{k}x{n}':<18}" + "".join(f" {rate[name]:>9.1f}" for name in libraries)
        if roof:
            line += "  " + " ".join(f"{rate[name] / roof[0]:.0%}" for name in libraries)
        print(line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--candidates", action="store_true", help="MKL and BLIS beside OpenBLAS, one thread")
    parser.add_argument("--mkl-lib", help="path of libmkl_rt.so (default: sys.prefix/lib)")
    args = parser.parse_args()
    if args.candidates:
        return run_candidates(args.rounds, args.mkl_lib)
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
            medians = turns({"mg": lambda: kernels.matmul(a, b), "np": lambda: np.matmul(a, b, out=c),
                             "scipy": lambda: blas.sgemm(1.0, a_f, b_f)}, args.rounds)
            rate = {name: 2 * m * k * n / seconds / 1e9 for name, seconds in medians.items()}
            print(f"{f'{m}x{k}x{n}':<18} {rate['mg']:>10.1f} {rate['np']:>8.1f} {rate['scipy']:>8.1f} "
                  f"{rate['mg'] / rate['np']:>7.0%} {rate['scipy'] / rate['np']:>9.0%}", flush=True)
    finally:
        dense._set_direct(previous)


if __name__ == "__main__":
    main()
