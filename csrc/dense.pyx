"""Matrix products and dense layers through the shared BLAS gemm (see csrc/API.md)."""
from cython cimport floating

import numpy as np

from _blas cimport gemm
from _kernel_common cimport float_array

__all__ = ["matmul", "dense_forward", "dense_backward"]


def _gemm_kernel(bint trans_a, bint trans_b, const floating[:, ::1] a, const floating[:, ::1] b,
                 floating[:, ::1] c, double beta):
    # c = op(a) @ op(b) + beta * c, shapes checked by the caller.  BLAS threads itself: no prange.
    cdef int m = c.shape[0], n = c.shape[1], k = a.shape[0] if trans_a else a.shape[1]
    cdef const floating* pa = NULL
    cdef const floating* pb = NULL
    if m == 0 or n == 0:
        return
    if k > 0:  # else gemm never reads a and b (and a zero-length operand has no element 0)
        pa = &a[0, 0]
        pb = &b[0, 0]
    with nogil:
        gemm(trans_a, trans_b, m, n, k, 1, pa, <int>a.shape[1], pb, <int>b.shape[1],
             <floating>beta, &c[0, 0], n)


def _operand(x, bint trans, str fn, str name, dtype=None):
    """x as a C-contiguous float matrix and its trans flag; a Fortran-ordered float matrix is
    read as its (C-ordered) transpose with the flag flipped instead of being copied."""
    x = np.asarray(x)
    if x.ndim == 2 and x.dtype.kind == "f" and x.flags.f_contiguous and not x.flags.c_contiguous:
        x, trans = x.T, not trans
    return float_array(x, fn, name, 2, dtype), trans


def _product(str fn, a, b, bint trans_a, bint trans_b, names=("a", "b"), bias=None):
    """op(a) @ op(b) (+ bias, fused into the gemm as beta = 1 over a bias-filled output)."""
    shape_a, shape_b = np.shape(a), np.shape(b)
    a, ta = _operand(a, trans_a, fn, names[0])
    b, tb = _operand(b, trans_b, fn, names[1], a.dtype)
    m, k = a.shape[::-1] if ta else a.shape
    kb, n = b.shape[::-1] if tb else b.shape
    if k != kb:
        raise ValueError(f"{fn}: inner dimensions differ: {names[0]} {shape_a}{' transposed' * trans_a} "
                         f"@ {names[1]} {shape_b}{' transposed' * trans_b}")
    if max(m, n, k) >= 2**31:
        raise ValueError(f"{fn}: {names[0]} {shape_a} @ {names[1]} {shape_b} exceeds BLAS's int32 sizes")
    c = np.empty((m, n), a.dtype)
    if bias is None:
        beta = 0.0
    else:
        bias = float_array(bias, fn, "bias", 1, a.dtype)
        if bias.shape[0] != n:
            raise ValueError(f"{fn}: bias shape {bias.shape} does not match {names[1]} shape {shape_b}")
        c[...] = bias
        beta = 1.0
    _gemm_kernel(ta, tb, a, b, c, beta)
    return c


def matmul(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for 2-D arrays, op = transpose when the flag is set (BLAS gemm)."""
    return _product("matmul", a, b, trans_a, trans_b)


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
    dx = _product(fn, dy, kernel, False, True, ("dy", "kernel")) if need_dx else None
    return dx, _product(fn, x, dy, True, False, ("x", "dy")), dy.sum(axis=0)
