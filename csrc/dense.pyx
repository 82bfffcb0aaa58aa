"""Matrix products and dense layers (see csrc/API.md).

A dense layer is a 1x1 convolution of one image whose pixels are the batch rows, so its float32 forward
product y = x @ kernel (+ bias, ReLU) runs on the conv kernels' direct tiles (csrc/conv_direct.h: AVX-512 or
AVX2 at run time, one OpenMP region).  The shared BLAS gemm takes the rest (_direct_covers): the gradients'
products (dkernel = x.T @ dy and dx = dy @ kernel.T, on which BLAS was as fast or faster, dx without a
transposed copy of the kernel), float64, products under 2**16 multiply-adds (a single-sample predict is a
gemv), output widths the tiles do not cover, kernels over 1 MiB, and products with fewer than 24 rows.
"""
from cython cimport floating
from libc.stdlib cimport free, malloc

import numpy as np
cimport numpy as cnp

cnp.import_array()

from _blas cimport gemm_bias_relu
from _kernel_common cimport float_array, threads_for
from softmax_rows cimport mg_softmax_rows_f32, mg_softmax_rows_f64
from conv_direct cimport MG_CONV_OK, MG_CONV_NOMEM, MG_CONV_UNSUPPORTED, mg_geom, mg_conv_fwd

__all__ = ["matmul", "dense_forward", "dense_backward", "dense_chain_forward"]

cdef object _F32 = np.dtype(np.float32)
cdef object _F64 = np.dtype(np.float64)


cdef bint _direct_enabled = True


def _set_direct(bint enabled):
    """Turn the direct float32 products on or off (tests compare both paths); returns the previous value."""
    global _direct_enabled
    old = _direct_enabled
    _direct_enabled = enabled
    return old


cdef bint _direct_covers(Py_ssize_t rows, Py_ssize_t cin, Py_ssize_t cout) noexcept nogil:
    """Whether the direct kernels take the forward product (rows, cin) @ (cin, cout) and beat BLAS on it: at
    least 2**16 multiply-adds (below, a gemv or a mostly empty tile), output columns the tiles cover, a kernel
    that stays in L2 (every tile of rows streams all of it; BLAS blocks for cache, the tiles do not), and at
    least two tiles of rows."""
    if not _direct_enabled or rows * cin * cout < (1 << 16):
        return False
    if not (cout % 8 == 0 or (cout < 8 and cin % 8 == 0)):
        return False
    return cin * cout * 4 <= (1 << 20) and rows >= 24


cdef int _direct_forward(const float* a, Py_ssize_t rows, Py_ssize_t cin, const float* w, Py_ssize_t cout,
                         const float* bias, bint relu, float* out) noexcept nogil:
    """out (rows, cout) = act(a (rows, cin) @ w (cin, cout) + bias) on the direct conv kernels (sizes
    accepted by _direct_covers); returns their MG_CONV_* status (UNSUPPORTED: they declined)."""
    cdef mg_geom g
    # one image of `rows` pixels, each a 1 x 1 window of `cin` channels
    g.n, g.h, g.w, g.c, g.oh, g.ow, g.co = 1, rows, 1, cin, rows, 1, cout
    g.kh, g.kw, g.sh, g.sw, g.ph, g.pw = 1, 1, 1, 1, 0, 0
    return mg_conv_fwd(a, g, w, bias, relu, out, threads_for(rows, rows * cin * cout // 8), 1, 0, 0)


cdef object _direct_product(object a, object b, object bias, bint relu):
    """a (rows, in) @ b (in, out) (+ bias, ReLU) on the direct conv kernels (sizes accepted by
    _direct_covers), or None if they decline it.  a and b are C-contiguous float32 matrices whose shapes the
    caller checked."""
    cdef int status
    cdef Py_ssize_t rows = a.shape[0], cin = a.shape[1], cout = b.shape[1]
    cdef const float[:, ::1] av = a
    cdef const float[:, ::1] bv = b
    cdef const float[::1] biasv
    cdef const float* bias_ptr = NULL
    cdef float[:, ::1] outv
    out = np.empty((rows, cout), np.float32)
    outv = out
    if bias is not None:
        biasv = bias
        bias_ptr = &biasv[0]
    with nogil:
        status = _direct_forward(&av[0, 0], rows, cin, &bv[0, 0], cout, bias_ptr, relu, &outv[0, 0])
    if status == MG_CONV_NOMEM:
        raise MemoryError("dense: out of memory for the direct kernels' scratch")
    return out if status == MG_CONV_OK else None


cdef void _gemm_typed(bint trans_a, bint trans_b, const floating[:, ::1] a, const floating[:, ::1] b,
                      floating[:, ::1] c, const floating[::1] bias, bint relu) noexcept:
    # c = act(op(a) @ op(b) + bias) on typed views, shapes checked by the caller
    cdef int m = c.shape[0], n = c.shape[1], k = a.shape[0] if trans_a else a.shape[1]
    cdef const floating* pa = NULL
    cdef const floating* pb = NULL
    cdef const floating* pbias = NULL
    if m == 0 or n == 0:
        return
    if k > 0:  # else gemm never reads a and b (and a zero-length operand has no element 0)
        pa = &a[0, 0]
        pb = &b[0, 0]
    if bias is not None:
        pbias = &bias[0]
    with nogil:
        gemm_bias_relu(trans_a, trans_b, m, n, k, pa, <int>a.shape[1], pb, <int>b.shape[1], &c[0, 0], n, pbias, relu)


cdef int _forward_rows(const floating* a, Py_ssize_t m, Py_ssize_t k, const floating* w, Py_ssize_t n,
                       const floating* bias, bint relu, floating* c) noexcept nogil:
    """c (m, n) = act(a (m, k) @ w (k, n) + bias) by the path dense_forward takes for these sizes (the same
    bits); returns MG_CONV_OK or MG_CONV_NOMEM."""
    cdef int status
    if floating is float:
        if m and n and k and _direct_covers(m, k, n):
            status = _direct_forward(a, m, k, w, n, bias, relu, c)
            if status != MG_CONV_UNSUPPORTED:
                return status
    gemm_bias_relu(False, False, <int>m, <int>n, <int>k, a, <int>k, w, <int>n, c, <int>n, bias, relu)
    return MG_CONV_OK


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


cdef object _product(str fn, object a, object b, bint trans_a, bint trans_b, tuple names, object bias,
                     bint relu=False, bint copy_transposed_b=False):
    """op(a) @ op(b) (+ bias, fused into the gemm), then ReLU when `relu`.  a @ b may run on the direct
    tiles; so may a @ b.T with `copy_transposed_b` (dense_forward of a Fortran-ordered kernel: the tiles
    on its C-ordered copy, the bits dense_chain_forward gives), where BLAS would otherwise read b transposed
    faster than the copy costs."""
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
    if dtype is _F32 and m and n and k and not ta and (copy_transposed_b or not tb) and _direct_covers(m, k, n):
        c = _direct_product(a, np.ascontiguousarray(b.T) if tb else b, bias, relu)
        if c is not None:
            return c
    c = np.empty((m, n), dtype)
    if dtype is _F32:
        _gemm_typed[float](ta, tb, a, b, c, bias, relu)
    else:
        _gemm_typed[double](ta, tb, a, b, c, bias, relu)
    return c


def matmul(a, b, trans_a=False, trans_b=False):
    """op(a) @ op(b) for 2-D arrays, op = transpose when the flag is set (direct kernels or BLAS gemm)."""
    return _product("matmul", a, b, trans_a, trans_b, ("a", "b"), None)


def dense_forward(x, kernel, bias=None, activation=None):
    """y = act(x @ kernel + bias); x (n, in), kernel (in, out), bias (out,) or None; activation None /
    'linear' or 'relu' (fused into the direct kernels' store; NaN stays NaN, like np.maximum)."""
    if activation is not None and activation not in ("linear", "relu"):
        raise ValueError(f"dense_forward: activation must be None, 'linear' or 'relu', got {activation!r}")
    return _product("dense_forward", x, kernel, False, False, ("x", "kernel"), bias, activation == "relu", True)


def dense_backward(x, kernel, dy, need_dx=True, need_dbias=True):
    """Gradients of dense_forward -> (dx = dy @ kernel.T or None, dkernel = x.T @ dy, dbias = dy.sum(0)
    or None)."""
    fn = "dense_backward"
    x = float_array(x, fn, "x", 2)
    kernel = float_array(kernel, fn, "kernel", 2, x.dtype)
    dy = float_array(dy, fn, "dy", 2, x.dtype)
    if x.shape[1] != kernel.shape[0] or dy.shape != (x.shape[0], kernel.shape[1]):
        raise ValueError(f"{fn}: expected x (n, in), kernel (in, out), dy (n, out), "
                         f"got x {x.shape}, kernel {kernel.shape}, dy {dy.shape}")
    dx = _product(fn, dy, kernel, False, True, ("dy", "kernel"), None) if need_dx else None
    return dx, _product(fn, x, dy, True, False, ("x", "dy"), None), dy.sum(axis=0) if need_dbias else None


def dense_chain_forward(x, layers, bint softmax=False):
    """Dense layers in turn, in one call: `layers` is a sequence of (kernel, bias or None, relu) triples and
    each step is y = act(y @ kernel + bias) computed exactly as dense_forward computes it (the same
    conversions, paths and bits), with the intermediates in scratch memory and the GIL released throughout.
    x (n, in); kernel i (in_i, out_i) with in_1 = in and in_{i+1} = out_i.  softmax: then softmax over
    the last layer's outputs in place, the same bits as softmax.softmax_forward."""
    fn = "dense_chain_forward"
    cdef object dtype = x.dtype if type(x) is np.ndarray else None
    if not ((dtype is _F32 or dtype is _F64) and _ready(x, dtype)):
        x = float_array(x, fn, "x", 2)
        dtype = x.dtype
    cdef Py_ssize_t count = len(layers), m = x.shape[0], width = x.shape[1], widest = 0, i
    if count == 0:
        raise ValueError(f"{fn}: layers is empty")
    if m >= 2**31 or width >= 2**31:
        raise ValueError(f"{fn}: x {x.shape} exceeds BLAS's int32 sizes")
    kept = []  # the operands as converted: alive until the products are done
    cdef Py_ssize_t* dims = <Py_ssize_t*>malloc((count + 1) * sizeof(Py_ssize_t))
    cdef void** kernels = <void**>malloc(count * sizeof(void*))
    cdef void** biases = <void**>malloc(count * sizeof(void*))
    cdef bint* relus = <bint*>malloc(count * sizeof(bint))
    cdef void* scratch = NULL
    cdef void* src
    cdef void* dst
    cdef void* dst_last
    cdef Py_ssize_t n, itemsize = dtype.itemsize
    cdef int status = MG_CONV_OK
    cdef bint double_precision = dtype is _F64
    try:
        if dims == NULL or kernels == NULL or biases == NULL or relus == NULL:
            raise MemoryError(f"{fn}: out of memory")
        dims[0] = width
        for i, layer in enumerate(layers):
            try:
                kernel, bias, relu = layer
            except (TypeError, ValueError):
                raise ValueError(f"{fn}: layer {i} must be a (kernel, bias, relu) triple, got {layer!r}") from None
            if not _ready(kernel, dtype):
                kernel = float_array(kernel, fn, "kernel", 2, dtype)
            if kernel.shape[0] != width:
                raise ValueError(f"{fn}: inner dimensions differ at layer {i}: its input ({m}, {width}) @ "
                                 f"kernel {kernel.shape}")
            n = kernel.shape[1]
            if n >= 2**31:
                raise ValueError(f"{fn}: kernel {kernel.shape} of layer {i} exceeds BLAS's int32 sizes")
            if bias is not None:
                if not (type(bias) is np.ndarray and bias.dtype is dtype and bias.ndim == 1
                        and bias.flags.c_contiguous):
                    bias = float_array(bias, fn, "bias", 1, dtype)
                if bias.shape[0] != n:
                    raise ValueError(f"{fn}: bias shape {bias.shape} of layer {i} does not match kernel shape "
                                     f"{kernel.shape}")
            kept.append((kernel, bias))
            kernels[i] = cnp.PyArray_DATA(<cnp.ndarray>kernel)
            biases[i] = NULL if bias is None else cnp.PyArray_DATA(<cnp.ndarray>bias)
            relus[i] = bool(relu)
            width = n
            dims[i + 1] = n
            if i < count - 1 and n > widest:
                widest = n
        out = np.empty((m, width), dtype)
        if count > 1 and m * widest > 0:
            scratch = malloc(2 * m * widest * itemsize)  # two buffers: each step reads one, writes the other
            if scratch == NULL:
                raise MemoryError(f"{fn}: out of memory for {2 * m * widest} intermediate values")
        src = cnp.PyArray_DATA(<cnp.ndarray>x)
        dst_last = cnp.PyArray_DATA(<cnp.ndarray>out)
        with nogil:
            for i in range(count):
                dst = dst_last if i == count - 1 else <char*>scratch + (i % 2) * m * widest * itemsize
                if double_precision:
                    status = _forward_rows[double](<const double*>src, m, dims[i], <const double*>kernels[i],
                                                   dims[i + 1], <const double*>biases[i], relus[i], <double*>dst)
                else:
                    status = _forward_rows[float](<const float*>src, m, dims[i], <const float*>kernels[i],
                                                  dims[i + 1], <const float*>biases[i], relus[i], <float*>dst)
                if status != MG_CONV_OK:
                    break
                src = dst
            if softmax and status == MG_CONV_OK and width > 0:
                if double_precision:
                    mg_softmax_rows_f64(<const double*>dst_last, <double*>dst_last, m, width)
                else:
                    mg_softmax_rows_f32(<const float*>dst_last, <float*>dst_last, m, width)
        if status == MG_CONV_NOMEM:
            raise MemoryError("dense: out of memory for the direct kernels' scratch")
        return out
    finally:
        free(dims)
        free(kernels)
        free(biases)
        free(relus)
        free(scratch)
