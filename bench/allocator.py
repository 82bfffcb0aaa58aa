"""The C allocator's part in a timing: page faults per call, and glibc told to keep freed memory.

minigraph's training loops and kernels inside `workspace.pooled()` reuse their blocks; PyTorch's CPU tensors
and numpy arrays outside the pool come from malloc.  glibc serves blocks of more than its mmap threshold
with mmap and unmaps them when they are freed, and trims the heap's free top once it passes the trim
threshold; both thresholds move as blocks are freed.  A step that frees its activations then faults every
page of them in (zeroed) again at the next step, and how often that happens depends on what the process
freed before.  `keep_freed_memory()` fixes both thresholds so that freed blocks below 32 MiB stay in the
heap, which takes the faults out of a comparison of the libraries' own code; `minor_faults()` counts them.
"""
import ctypes
import resource

# mallopt's parameter numbers (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for it on 64-bit
INT_MAX = 2 ** 31 - 1      # mallopt takes a C int: never trim


def keep_freed_memory():
    """Serve every block below 32 MiB from the heap and never trim it.  True if glibc took both settings;
    False where the C library is not glibc (nothing changes)."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, INT_MAX))


def minor_faults():
    """The process's minor page faults so far (pages mapped in without I/O: mostly zeroed fresh pages)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
