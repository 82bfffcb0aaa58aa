"""2-D convolution kernels, NHWC (see csrc/API.md, section conv).

im2col + one BLAS gemm per chunk.  Three cores, each written once and shared Chainer-style:
  _forward          conv2d_forward, conv2d_transpose_backward_input
  _backward_input   conv2d_backward_input, conv2d_transpose_forward
  _backward_kernel  conv2d_backward_kernel, conv2d_transpose_backward_kernel (x and dy swapped)
Every core sees a plain conv2d geometry: input (n, h, w, c), output (n, oh, ow, co), kernel (kh*kw*c, co).
A transposed convolution is the input gradient of the conv2d whose input is the transpose's output, so
its kernel (kh, kw, cout, cin) already is that conv2d's kernel.

float32 calls whose shapes it covers go to the direct kernels of csrc/conv_direct.h instead (implicit GEMM
straight from the input image through an offset table, AVX2/FMA chosen at run time, one OpenMP region per
call, no BLAS): conv2d forward and kernel gradient at any stride and padding, and the stride-1 input
gradient (= the forward of the zero-padded dy with the flipped, transposed kernel), whenever cout % 8 == 0,
or cout < 8 with cin % 8 == 0.  Everything else (float64, other channel counts, strided input gradients)
takes the im2col + BLAS path below.

Chunks are ranges of output *units*: one unit is one output row (image, oy), i.e. ow rows of the column
matrix.  A chunk holds as many units as fit a few MB of column buffer, so gemm stays big, memory stays
bounded even for one huge image, and im2col has work for every thread even at batch 1.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset
import operator

import numpy as np

from _blas cimport gemm
from _openmp_helpers cimport parallel_threads
from _kernel_common cimport threads_for, checked_padding, int_pair
from conv_direct cimport MG_CONV_OK, MG_CONV_UNSUPPORTED, MG_CONV_NOMEM, mg_geom, mg_conv_fwd, mg_conv_dw
from minigraph.kernels import shapes

__all__ = [
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_kernel",
    "conv2d_transpose_forward", "conv2d_transpose_backward_input", "conv2d_transpose_backward_kernel",
]

cdef Py_ssize_t INT_MAX = 2147483647
# Column buffer budget per chunk: big enough for efficient gemms, small enough to stay in L3.
cdef Py_ssize_t _chunk_bytes = 4 << 20


cdef bint _direct_enabled = True
cdef bint _wide_enabled = True
cdef bint _winograd_enabled = True


cdef struct Geom:
    Py_ssize_t n, h, w, c, oh, ow, co, kh, kw, sh, sw, ph, pw
    Py_ssize_t kdim     # kh * kw * c: length of one column-matrix row
    bint direct         # 1x1, stride 1, no padding: the input already is the column matrix


# ----------------------------------------------------------------------------------------- nogil cores

cdef void _im2col(const floating* x, floating* col, const Geom* g,
                  Py_ssize_t u0, Py_ssize_t u1) noexcept nogil:
    """col[(u - u0) * ow + ox, (ky, kx, ci)] = x[img, oy*sh - ph + ky, ox*sw - pw + kx, ci]; padding reads 0."""
    cdef Py_ssize_t u, img, oy, ox, ky, iy, base, kx0, kx1, j, run
    cdef Py_ssize_t c = g.c, kwc = g.kw * g.c
    cdef const floating* src
    cdef floating* dst
    for u in prange(u0, u1, schedule='static', num_threads=parallel_threads(u1 - u0)):
        img = u // g.oh
        oy = u % g.oh
        for ox in range(g.ow):
            base = ox * g.sw - g.pw
            kx0 = -base if base < 0 else 0          # valid kernel columns [kx0, kx1)
            kx1 = g.w - base if g.w - base < g.kw else g.kw
            if kx1 < kx0:
                kx1 = kx0
            for ky in range(g.kh):
                iy = oy * g.sh - g.ph + ky
                dst = col + ((u - u0) * g.ow + ox) * g.kdim + ky * kwc
                if iy < 0 or iy >= g.h or kx1 == kx0:
                    memset(dst, 0, kwc * sizeof(floating))
                    continue
                if kx0 > 0:
                    memset(dst, 0, kx0 * c * sizeof(floating))
                if kx1 < g.kw:
                    memset(dst + kx1 * c, 0, (g.kw - kx1) * c * sizeof(floating))
                src = x + ((img * g.h + iy) * g.w + base + kx0) * c
                dst = dst + kx0 * c
                run = (kx1 - kx0) * c               # kernel columns kx0..kx1 are contiguous in x
                for j in range(run):
                    dst[j] = src[j]


cdef void _col2im(const floating* col, floating* x, const Geom* g,
                  Py_ssize_t u0, Py_ssize_t u1) noexcept nogil:
    """x += the adjoint of _im2col for units u0..u1.

    Gather form: each thread owns whole input rows (image, iy) and pulls the column rows that touch them,
    so overlapping windows never race.
    """
    cdef Py_ssize_t v, v0, v1, img, iy, ky, t, oy, u, ox, base, kx0, kx1, j, run, last
    cdef Py_ssize_t c = g.c
    cdef const floating* src
    cdef floating* dst
    # input rows this chunk can touch: from the first unit's window top to the last unit's window bottom
    v0 = (u0 // g.oh) * g.h + max((u0 % g.oh) * g.sh - g.ph, 0)
    last = ((u1 - 1) % g.oh) * g.sh - g.ph + g.kh
    v1 = ((u1 - 1) // g.oh) * g.h + min(last, g.h)
    if v1 <= v0:
        return
    for v in prange(v0, v1, schedule='static', num_threads=parallel_threads(v1 - v0)):
        img = v // g.h
        iy = v % g.h
        for ky in range(g.kh):
            t = iy + g.ph - ky
            if t < 0:
                break
            if t % g.sh != 0:
                continue
            oy = t // g.sh
            u = img * g.oh + oy
            if oy >= g.oh or u < u0 or u >= u1:
                continue
            for ox in range(g.ow):
                base = ox * g.sw - g.pw
                kx0 = -base if base < 0 else 0
                kx1 = g.w - base if g.w - base < g.kw else g.kw
                if kx1 <= kx0:
                    continue
                src = col + ((u - u0) * g.ow + ox) * g.kdim + (ky * g.kw + kx0) * c
                dst = x + (v * g.w + base + kx0) * c
                run = (kx1 - kx0) * c
                for j in range(run):
                    dst[j] += src[j]


cdef void _forward(const floating* x, const floating* w, floating* y, floating* col,
                   const Geom* g, Py_ssize_t chunk) noexcept nogil:
    """y += conv2d(x, w)."""
    cdef Py_ssize_t u0 = 0, u1, total = g.n * g.oh
    cdef const floating* a
    while u0 < total:
        u1 = min(u0 + chunk, total)
        if g.direct:
            a = x + u0 * g.ow * g.kdim
        else:
            _im2col(x, col, g, u0, u1)
            a = col
        gemm(False, False, <int>((u1 - u0) * g.ow), <int>g.co, <int>g.kdim, <floating>1, a, <int>g.kdim,
             w, <int>g.co, <floating>1, y + u0 * g.ow * g.co, <int>g.co)
        u0 = u1


cdef void _backward_input(const floating* dy, const floating* w, floating* dx, floating* col,
                          const Geom* g, Py_ssize_t chunk) noexcept nogil:
    """dx += the input gradient of conv2d for output gradient dy."""
    cdef Py_ssize_t u0 = 0, u1, total = g.n * g.oh
    while u0 < total:
        u1 = min(u0 + chunk, total)
        if g.direct:
            gemm(False, True, <int>((u1 - u0) * g.ow), <int>g.kdim, <int>g.co, <floating>1,
                 dy + u0 * g.ow * g.co, <int>g.co, w, <int>g.co, <floating>1, dx + u0 * g.ow * g.kdim, <int>g.kdim)
        else:
            gemm(False, True, <int>((u1 - u0) * g.ow), <int>g.kdim, <int>g.co, <floating>1,
                 dy + u0 * g.ow * g.co, <int>g.co, w, <int>g.co, <floating>0, col, <int>g.kdim)
            _col2im(col, dx, g, u0, u1)
        u0 = u1


cdef void _backward_kernel(const floating* x, const floating* dy, floating* dw, floating* col,
                           const Geom* g, Py_ssize_t chunk) noexcept nogil:
    """dw += col(x)^T @ dy, the kernel gradient of conv2d."""
    cdef Py_ssize_t u0 = 0, u1, total = g.n * g.oh
    cdef const floating* a
    while u0 < total:
        u1 = min(u0 + chunk, total)
        if g.direct:
            a = x + u0 * g.ow * g.kdim
        else:
            _im2col(x, col, g, u0, u1)
            a = col
        gemm(True, False, <int>g.kdim, <int>g.co, <int>((u1 - u0) * g.ow), <floating>1, a, <int>g.kdim,
             dy + u0 * g.ow * g.co, <int>g.co, <floating>1, dw, <int>g.co)
        u0 = u1


def _core(int op, const floating[::1] a, const floating[::1] b, floating[::1] out, tuple geom):
    """Run core `op` (0 forward, 1 backward_input, 2 backward_kernel) on flat C-ordered non-empty arrays."""
    cdef Geom g
    g.n, g.h, g.w, g.c, g.oh, g.ow, g.co, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw = geom
    g.kdim = g.kh * g.kw * g.c
    g.direct = g.kh == 1 and g.kw == 1 and g.sh == 1 and g.sw == 1 and g.ph == 0 and g.pw == 0
    # the flat sizes the cores will touch: a cheap last line of defence against out-of-bounds access
    sizes = {0: (g.n * g.h * g.w * g.c, g.kdim * g.co, g.n * g.oh * g.ow * g.co),
             1: (g.n * g.oh * g.ow * g.co, g.kdim * g.co, g.n * g.h * g.w * g.c),
             2: (g.n * g.h * g.w * g.c, g.n * g.oh * g.ow * g.co, g.kdim * g.co)}[op]
    if sizes != (a.shape[0], b.shape[0], out.shape[0]) or min(sizes) == 0:
        raise ValueError(f"conv core {op}: array sizes {(a.shape[0], b.shape[0], out.shape[0])} "
                         f"do not match geometry {geom}")
    if g.kdim > INT_MAX or g.co > INT_MAX or g.ow > INT_MAX // 2:
        raise ValueError(f"conv: geometry {geom} too large for BLAS int dimensions")

    # units per chunk, then evened out so the last chunk is not a runt
    cdef Py_ssize_t total = g.n * g.oh
    cdef Py_ssize_t unit_bytes = g.ow * g.kdim * <Py_ssize_t>sizeof(floating)
    cdef Py_ssize_t chunk = total if g.direct else _chunk_bytes // unit_bytes
    chunk = max(1, min(chunk, total, (INT_MAX // 2) // g.ow))
    chunk = -(-total // (-(-total // chunk)))

    cdef floating[::1] colbuf
    cdef floating* col = NULL
    if not g.direct:
        colbuf = np.empty(chunk * g.ow * g.kdim, np.float32 if floating is float else np.float64)
        col = &colbuf[0]
    with nogil:
        if op == 0:
            _forward(&a[0], &b[0], &out[0], col, &g, chunk)
        elif op == 1:
            _backward_input(&a[0], &b[0], &out[0], col, &g, chunk)
        else:
            _backward_kernel(&a[0], &b[0], &out[0], col, &g, chunk)


def _set_chunk_bytes(Py_ssize_t nbytes):
    """Set the column-buffer budget per chunk (tests use tiny chunks); returns the previous value."""
    global _chunk_bytes
    old = _chunk_bytes
    _chunk_bytes = max(nbytes, 1)
    return old


# ---------------------------------------------------------------------------- validation and geometry

def _array(fn, name, a, ndim):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{fn}: {name} must have a numeric dtype, got {a.dtype} with shape {a.shape}")
    if a.ndim != ndim:
        raise ValueError(f"{fn}: {name} must be {ndim}-D, got shape {a.shape}")
    return a


def _float_type(a):
    """float64 for float64 input, float32 for every other numeric dtype (API.md)."""
    return np.float64 if a.dtype == np.float64 else np.float32


def _conv_geometry(fn, in_hw, k_hw, strides, padding, what, allow_empty=False):
    """(oh, ow, ph, pw) of a conv2d with input in_hw; `what` describes the arrays for error messages.
    allow_empty: an input smaller than the kernel under 'valid' gives an empty output instead of an error
    (conv2d_transpose_backward_input: the transpose of an empty image has kh - 1 rows)."""
    if min(k_hw) < 1:
        raise ValueError(f"{fn}: kernel size must be positive, got {what}")
    if padding == "valid" and not allow_empty and (in_hw[0] < k_hw[0] or in_hw[1] < k_hw[1]):
        raise ValueError(f"{fn}: kernel {tuple(k_hw)} is larger than the input {tuple(in_hw)} "
                         f"under 'valid' padding ({what})")
    out = [shapes.conv_output_length(n, k, s, padding) for n, k, s in zip(in_hw, k_hw, strides)]
    pads = [shapes.conv_pad_before(n, k, s, padding) for n, k, s in zip(in_hw, k_hw, strides)]
    return out[0], out[1], pads[0], pads[1]


def _transpose_geometry(fn, in_hw, k_hw, strides, padding, output_padding, what):
    """(oh, ow, ph, pw): output size of a conv2d_transpose and the padding of the conv2d it is the
    input gradient of (TF's rule applied to that conv2d, whose input is the transpose's output)."""
    if min(k_hw) < 1:
        raise ValueError(f"{fn}: kernel size must be positive, got {what}")
    ops = (None, None)
    if output_padding is not None:
        ops = int_pair(fn, "output_padding", output_padding, 0)
        if ops[0] >= strides[0] or ops[1] >= strides[1]:
            raise ValueError(f"{fn}: output_padding {ops} must be smaller than strides {tuple(strides)}")
    out = [shapes.deconv_output_length(n, k, s, padding, op)
           for n, k, s, op in zip(in_hw, k_hw, strides, ops)]
    if min(out) < 0 or any(shapes.conv_output_length(o, k, s, padding) != n
                           for o, n, k, s in zip(out, in_hw, k_hw, strides)):
        raise ValueError(f"{fn}: output size {tuple(out)} (output_padding {output_padding!r}) is not mapped back "
                         f"to the input {tuple(in_hw)} by a conv2d with padding {padding!r} ({what})")
    pads = [shapes.conv_pad_before(o, k, s, padding) for o, k, s in zip(out, k_hw, strides)]
    return out[0], out[1], pads[0], pads[1]


def _check_channels(fn, label, name, a, kernel, axis):
    """a's channels (last axis) against kernel.shape[axis]."""
    if a.shape[3] != kernel.shape[axis]:
        raise ValueError(f"{fn}: {label} {a.shape[3]} of {name} {a.shape} do not match kernel {kernel.shape}")


def _check_batch(fn, x, dy):
    if x.shape[0] != dy.shape[0]:
        raise ValueError(f"{fn}: batch size of x {x.shape} does not match dy {dy.shape}")


def _check_dy(fn, dy, expected, what):
    if tuple(dy.shape) != tuple(expected):
        raise ValueError(f"{fn}: dy {dy.shape} does not match the expected shape {tuple(expected)} ({what})")


def _set_direct(bint enabled):
    """Turn the direct float32 kernels on or off (tests compare both paths); returns the previous value."""
    global _direct_enabled
    old = _direct_enabled
    _direct_enabled = enabled
    return old


def _set_winograd(bint enabled):
    """Allow or forbid Winograd's F(2x2, 3x3) for the float32 3x3 stride-1 forward, input gradient and
    kernel gradient (tests compare it with the direct kernels); returns the previous value."""
    global _winograd_enabled
    old = _winograd_enabled
    _winograd_enabled = enabled
    return old


def _set_wide(bint enabled):
    """Allow or forbid the direct kernels' 16-lane (AVX-512) tiles, which run where the CPU has them and
    cout % 16 == 0 (tests compare them with the 8-lane tiles); returns the previous value."""
    global _wide_enabled
    old = _wide_enabled
    _wide_enabled = enabled
    return old


cdef int _direct(int op, const float[::1] a, const float[::1] b, float[::1] out, tuple geom,
                 const float[::1] bias, bint relu) except -1:
    """Run op on the direct kernels when they cover it: returns 1 if done, 0 if the caller must fall back."""
    cdef mg_geom g
    cdef int status, nthreads
    cdef const float* bp = &bias[0] if bias is not None else NULL
    n, h, w, c, oh, ow, co, kh, kw, sh, sw, ph, pw = geom
    if op == 1:  # stride-1 input gradient: forward of dy padded by k-1-p, kernel flipped and transposed
        if sh != 1 or sw != 1 or ph > kh - 1 or pw > kw - 1:
            return 0
        geom = (n, oh, ow, co, h, w, c, kh, kw, 1, 1, kh - 1 - ph, kw - 1 - pw)
        b = np.ascontiguousarray(np.asarray(b).reshape(kh, kw, c, co)[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(-1)
        n, h, w, c, oh, ow, co, kh, kw, sh, sw, ph, pw = geom
    g.n, g.h, g.w, g.c, g.oh, g.ow, g.co, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw = geom
    if g.oh < 1 or g.ow < 1 or not (g.co % 8 == 0 or (g.co < 8 and g.c % 8 == 0)):
        return 0
    # sizes the kernels will touch, as in _core: the last line of defence
    sizes = (g.n * g.h * g.w * g.c, g.kh * g.kw * g.c * g.co if op != 2 else g.n * g.oh * g.ow * g.co,
             g.n * g.oh * g.ow * g.co if op != 2 else g.kh * g.kw * g.c * g.co)
    if sizes != (a.shape[0], b.shape[0], out.shape[0]) or (bias is not None and bias.shape[0] != g.co):
        raise ValueError(f"conv direct {op}: array sizes {(a.shape[0], b.shape[0], out.shape[0])} "
                         f"do not match geometry {geom}")
    nthreads = threads_for(g.n * g.oh * g.ow, g.n * g.oh * g.ow * g.kh * g.kw * g.c * g.co // 8)
    with nogil:
        if op == 2:
            status = mg_conv_dw(&a[0], g, &b[0], &out[0], nthreads, _wide_enabled, _winograd_enabled)
        else:
            status = mg_conv_fwd(&a[0], g, &b[0], bp, relu, &out[0], nthreads, _wide_enabled, _winograd_enabled, 1)
    if status == MG_CONV_NOMEM:
        raise MemoryError("conv: out of memory for the direct kernels' scratch")
    return status == MG_CONV_OK


def _run(op, a, b, shape, dtype, geom, bias=None, relu=False):
    """Core op on C-contiguous copies of a and b in dtype, into a new array of `shape` (+ bias, ReLU)."""
    a = np.ascontiguousarray(a, dtype)
    b = np.ascontiguousarray(b, dtype)
    geom = tuple(int(v) for v in geom)
    if a.size and b.size and np.prod(shape) and _direct_enabled and dtype == np.float32:
        out = np.empty(shape, dtype)
        bias_c = None if bias is None else np.ascontiguousarray(bias, dtype)
        if _direct(op, a.reshape(-1), b.reshape(-1), out.reshape(-1), geom, bias_c, relu):
            return out
    out = np.zeros(shape, dtype)
    if bias is not None:
        out[...] = bias
    if a.size and b.size and out.size:
        _core(op, a.reshape(-1), b.reshape(-1), out.reshape(-1), geom)
    if relu:
        np.maximum(out, 0, out=out)
    return out


def _activation(fn, activation):
    """True for 'relu', False for None / 'linear'."""
    if activation is None or activation == "linear":
        return False
    if activation == "relu":
        return True
    raise ValueError(f"{fn}: activation must be None, 'linear' or 'relu', got {activation!r}")


def _bias_checked(fn, bias, cout):
    if bias is not None:
        bias = np.asarray(bias)
        if bias.dtype.kind not in "biuf" or bias.shape != (cout,):
            raise ValueError(f"{fn}: bias must be numeric with shape ({cout},), got {bias.dtype} {bias.shape}")
    return bias


# ------------------------------------------------------------------------------------------ public API

def conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", activation=None):
    """y = act(conv2d(x, kernel) + bias): x (n, h, w, cin), kernel (kh, kw, cin, cout) -> (n, oh, ow, cout).

    activation: None / 'linear', or 'relu' (fused into the kernel's store)."""
    fn = "conv2d_forward"
    relu = _activation(fn, activation)
    x, kernel = _array(fn, "x", x, 4), _array(fn, "kernel", kernel, 4)
    s, padding = int_pair(fn, "strides", strides, 1), checked_padding(padding, fn)
    n, h, w, c = x.shape
    kh, kw, _, co = kernel.shape
    _check_channels(fn, "input channels", "x", x, kernel, 2)
    bias = _bias_checked(fn, bias, co)
    oh, ow, ph, pw = _conv_geometry(fn, (h, w), (kh, kw), s, padding, f"x {x.shape}, kernel {kernel.shape}")
    return _run(0, x, kernel, (n, oh, ow, co), _float_type(x), (n, h, w, c, oh, ow, co, kh, kw, s[0], s[1], ph, pw),
                bias, relu)


def conv2d_backward_input(dy, kernel, input_hw, strides=1, padding="valid"):
    """dx (n, h, w, cin) of conv2d for output gradient dy (n, oh, ow, cout); input_hw = (h, w)."""
    fn = "conv2d_backward_input"
    dy, kernel = _array(fn, "dy", dy, 4), _array(fn, "kernel", kernel, 4)
    s, padding = int_pair(fn, "strides", strides, 1), checked_padding(padding, fn)
    h, w = int_pair(fn, "input_hw", input_hw, 0)
    kh, kw, c, co = kernel.shape
    n = dy.shape[0]
    what = f"input_hw {(h, w)}, kernel {kernel.shape}, strides {s}, padding {padding!r}"
    oh, ow, ph, pw = _conv_geometry(fn, (h, w), (kh, kw), s, padding, what)
    _check_dy(fn, dy, (n, oh, ow, co), what)
    return _run(1, dy, kernel, (n, h, w, c), _float_type(dy), (n, h, w, c, oh, ow, co, kh, kw, s[0], s[1], ph, pw))


def conv2d_backward_kernel(x, dy, kernel_hw, strides=1, padding="valid"):
    """dkernel (kh, kw, cin, cout) of conv2d for input x (n, h, w, cin) and output gradient dy."""
    fn = "conv2d_backward_kernel"
    x, dy = _array(fn, "x", x, 4), _array(fn, "dy", dy, 4)
    s, padding = int_pair(fn, "strides", strides, 1), checked_padding(padding, fn)
    kh, kw = int_pair(fn, "kernel_hw", kernel_hw, 1)
    n, h, w, c = x.shape
    co = dy.shape[3]
    what = f"x {x.shape}, kernel_hw {(kh, kw)}, strides {s}, padding {padding!r}"
    oh, ow, ph, pw = _conv_geometry(fn, (h, w), (kh, kw), s, padding, what)
    _check_dy(fn, dy, (n, oh, ow, co), what)
    return _run(2, x, dy, (kh, kw, c, co), _float_type(x), (n, h, w, c, oh, ow, co, kh, kw, s[0], s[1], ph, pw))


def conv2d_transpose_forward(x, kernel, bias=None, strides=1, padding="valid", output_padding=None,
                             activation=None):
    """y = act(conv2d_transpose(x, kernel) + bias): x (n, h, w, cin), kernel (kh, kw, cout, cin).

    activation: None / 'linear', or 'relu' (fused into the kernel's store)."""
    fn = "conv2d_transpose_forward"
    relu = _activation(fn, activation)
    x, kernel = _array(fn, "x", x, 4), _array(fn, "kernel", kernel, 4)
    s, padding = int_pair(fn, "strides", strides, 1), checked_padding(padding, fn)
    n, h, w, ci = x.shape
    kh, kw, co, _ = kernel.shape
    _check_channels(fn, "input channels", "x", x, kernel, 3)
    bias = _bias_checked(fn, bias, co)
    oh, ow, ph, pw = _transpose_geometry(fn, (h, w), (kh, kw), s, padding, output_padding,
                                         f"x {x.shape}, kernel {kernel.shape}, strides {s}")
    # the input gradient of the conv2d from y (co channels) to x (ci channels)
    return _run(1, x, kernel, (n, oh, ow, co), _float_type(x), (n, oh, ow, co, h, w, ci, kh, kw, s[0], s[1], ph, pw),
                bias, relu)


def conv2d_transpose_backward_input(dy, kernel, strides=1, padding="valid", output_padding=None):
    """dx (n, h, w, cin) of conv2d_transpose for output gradient dy (n, oh, ow, cout)."""
    fn = "conv2d_transpose_backward_input"
    dy, kernel = _array(fn, "dy", dy, 4), _array(fn, "kernel", kernel, 4)
    s, padding = int_pair(fn, "strides", strides, 1), checked_padding(padding, fn)
    n, oh, ow, co = dy.shape
    kh, kw, _, ci = kernel.shape
    _check_channels(fn, "channels", "dy", dy, kernel, 2)
    what = f"dy {dy.shape}, kernel {kernel.shape}, strides {s}, padding {padding!r}"
    h, w, _, _ = _conv_geometry(fn, (oh, ow), (kh, kw), s, padding, what, allow_empty=True)
    eh, ew, ph, pw = _transpose_geometry(fn, (h, w), (kh, kw), s, padding, output_padding, what)
    _check_dy(fn, dy, (n, eh, ew, co), f"output of input {(h, w)}, output_padding {output_padding!r}, {what}")
    return _run(0, dy, kernel, (n, h, w, ci), _float_type(dy), (n, oh, ow, co, h, w, ci, kh, kw, s[0], s[1], ph, pw))


def conv2d_transpose_backward_kernel(x, dy, kernel_hw, strides=1, padding="valid", output_padding=None):
    """dkernel (kh, kw, cout, cin) of conv2d_transpose for input x (n, h, w, cin) and output gradient dy."""
    fn = "conv2d_transpose_backward_kernel"
    x, dy = _array(fn, "x", x, 4), _array(fn, "dy", dy, 4)
    s, padding = int_pair(fn, "strides", strides, 1), checked_padding(padding, fn)
    kh, kw = int_pair(fn, "kernel_hw", kernel_hw, 1)
    n, h, w, ci = x.shape
    co = dy.shape[3]
    what = f"x {x.shape}, kernel_hw {(kh, kw)}, strides {s}, padding {padding!r}"
    oh, ow, ph, pw = _transpose_geometry(fn, (h, w), (kh, kw), s, padding, output_padding, what)
    _check_dy(fn, dy, (n, oh, ow, co), f"output_padding {output_padding!r}, {what}")
    # conv2d_backward_kernel of the conv2d from dy's space (co channels) to x's (ci channels)
    return _run(2, dy, x, (kh, kw, co, ci), _float_type(x), (n, oh, ow, co, h, w, ci, kh, kw, s[0], s[1], ph, pw))
