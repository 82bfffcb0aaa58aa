"""Nearest-neighbour upsampling of NHWC images (see csrc/API.md)."""
from cython cimport floating
from cython.parallel cimport prange

import numpy as np

from _kernel_common cimport float_array, positive_pair, threads_for

__all__ = ["upsampling2d_forward", "upsampling2d_backward"]


def _upsample_kernel(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, Py_ssize_t sh, Py_ssize_t sw):
    # One task per input row: widen it into the first of its sh output rows, then copy that row down.
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t OH = y.shape[1], OW = y.shape[2]
    cdef Py_ssize_t r, n, i, j, a, b, c
    with nogil:
        for r in prange(N * H, num_threads=threads_for(N * H, N * OH * OW * C),
                        schedule="dynamic", chunksize=4):
            n = r // H
            i = r % H
            for j in range(W):
                for b in range(sw):
                    for c in range(C):
                        y[n, i * sh, j * sw + b, c] = x[n, i, j, c]
            for a in range(1, sh):
                for j in range(OW):
                    for c in range(C):
                        y[n, i * sh + a, j, c] = y[n, i * sh, j, c]


def _upsample_backward_kernel(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                              Py_ssize_t sh, Py_ssize_t sw):
    # One task per dx row: the sum of its sh x sw blocks, accumulated in dy's row order.
    cdef Py_ssize_t N = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t OH = dy.shape[1], OW = dy.shape[2]
    cdef Py_ssize_t r, n, i, j, a, b, c
    with nogil:
        for r in prange(N * H, num_threads=threads_for(N * H, N * OH * OW * C),
                        schedule="dynamic", chunksize=4):
            n = r // H
            i = r % H
            for j in range(W):
                for c in range(C):
                    dx[n, i, j, c] = 0
            for a in range(sh):
                for j in range(W):
                    for b in range(sw):
                        for c in range(C):
                            dx[n, i, j, c] += dy[n, i * sh + a, j * sw + b, c]


def upsampling2d_forward(x, size):
    """Nearest-neighbour upsampling: NHWC x (n, h, w, c) -> (n, h * sh, w * sw, c); size int or (sh, sw)."""
    fn = "upsampling2d_forward"
    x = float_array(x, fn, "x", 4)
    sh, sw = positive_pair(size, fn, "size")
    n, h, w, c = x.shape
    y = np.empty((n, h * sh, w * sw, c), x.dtype)
    _upsample_kernel(x, y, sh, sw)
    return y


def upsampling2d_backward(dy, size):
    """dx (n, oh / sh, ow / sw, c) of upsampling2d_forward: the sum of each sh x sw block of dy."""
    fn = "upsampling2d_backward"
    dy = float_array(dy, fn, "dy", 4)
    sh, sw = positive_pair(size, fn, "size")
    n, oh, ow, c = dy.shape
    if oh % sh or ow % sw:
        raise ValueError(f"{fn}: dy shape {dy.shape} is not a whole number of size {(sh, sw)} blocks")
    dx = np.empty((n, oh // sh, ow // sw, c), dy.dtype)
    _upsample_backward_kernel(dy, dx, sh, sw)
    return dx
