"""Max and average pooling over NHWC images (see csrc/API.md).

Max pooling returns, with y, the flat index h * W + w of each chosen pixel inside its image and channel
(argmax, int64, shaped like y); the backward routes dy through it.  The innermost loops run over the
contiguous channel axis.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

import math

import numpy as np

from _kernel_common cimport float_array, positive_pair, checked_padding, threads_for
from minigraph.kernels.shapes import conv_output_length, conv_pad_before

__all__ = [
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "global_max_pool2d_forward", "global_max_pool2d_backward",
    "global_avg_pool2d_forward", "global_avg_pool2d_backward",
]


cdef extern from "pool_simd.h" nogil:
    void mg_max_pool_row_f32(const float* x, float* y, int64_t* am, Py_ssize_t W, Py_ssize_t C,
                             Py_ssize_t OW, Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t kw, Py_ssize_t sw,
                             Py_ssize_t pw)


cdef enum:
    _BLOCK = 16  # channels whose running maxima live in local arrays at once


cdef inline void _max_window(const floating* x, floating* y, int64_t* am, Py_ssize_t W, Py_ssize_t C,
                             Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t j0, Py_ssize_t j1) noexcept nogil:
    # Max of x[i0:i1, j0:j1, :] (x: one (H, W, C) image) into y[:C], its flat index into am[:C].
    # Channels go in blocks whose running max and int32 index sit in local arrays: nothing there can
    # alias the inputs, so gcc vectorizes the update (int64 lanes and selects defeat gcc 12).
    cdef floating best[_BLOCK]
    cdef int32_t idx[_BLOCK]
    cdef const floating* xp
    cdef Py_ssize_t blk, c0, c, n_c, i, j
    cdef int32_t k
    cdef floating v, b
    cdef bint win
    for blk in range((C + _BLOCK - 1) // _BLOCK):
        c0 = blk * _BLOCK
        n_c = min(<Py_ssize_t>_BLOCK, C - c0)
        xp = x + (i0 * W + j0) * C + c0
        for c in range(n_c):  # the first window cell seeds the running maximum
            best[c] = xp[c]
            idx[c] = i0 * W + j0
        for i in range(i0, i1):
            for j in range(j0, j1):
                xp = x + (i * W + j) * C + c0
                k = i * W + j
                for c in range(n_c):
                    v = xp[c]
                    b = best[c]
                    # not (v <= b): v is greater or NaN; b == b: no NaN so far.  Hence the first
                    # maximum wins ties and the first NaN wins over everything (y is NaN).
                    win = (not (v <= b)) & (b == b)
                    best[c] = v if win else b
                    idx[c] = k if win else idx[c]
        for c in range(n_c):
            y[c0 + c] = best[c]
            am[c0 + c] = idx[c]


def _max_pool_kernel(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, int64_t[:, :, :, ::1] am,
                     Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw):
    # One task per output row; y must be non-empty and H * W < 2**31.  Windows are clipped to the
    # image (padded cells never win); under TF's 'same' rule the padding before is < the window, so
    # a clipped window is never empty.
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t OH = y.shape[1], OW = y.shape[2]
    cdef Py_ssize_t r, n, oh, ow, i0, i1
    with nogil:
        for r in prange(N * OH, num_threads=threads_for(N * OH, N * (H * W + OH * OW) * C),
                        schedule="dynamic", chunksize=4):
            n = r // OH
            oh = r % OH
            i0 = max(oh * sh - ph, 0)
            i1 = min(oh * sh - ph + kh, H)
            if floating is float:  # 8-lane SIMD row, AVX2 clone picked at run time (pool_simd.h)
                mg_max_pool_row_f32(&x[n, 0, 0, 0], &y[n, oh, 0, 0], &am[n, oh, 0, 0], W, C, OW, i0, i1,
                                    kw, sw, pw)
            else:
                for ow in range(OW):
                    _max_window(&x[n, 0, 0, 0], &y[n, oh, ow, 0], &am[n, oh, ow, 0], W, C, i0, i1,
                                max(ow * sw - pw, 0), min(ow * sw - pw + kw, W))


def _max_pool_backward_kernel(const floating[:, :, ::1] dy, const int64_t[:, :, ::1] am,
                              floating[:, :, ::1] dx):
    # dy, am: (N, positions, C); dx: (N, H*W, C).  One task per image, so no two threads write the same
    # dx element; each zeroes its image first (while it is hot in cache, instead of np.zeros up front).
    # Returns the number of out-of-range argmax entries (skipped).
    cdef Py_ssize_t N = dy.shape[0], P = dy.shape[1], C = dy.shape[2], HW = dx.shape[1]
    cdef Py_ssize_t n, p, c, bad = 0
    cdef int64_t k
    with nogil:
        for n in prange(N, num_threads=threads_for(N, N * (HW + P) * C), schedule="dynamic"):
            for p in range(HW):
                for c in range(C):
                    dx[n, p, c] = 0
            for p in range(P):
                for c in range(C):
                    k = am[n, p, c]
                    if k < 0 or k >= HW:
                        bad += 1
                    else:
                        dx[n, k, c] += dy[n, p, c]
    return bad


def _window_avg_kernel(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] y, Py_ssize_t kh, Py_ssize_t kw,
                       Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw):
    # One task per output row: each window clipped to the image, its cells summed in row-major order and
    # divided by their count (padding is not counted, as TF's avg_pool).
    cdef Py_ssize_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3]
    cdef Py_ssize_t OH = y.shape[1], OW = y.shape[2]
    cdef Py_ssize_t r, n, oh, ow, i, j, c, i0, i1, j0, j1
    cdef floating count
    with nogil:
        for r in prange(N * OH, num_threads=threads_for(N * OH, N * OH * OW * C * kh * kw),
                        schedule="dynamic", chunksize=4):
            n = r // OH
            oh = r % OH
            i0 = max(oh * sh - ph, 0)
            i1 = min(oh * sh - ph + kh, H)
            for ow in range(OW):
                j0 = max(ow * sw - pw, 0)
                j1 = min(ow * sw - pw + kw, W)
                for c in range(C):
                    y[n, oh, ow, c] = 0
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        for c in range(C):
                            y[n, oh, ow, c] += x[n, i, j, c]
                count = (i1 - i0) * (j1 - j0)
                for c in range(C):
                    y[n, oh, ow, c] = y[n, oh, ow, c] / count


def _window_avg_backward_kernel(const floating[:, :, :, ::1] dy, floating[:, :, :, ::1] dx, Py_ssize_t kh,
                                Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw):
    # One task per image (no two threads write one dx element): zero it, then add dy / count to every
    # cell of each window, windows in row-major order.
    cdef Py_ssize_t N = dx.shape[0], H = dx.shape[1], W = dx.shape[2], C = dx.shape[3]
    cdef Py_ssize_t OH = dy.shape[1], OW = dy.shape[2]
    cdef Py_ssize_t n, oh, ow, i, j, c, i0, i1, j0, j1
    cdef floating count
    with nogil:
        for n in prange(N, num_threads=threads_for(N, N * (H * W + OH * OW * kh * kw) * C), schedule="dynamic"):
            for i in range(H):
                for j in range(W):
                    for c in range(C):
                        dx[n, i, j, c] = 0
            for oh in range(OH):
                i0 = max(oh * sh - ph, 0)
                i1 = min(oh * sh - ph + kh, H)
                for ow in range(OW):
                    j0 = max(ow * sw - pw, 0)
                    j1 = min(ow * sw - pw + kw, W)
                    count = (i1 - i0) * (j1 - j0)
                    for i in range(i0, i1):
                        for j in range(j0, j1):
                            for c in range(C):
                                dx[n, i, j, c] += dy[n, oh, ow, c] / count


def _avg_pool_kernel(const floating[:, :, ::1] x, floating[:, ::1] y):
    # x: (N, H*W, C) -> y: (N, C), one task per image.
    cdef Py_ssize_t N = x.shape[0], P = x.shape[1], C = x.shape[2]
    cdef Py_ssize_t n, p, c
    with nogil:
        for n in prange(N, num_threads=threads_for(N, N * P * C), schedule="dynamic"):
            for c in range(C):
                y[n, c] = 0
            for p in range(P):
                for c in range(C):
                    y[n, c] += x[n, p, c]
            for c in range(C):
                y[n, c] = y[n, c] / P


def _avg_pool_backward_kernel(const floating[:, ::1] dy, floating[:, :, ::1] dx):
    # dx[n, p, c] = dy[n, c] / P
    cdef Py_ssize_t N = dx.shape[0], P = dx.shape[1], C = dx.shape[2]
    cdef Py_ssize_t n, p, c
    with nogil:
        for n in prange(N, num_threads=threads_for(N, N * P * C), schedule="dynamic"):
            for p in range(P):
                for c in range(C):
                    dx[n, p, c] = dy[n, c] / P


def _input_shape(input_shape, str fn, dy_shape):
    """input_shape as 4 non-negative ints whose batch and channels match dy's (first and last axes)."""
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: input_shape must be 4 ints (n, h, w, c), got {input_shape!r}") from None
    if len(shape) != 4 or min(shape) < 0:
        raise ValueError(f"{fn}: input_shape must be 4 non-negative ints (n, h, w, c), got {input_shape!r}")
    if shape[0] != dy_shape[0] or shape[3] != dy_shape[len(dy_shape) - 1]:
        raise ValueError(f"{fn}: dy shape {dy_shape} does not match input_shape {shape} (batch, channels)")
    return shape


def _image_shape(x, str fn):
    n, h, w, c = x.shape
    if h == 0 or w == 0:
        raise ValueError(f"{fn}: empty image, x shape {x.shape}")
    return n, h, w, c


def _max_pool(str fn, x, kh, kw, sh, sw, ph, pw, oh, ow):
    if x.shape[1] * x.shape[2] >= 2**31:  # the kernel tracks flat indices in int32
        raise ValueError(f"{fn}: images of 2**31 pixels or more are not supported, x shape {x.shape}")
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)
    argmax = np.empty(y.shape, np.int64)
    if y.size:
        _max_pool_kernel(x, y, argmax, kh, kw, sh, sw, ph, pw)
    return y, argmax


def _route_to_argmax(str fn, dy, argmax, input_shape, int ndim):
    """dx of a max pool (windowed: ndim 4, global: ndim 2): each dy added at its argmax."""
    dy = float_array(dy, fn, "dy", ndim)
    argmax = np.asarray(argmax)
    if argmax.shape != dy.shape:
        raise ValueError(f"{fn}: argmax shape {argmax.shape} does not match dy shape {dy.shape}")
    if argmax.dtype.kind not in "iu":
        raise ValueError(f"{fn}: argmax must be an integer array, got dtype {argmax.dtype}")
    n, h, w, c = shape = _input_shape(input_shape, fn, dy.shape)
    positions = math.prod(dy.shape[1:ndim - 1])  # wraparound is off: no negative indices
    # a uint64 index >= 2**63 wraps negative here and is caught by the range check
    argmax = np.ascontiguousarray(argmax, np.int64).reshape(n, positions, c)
    dx = np.empty(shape, dy.dtype)
    bad = _max_pool_backward_kernel(dy.reshape(n, positions, c), argmax, dx.reshape(n, h * w, c))
    if bad:
        raise ValueError(f"{fn}: argmax holds {bad} indices outside [0, {h * w}) for input_shape {shape}")
    return dx


def _window(str fn, image_shape, pool_size, strides, padding, str what):
    """(kh, kw, sh, sw, ph, pw, oh, ow) of a pooling window over image_shape (n, h, w, c); `what` names the
    shape in error messages."""
    kh, kw = positive_pair(pool_size, fn, "pool_size")
    sh, sw = positive_pair(pool_size if strides is None else strides, fn, "strides")
    padding = checked_padding(padding, fn)
    n, h, w, c = image_shape
    if padding == "valid" and (kh > h or kw > w):
        raise ValueError(f"{fn}: pool_size {(kh, kw)} is larger than the image {(h, w)} "
                         f"({what}) under 'valid' padding")
    return (kh, kw, sh, sw, conv_pad_before(h, kh, sh, padding), conv_pad_before(w, kw, sw, padding),
            conv_output_length(h, kh, sh, padding), conv_output_length(w, kw, sw, padding))


def max_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """Max pooling of NHWC x -> (y, argmax).

    pool_size, strides: int or pair (strides default to pool_size); padding 'valid' or 'same'
    (TF rule; padded cells never win).  argmax (int64, shaped like y) is the flat index h * W + w of
    the chosen pixel in its image and channel.  Ties: the first maximum in row-major window order wins.
    NaN propagates: a window holding a NaN gives y = NaN and argmax = its first NaN.
    """
    fn = "max_pool2d_forward"
    x = float_array(x, fn, "x", 4)
    return _max_pool(fn, x, *_window(fn, x.shape, pool_size, strides, padding, f"x shape {x.shape}"))


def max_pool2d_backward(dy, argmax, input_shape):
    """dx (input_shape) of max_pool2d_forward: each dy routed to its argmax, summed where windows overlap.

    argmax entries outside [0, h * w) raise ValueError.
    """
    return _route_to_argmax("max_pool2d_backward", dy, argmax, input_shape, 4)


def avg_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """Average pooling of NHWC x -> y: each output is the mean of its window's cells inside the image
    (Keras / TF: under 'same' the padded cells are not counted).  pool_size, strides, padding as for
    max_pool2d_forward."""
    fn = "avg_pool2d_forward"
    x = float_array(x, fn, "x", 4)
    kh, kw, sh, sw, ph, pw, oh, ow = _window(fn, x.shape, pool_size, strides, padding, f"x shape {x.shape}")
    y = np.empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)
    if y.size:
        _window_avg_kernel(x, y, kh, kw, sh, sw, ph, pw)
    return y


def avg_pool2d_backward(dy, input_shape, pool_size, strides=None, padding="valid"):
    """dx (input_shape) of avg_pool2d_forward: each dy divided by its window's count and added to the
    window's cells (summed where windows overlap)."""
    fn = "avg_pool2d_backward"
    dy = float_array(dy, fn, "dy", 4)
    n, h, w, c = shape = _input_shape(input_shape, fn, dy.shape)
    kh, kw, sh, sw, ph, pw, oh, ow = _window(fn, shape, pool_size, strides, padding, f"input_shape {shape}")
    if dy.shape != (n, oh, ow, c):
        raise ValueError(f"{fn}: dy shape {dy.shape} does not match the pooled shape {(n, oh, ow, c)} of "
                         f"input_shape {shape} (pool_size {(kh, kw)}, strides {(sh, sw)}, padding {padding!r})")
    dx = np.empty(shape, dy.dtype)
    if dx.size:
        _window_avg_backward_kernel(dy, dx, kh, kw, sh, sw, ph, pw)
    return dx


def global_max_pool2d_forward(x):
    """Max over h and w of NHWC x -> (y (n, c), argmax (n, c)); same tie and NaN rules as max_pool2d_forward."""
    fn = "global_max_pool2d_forward"
    x = float_array(x, fn, "x", 4)
    n, h, w, c = _image_shape(x, fn)
    y, argmax = _max_pool(fn, x, h, w, h, w, 0, 0, 1, 1)
    return y.reshape(n, c), argmax.reshape(n, c)


def global_max_pool2d_backward(dy, argmax, input_shape):
    """dx (input_shape) of global_max_pool2d_forward: dy (n, c) placed at argmax (n, c)."""
    return _route_to_argmax("global_max_pool2d_backward", dy, argmax, input_shape, 2)


def global_avg_pool2d_forward(x):
    """Mean over h and w of NHWC x -> (n, c)."""
    fn = "global_avg_pool2d_forward"
    x = float_array(x, fn, "x", 4)
    n, h, w, c = _image_shape(x, fn)
    y = np.empty((n, c), x.dtype)
    _avg_pool_kernel(x.reshape(n, h * w, c), y)
    return y


def global_avg_pool2d_backward(dy, input_shape):
    """dx (input_shape) of global_avg_pool2d_forward: dy / (h * w) spread over each image."""
    fn = "global_avg_pool2d_backward"
    dy = float_array(dy, fn, "dy", 2)
    n, h, w, c = shape = _input_shape(input_shape, fn, dy.shape)
    if h == 0 or w == 0:
        raise ValueError(f"{fn}: empty image, input_shape {shape}")
    dx = np.empty(shape, dy.dtype)
    _avg_pool_backward_kernel(dy, dx.reshape(n, h * w, c))
    return dx
