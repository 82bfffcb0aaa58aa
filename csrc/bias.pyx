"""The gradient epilogue of a layer with bias and an optional ReLU (see csrc/API.md, section bias).

One pass over the output gradient gives both what the layer's kernel gradients need (the gradient
masked by the ReLU) and the bias gradient (its sum over every axis but the last), instead of numpy's
two full-size passes, a temporary mask and a strided reduction that is slow for few channels.
"""
from cython cimport floating
from cython.parallel cimport prange

import numpy as np

from _kernel_common cimport float_array, threads_for

__all__ = ["bias_relu_backward"]

# Elements per task: each task sums its rows in the array's own precision, then the task sums are added
# in float64 (a two-level sum: as accurate as numpy's float32 reduction, and the same for any thread count).
cdef Py_ssize_t TASK_ELEMENTS = 8192


cdef inline void _accumulate(const floating* dy, const floating* out, floating* dx, floating* acc,
                             Py_ssize_t n, bint relu) noexcept nogil:
    """acc[j] += dx[j] for j < n, dx = dy masked by out > 0 under relu (and written), else dy."""
    cdef Py_ssize_t j
    cdef floating v
    if relu:
        for j in range(n):
            v = dy[j] * (1 if out[j] > 0 else 0)  # TensorFlow's ReluGrad multiplies: a NaN gradient stays NaN
            dx[j] = v
            acc[j] += v
    else:
        for j in range(n):
            acc[j] += dy[j]


cdef void _sum_rows(const floating* dy, const floating* out, floating* dx, double* sums, Py_ssize_t rows,
                    Py_ssize_t c, bint relu) noexcept nogil:
    """sums[j] += sum over rows of dx[r, j] (dx written under relu), through 64 accumulators: for c <= 64 a
    flat run in blocks of whole rows, so that the loop is long enough to vectorise for few channels too;
    for more channels, 64 of them at a time, row by row."""
    cdef floating acc[64]
    cdef Py_ssize_t width, i, j, j0, r, jn, n = rows * c
    if c <= 64:
        width = (64 // c) * c
        for j in range(width):
            acc[j] = 0
        i = 0
        while i < n:  # (a while loop: Cython needs a constant step for a nogil range)
            jn = min(width, n - i)
            _accumulate(dy + i, out + i, dx + i if relu else NULL, acc, jn, relu)
            i += width
        for j in range(width):
            sums[j % c] += acc[j]
        return
    for j0 in range(0, c, 64):
        jn = min(c - j0, 64)
        for j in range(jn):
            acc[j] = 0
        for r in range(rows):
            i = r * c + j0
            _accumulate(dy + i, out + i, dx + i if relu else NULL, acc, jn, relu)
        for j in range(jn):
            sums[j0 + j] += acc[j]


def _bias_relu_backward_kernel(const floating[:, ::1] dy, const floating[:, ::1] out, floating[:, ::1] dx,
                               double[:, ::1] task_sums, Py_ssize_t rows_per_task, bint relu):
    cdef Py_ssize_t rows = dy.shape[0], c = dy.shape[1], tasks = task_sums.shape[0]
    cdef Py_ssize_t t, r0
    cdef floating* dx_base = &dx[0, 0] if relu else NULL
    with nogil:
        for t in prange(tasks, num_threads=threads_for(tasks, rows * c), schedule="dynamic"):
            r0 = t * rows_per_task
            _sum_rows(&dy[r0, 0], &out[r0, 0], dx_base + r0 * c if relu else NULL, &task_sums[t, 0],
                      min(rows_per_task, rows - r0), c, relu)


def bias_relu_backward(dy, out=None, bint relu=False):
    """(dx, dbias) for y = act(z + bias): dx = dy * (out > 0) under ReLU (else dy itself, not copied)
    and dbias = dx summed over every axis but the last.  dy and out (the layer's output) share a shape."""
    fn = "bias_relu_backward"
    dy = np.asarray(dy)
    shape = dy.shape
    channels = shape[len(shape) - 1] if shape else 0  # (no negative indices: wraparound is off)
    if channels < 1:
        raise ValueError(f"{fn}: dy must have a non-empty last axis, got shape {shape}")
    dy2 = float_array(dy.reshape(-1, channels), fn, "dy", 2)
    if relu:
        if out is None or np.shape(out) != shape:
            raise ValueError(f"{fn}: out {np.shape(out)} must have dy's shape {shape} under relu")
        out2 = float_array(np.reshape(out, dy2.shape), fn, "out", 2, dy2.dtype)
        dx2 = np.empty_like(dy2)
    else:  # no mask: dx is dy itself and the kernel only sums (out and dx are not read or written)
        out2, dx2 = dy2, np.empty((0, channels), dy2.dtype)
    rows_per_task = max(1, TASK_ELEMENTS // channels)
    tasks = max(1, -(-dy2.shape[0] // rows_per_task))
    task_sums = np.zeros((tasks, channels), np.float64)
    if dy2.shape[0]:
        _bias_relu_backward_kernel(dy2, out2, dx2, task_sums, rows_per_task, relu)
    dbias = (task_sums[0] if tasks == 1 else task_sums.sum(axis=0)).astype(dy2.dtype)  # one task: no reduce call
    return (dx2.reshape(shape) if relu else dy), dbias
