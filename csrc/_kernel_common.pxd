# Argument checks and the thread heuristic shared by the conv, pool, upsample and dense kernels (cimport
# only, like _blas.pxd).  Every array and shape argument passes through here before any nogil code, so
# the loops only ever see C-contiguous float arrays of the right rank and positive, int32-sized window
# arguments.  Imports are function-local because a .pxd cannot hold module-level Python statements.
from _openmp_helpers cimport parallel_threads


cdef inline int threads_for(Py_ssize_t tasks, Py_ssize_t work) noexcept nogil:
    """Threads for a prange over `tasks` items touching about `work` array elements in all: one thread
    below ~32k elements, where starting and joining the team costs more than the loop (and much more
    when the cores are shared with another busy process).  The kernels' pranges use dynamic schedules
    for the same reason: a thread the OS has parked then holds up one small chunk, not 1/T of the work."""
    return parallel_threads(tasks) if work >= 32768 else 1


cdef inline object float_array(object x, str fn, str name, int ndim, object dtype=None):
    """x as a C-contiguous float array of rank ndim.

    dtype None: float64 stays float64, every other numeric dtype becomes float32 (API.md); otherwise
    x is cast to dtype (secondary arguments follow the main input's dtype).
    """
    import numpy as np
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: {name} must be a real numeric array, got dtype {x.dtype} with shape {x.shape}")
    if x.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D, got shape {x.shape}")
    if dtype is None:
        dtype = np.float64 if x.dtype == np.float64 else np.float32
    return np.ascontiguousarray(x, dtype=dtype)


cdef inline object empty_aligned(tuple shape, object dtype):
    """An uninitialised C-contiguous array whose data starts on a cache line.

    numpy's default allocator leaves large blocks 16 bytes past one (malloc's header), so every vector
    load or store that spans 64 bytes crosses two lines; the vector loops over channels run measurably
    slower on such outputs and on the next layer's reads of them. (Inside `workspace.pooled()` blocks
    are aligned already; the 64 spare bytes then cost nothing but the slack.)"""
    import numpy as np
    dtype = np.dtype(dtype)
    count = 1
    for extent in shape:
        count *= extent
    raw = np.empty(count * dtype.itemsize + 64, np.uint8)
    start = (-raw.ctypes.data) % 64
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)


cdef inline tuple positive_pair(object value, str fn, str name):
    """An int or a pair of ints as (a, b) with 1 <= a, b < 2**31."""
    return int_pair(fn, name, value, 1)


cdef inline tuple int_pair(str fn, str name, object value, Py_ssize_t minimum):
    """An int or a pair of ints (true integers only: no floats, strings or bools) as (a, b) with
    minimum <= a, b < 2**31: window sizes, strides, output_padding, input_hw, kernel_hw."""
    from minigraph.kernels.shapes import normalize_pair
    try:
        pair = normalize_pair(value, name)
    except ValueError as e:
        raise ValueError(f"{fn}: {e}") from None
    if min(pair) < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{fn}: {name} must be {bound}, got {value!r}")
    if max(pair) >= 2**31:
        raise ValueError(f"{fn}: {name} must be < 2**31, got {value!r}")
    return pair


cdef inline str checked_padding(object padding, str fn):
    from minigraph.kernels.shapes import normalize_padding
    try:
        return normalize_padding(padding)
    except ValueError as e:
        raise ValueError(f"{fn}: {e}") from None
