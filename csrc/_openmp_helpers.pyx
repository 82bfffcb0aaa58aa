"""Python-visible thread control for the kernels' OpenMP loops."""
from _openmp_helpers cimport mg_omp_max_threads, mg_omp_set_threads, mg_omp_enabled


def get_num_threads():
    """Threads the kernels' parallel loops use (1 when built without OpenMP)."""
    return mg_omp_max_threads()


def set_num_threads(int n):
    """Set the kernels' OpenMP thread count (process-wide)."""
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    mg_omp_set_threads(n)


def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(mg_omp_enabled())
