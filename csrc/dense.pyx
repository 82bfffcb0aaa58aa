"""Matrix products and dense layers through the shared BLAS gemm (see csrc/API.md)."""
from cython cimport floating

import numpy as np

from _blas cimport gemm
from _kernel_common cimport float_array

__all__ = ["matmul", "dense_forward", "dense_backward"]

cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)


cdef void _gemm_typed(bint trans_a, bint trans_b, const floating[:, ::1] a, const floating[:, ::1] b,
                      floating[:, ::1] c, const floating[::1] bias) noexcept:
    # c = op(a) @ op(b) (+ bias on every row, as beta = 1 over a bias-filled c), shapes checked by the
    # caller.  BLAS threads itself: no prange.
    cdef int m = c.shape[0], n = c.shape[1], k = a.shape[0] if trans_a else a.shape[1]
    cdef const floating* pa = NULL
    cdef const floating* pb = NULL
    cdef int i, j
    if m == 0 or n == 0:
        return
    if k > 0:  # else gemm never reads a and b (and a zero-length operand has no element 0)
        pa = &a[0, 0]
        pb = &b[0, 0]
    with nogil:
        if bias is not None:
            for i in range(m):
                for j in range(n):
                    c[i, j] = bias[j]
        gemm(trans_a, trans_b, m, n, k, 1, pa, <int>a.shape[1], pb, <int>b.shape[1],
             <floating>(0 if bias is None else 1), &c[0, 0], n)


cdef inline bint _ready(object x, object dtype):
    """x is already what the BLAS call reads: a C-contiguous 2-D ndarray of exactly `dtype`."""
    return type(x) is np.ndarray and x.dtype is dtype and x.ndim == 2 and x.flags.c_contiguous


def _operand(x, bint trans, str fn, str name, dtype=None):
    """x as a C-contiguous float matrix and its trans flag; a Fortran-ordered float matrix is
    read as its (C-ordered) transpose with the flag flipped instead of being copied."""
    x = np.asarray(x)
    if x.ndim == 2 and x.dtype.kind == "f" and x.flags.f_contiguous and not x.flags.c_contiguous:
        x, trans = x.T, not trans
    return float_array(x, fn, name, 2, dtype), trans


cdef object _product(str fn, object a, object b, bint trans_a, bint trans_b, tuple names, object bias):
    """op(a) @ op(b) (+ bias, fused into the gemm)."""
    cdef object dtype = a.dtype if type(a) is np.ndarray else None
    cdef bint ta = trans_a, tb = trans_b
    cdef object given_a = a, given_b = b  # for messages
    # The layers' arrays are already C-ordered float32: they skip the conversions, whose ~5 us per call
    # are most of a single-sample product.
    if not ((dtype is _F32 or dtype is _F64) and _ready(a, dtype) and _ready(b, dtype)
            and (bias is None or type(bias) is np.ndarray and bias.dtype is dtype and bias.ndim == 1
                 and bias.flags.c_contiguous)):
        a, ta = _operand(a, trans_a, fn, names[0])
        b, tb = _operand(b, trans_b, fn, names[1], a.dtype)
        dtype = a.dtype
        if bias is not None:
            bias = float_array(bias, fn, "bias", 1, dtype)
    cdef Py_ssize_t m = a.shape[1] if ta else a.shape[0], k = a.shape[0] if ta else a.shape[1]
    cdef Py_ssize_t kb = b.shape[1] if tb else b.shape[0], n = b.shape[0] if tb else b.shape[1]
    if k != kb:
        raise ValueError(f"{fn}: inner dimensions differ: {names[0]} {np.shape(given_a)}{' transposed' * trans_a} "
                         f"@ {names[1]} {np.shape(given_b)}{' transposed' * trans_b}")
    if m >= 2**31 or n >= 2**31 or k >= 2**31:
        raise ValueError(f"{fn}: {names[0]} {np.shape(given_a)} @ {names[1]} {np.shape(given_b)} "
                         f"exceeds BLAS's int32 sizes")
    if bias is not None and bias.shape[0] != n:
        raise ValueError(f"{fn}: bias shape {bias.shape} does not match {names[1]} shape {np.shape(given_b)}")
    c = np.empty((m, n), dtype)
    if dtype is _F32:
        _gemm_typed[float](ta, tb, a, b, c, bias)
    else:
        _gemm_typed[double](ta, tb, a, b, c, bias)
    return c


def matmul(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for 2-D arrays, op = transpose when the flag is set (BLAS gemm)."""
    return _product("matmul", a, b, trans_a, trans_b, ("a", "b"), None)


def dense_forward(x, kernel, bias=None):
    """y = x @ kernel + bias; x (n, in), kernel (in, out), bias (out,) or None."""
    return _product("dense_forward", x, kernel, False, False, ("x", "kernel"), bias)


def dense_backward(x, kernel, dy, need_dx=True):
    """Gradients of dense_forward -> (dx = dy @ kernel.T or None, dkernel = x.T @ dy, dbias = dy.sum(0))."""
    fn = "dense_backward"
    x = float_array(x, fn, "x", 2)
    kernel = float_array(kernel, fn, "kernel", 2, x.dtype)
    dy = float_array(dy, fn, "dy", 2, x.dtype)
    if x.shape[1] != kernel.shape[0] or dy.shape != (x.shape[0], kernel.shape[1]):
        raise ValueError(f"{fn}: expected x (n, in), kernel (in, out), dy (n, out), "
                         f"got x {x.shape}, kernel {kernel.shape}, dy {dy.shape}")
    dx = _product(fn, dy, kernel, False, True, ("dy", "kernel"), None) if need_dx else None
    return dx, _product(fn, x, dy, True, False, ("x", "dy"), None), dy.sum(axis=0)
