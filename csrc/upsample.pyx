"""Nearest-neighbour and bilinear upsampling of NHWC images (see csrc/API.md)."""
from cython cimport floating
from cython.parallel cimport prange

import numpy as np

from _kernel_common cimport float_array, positive_pair, threads_for

__all__ = ["upsampling2d_forward", "upsampling2d_backward",
           "upsampling2d_bilinear_forward", "upsampling2d_bilinear_backward"]


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


def _bilinear_kernel(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, const Py_ssize_t[:, ::1] rows,
                     const floating[::1] row_lerp, const Py_ssize_t[:, ::1] cols, const floating[::1] col_lerp):
    # One task per output row: top = a + (b - a) * col_lerp on the lower input row, bottom the same on the
    # upper one, y = top + (bottom - top) * row_lerp (TensorFlow's resize_bilinear, in that order).
    cdef Py_ssize_t N = x.shape[0], C = x.shape[3], OH = y.shape[1], OW = y.shape[2]
    cdef Py_ssize_t r, n, i, j, c, y0, y1, x0, x1
    cdef floating fy, fx, top, bottom
    with nogil:
        for r in prange(N * OH, num_threads=threads_for(N * OH, N * OH * OW * C * 4),
                        schedule="dynamic", chunksize=4):
            n = r // OH
            i = r % OH
            y0 = rows[i, 0]
            y1 = rows[i, 1]
            fy = row_lerp[i]
            for j in range(OW):
                x0 = cols[j, 0]
                x1 = cols[j, 1]
                fx = col_lerp[j]
                for c in range(C):
                    top = x[n, y0, x0, c] + (x[n, y0, x1, c] - x[n, y0, x0, c]) * fx
                    bottom = x[n, y1, x0, c] + (x[n, y1, x1, c] - x[n, y1, x0, c]) * fx
                    y[n, i, j, c] = top + (bottom - top) * fy


def _bilinear_backward_kernel(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx,
                              const Py_ssize_t[:, ::1] rows, const floating[::1] row_lerp,
                              const Py_ssize_t[:, ::1] cols, const floating[::1] col_lerp):
    # One task per image (no two threads write one dx element): zero it, then add each dy to its four
    # input pixels with the forward's weights, dy in row-major order.
    cdef Py_ssize_t N = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t OH = dy.shape[1], OW = dy.shape[2]
    cdef Py_ssize_t n, i, j, c, y0, y1, x0, x1
    cdef floating fy, fx, g, gt, gb
    with nogil:
        for n in prange(N, num_threads=threads_for(N, N * (H * W + OH * OW * 4) * C), schedule="dynamic"):
            for i in range(H):
                for j in range(W):
                    for c in range(C):
                        dx[n, i, j, c] = 0
            for i in range(OH):
                y0 = rows[i, 0]
                y1 = rows[i, 1]
                fy = row_lerp[i]
                for j in range(OW):
                    x0 = cols[j, 0]
                    x1 = cols[j, 1]
                    fx = col_lerp[j]
                    for c in range(C):
                        g = dy[n, i, j, c]
                        gt = g * (1 - fy)
                        gb = g * fy
                        dx[n, y0, x0, c] += gt * (1 - fx)
                        dx[n, y0, x1, c] += gt * fx
                        dx[n, y1, x0, c] += gb * (1 - fx)
                        dx[n, y1, x1, c] += gb * fx


def _bilinear_axis(Py_ssize_t n_in, Py_ssize_t n_out, dtype):
    """(indices (n_out, 2): the lower and upper input pixel, lerp (n_out,)) of one axis under half-pixel
    centres, TensorFlow's rule: src = (o + 0.5) * n_in / n_out - 0.5, lower = max(floor(src), 0),
    upper = min(ceil(src), n_in - 1), lerp = src - floor(src)."""
    src = (np.arange(n_out) + 0.5) * (<double>n_in / n_out) - 0.5
    low = np.floor(src)
    idx = np.stack([np.maximum(low, 0), np.minimum(np.ceil(src), n_in - 1)], axis=1).astype(np.intp)
    return np.ascontiguousarray(idx), (src - low).astype(dtype)


def _bilinear_tables(Py_ssize_t h, Py_ssize_t w, Py_ssize_t oh, Py_ssize_t ow, dtype):
    """(rows, row_lerp, cols, col_lerp) mapping an (oh, ow) output onto an (h, w) input, both axes."""
    rows, row_lerp = _bilinear_axis(h, oh, dtype)
    cols, col_lerp = _bilinear_axis(w, ow, dtype)
    return rows, row_lerp, cols, col_lerp


def _forward_output(x, size, fn):
    """(x checked, its (n, h * sh, w * sw, c) output to fill, (sh, sw))."""
    x = float_array(x, fn, "x", 4)
    sh, sw = positive_pair(size, fn, "size")
    n, h, w, c = x.shape
    return x, np.empty((n, h * sh, w * sw, c), x.dtype), (sh, sw)


def _backward_input_grad(dy, size, fn):
    """(dy checked, the (n, oh / sh, ow / sw, c) dx to fill, (sh, sw)); dy must hold whole sh x sw blocks."""
    dy = float_array(dy, fn, "dy", 4)
    sh, sw = positive_pair(size, fn, "size")
    n, oh, ow, c = dy.shape
    if oh % sh or ow % sw:
        raise ValueError(f"{fn}: dy shape {dy.shape} is not a whole number of size {(sh, sw)} blocks")
    return dy, np.empty((n, oh // sh, ow // sw, c), dy.dtype), (sh, sw)


def upsampling2d_bilinear_forward(x, size):
    """Bilinear upsampling (Keras' UpSampling2D(interpolation='bilinear'), TF's resize with half-pixel
    centres, no antialiasing): NHWC x (n, h, w, c) -> (n, h * sh, w * sw, c)."""
    x, y, _ = _forward_output(x, size, "upsampling2d_bilinear_forward")
    if y.size:
        _bilinear_kernel(x, y, *_bilinear_tables(x.shape[1], x.shape[2], y.shape[1], y.shape[2], x.dtype))
    return y


def upsampling2d_bilinear_backward(dy, size):
    """dx (n, oh / sh, ow / sw, c) of upsampling2d_bilinear_forward."""
    dy, dx, _ = _backward_input_grad(dy, size, "upsampling2d_bilinear_backward")
    if dx.size:
        _bilinear_backward_kernel(dy, dx, *_bilinear_tables(dx.shape[1], dx.shape[2], dy.shape[1], dy.shape[2],
                                                             dy.dtype))
    return dx


def upsampling2d_forward(x, size):
    """Nearest-neighbour upsampling: NHWC x (n, h, w, c) -> (n, h * sh, w * sw, c); size int or (sh, sw)."""
    x, y, (sh, sw) = _forward_output(x, size, "upsampling2d_forward")
    _upsample_kernel(x, y, sh, sw)
    return y


def upsampling2d_backward(dy, size):
    """dx (n, oh / sh, ow / sw, c) of upsampling2d_forward: the sum of each sh x sw block of dy."""
    dy, dx, (sh, sw) = _backward_input_grad(dy, size, "upsampling2d_backward")
    _upsample_backward_kernel(dy, dx, sh, sw)
    return dx
