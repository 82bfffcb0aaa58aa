"""Depthwise 2-D convolution, NHWC, Keras' kernel layout (kh, kw, cin, depth_multiplier) (see csrc/API.md).

Output channel c * multiplier + m is input channel c convolved with kernel[:, :, c, m] (Keras' order).  The
loops (csrc/depthwise_impl.h) handle multiplier 1 over any number of channels, vectorised along them; a
larger multiplier runs them on the input with each channel repeated `multiplier` times, so that the
expanded channel c * multiplier + m meets kernel[:, :, c, m] (the input gradient then sums each channel's
copies back).
  forward          one task per output row, its interior pixels in register tiles (+ bias, ReLU); each
                   thread takes runs of consecutive rows, so that the rows a row's window shares with the
                   row before are in its own cache, and on large arrays prefetches a row ahead
  input gradient   stride 1: the forward of dy with the kernel flipped; otherwise a gather per input row
  kernel gradient  the output rows cut into a fixed number of slots, each with its own partial sum, added
                   in slot order: the same bits on any thread count
  both gradients   (depthwise_conv2d_backward, stride 1) each slot interleaves its kernel-gradient rows with
                   the input-gradient rows that read the same rows of dy, so dy is read from memory once;
                   the same bits as the two functions apart
"""
from cython cimport floating
from cython.parallel cimport prange

import numpy as np

from _kernel_common cimport float_array, int_pair, checked_padding, threads_for, empty_aligned
from minigraph.kernels.shapes import conv_output_length, conv_pad_before

__all__ = ["depthwise_conv2d_forward", "depthwise_conv2d_backward_input", "depthwise_conv2d_backward_kernel",
           "depthwise_conv2d_backward"]

cdef extern from "depthwise.h" nogil:
    enum:
        MG_DW_MAX_KH
    ctypedef struct mg_dw_geom:
        Py_ssize_t n, h, w, c, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow
        int wide, prefetch
    int mg_cpu_has_v4()
    void mg_dw_fwd_row_f32(const float* x, const mg_dw_geom* g, const float* w, const float* bias, int relu,
                           float* y, Py_ssize_t r)
    void mg_dw_fwd_row_f64(const double* x, const mg_dw_geom* g, const double* w, const double* bias, int relu,
                           double* y, Py_ssize_t r)
    void mg_dw_bwd_input_row_f32(const float* dy, const mg_dw_geom* g, const float* w, float* dx, Py_ssize_t r)
    void mg_dw_bwd_input_row_f64(const double* dy, const mg_dw_geom* g, const double* w, double* dx,
                                 Py_ssize_t r)
    void mg_dw_dw_rows_f32(const float* x, const float* dy, const mg_dw_geom* g, float* part, Py_ssize_t r0,
                           Py_ssize_t r1)
    void mg_dw_dw_rows_f64(const double* x, const double* dy, const mg_dw_geom* g, double* part, Py_ssize_t r0,
                           Py_ssize_t r1)

# Partial sums of the kernel gradient: at most this many slots (a constant, so that the sum does not depend
# on the thread count), and at least this many output pixels per slot.
cdef Py_ssize_t DW_SLOTS = 16
cdef Py_ssize_t DW_SLOT_PIXELS = 256


# The CPU runs the 16-lane float loops (AVX-512), asked once.
cdef int CPU_WIDE = mg_cpu_has_v4()

# Input and output bytes from which the forward rows prefetch a row ahead: about half a shared L3, where
# they stop staying in cache between calls (bench/RESULTS.md has the sizes measured either side).
cdef Py_ssize_t DW_PREFETCH_BYTES = 16 << 20
PREFETCH_BYTES = DW_PREFETCH_BYTES

# Runs of rows per thread in a forward call: enough for the dynamic schedule to even out a thread that
# the OS holds up, few enough that a run's rows share their window rows in that thread's cache.
cdef Py_ssize_t DW_RUNS_PER_THREAD = 4


cdef mg_dw_geom _geom(tuple geom, Py_ssize_t itemsize):
    cdef mg_dw_geom g
    g.n, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw, g.oh, g.ow = geom
    g.wide = CPU_WIDE and g.c % 16 == 0
    g.prefetch = g.n * g.c * (g.h * g.w + g.oh * g.ow) * itemsize >= DW_PREFETCH_BYTES
    return g


def _forward_kernel(const floating[::1] x, const floating[::1] w, const floating[::1] bias, bint relu,
                    floating[::1] y, tuple geom):
    cdef mg_dw_geom g = _geom(geom, sizeof(floating))
    cdef Py_ssize_t rows = g.n * g.oh, r
    cdef int threads = threads_for(rows, rows * g.ow * g.c * g.kh * g.kw)
    cdef Py_ssize_t run = max(1, rows // (DW_RUNS_PER_THREAD * threads))
    cdef const floating* bp = &bias[0] if bias is not None else NULL
    with nogil:
        for r in prange(rows, num_threads=threads, schedule="dynamic", chunksize=run):
            if floating is float:
                mg_dw_fwd_row_f32(&x[0], &g, &w[0], bp, relu, &y[0], r)
            else:
                mg_dw_fwd_row_f64(&x[0], &g, &w[0], bp, relu, &y[0], r)


def _backward_input_kernel(const floating[::1] dy, const floating[::1] w, floating[::1] dx, tuple geom):
    cdef mg_dw_geom g = _geom(geom, sizeof(floating))
    cdef Py_ssize_t rows = g.n * g.h, r
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows, rows * g.w * g.c * g.kh * g.kw),
                        schedule="dynamic", chunksize=2):
            if floating is float:
                mg_dw_bwd_input_row_f32(&dy[0], &g, &w[0], &dx[0], r)
            else:
                mg_dw_bwd_input_row_f64(&dy[0], &g, &w[0], &dx[0], r)


def _backward_kernel_kernel(const floating[::1] x, const floating[::1] dy, floating[:, ::1] parts, tuple geom):
    """parts[s] = the kernel gradient over slot s's output rows (an even split of the n * oh rows)."""
    cdef mg_dw_geom g = _geom(geom, sizeof(floating))
    cdef Py_ssize_t rows = g.n * g.oh, slots = parts.shape[0], s
    with nogil:
        for s in prange(slots, num_threads=threads_for(slots, rows * g.ow * g.c * g.kh * g.kw),
                        schedule="dynamic"):
            if floating is float:
                mg_dw_dw_rows_f32(&x[0], &dy[0], &g, &parts[s, 0], rows * s // slots, rows * (s + 1) // slots)
            else:
                mg_dw_dw_rows_f64(&x[0], &dy[0], &g, &parts[s, 0], rows * s // slots, rows * (s + 1) // slots)


def _backward_both_kernel(const floating[::1] x, const floating[::1] dy, const floating[::1] flipped,
                          floating[::1] dx, floating[:, ::1] parts, tuple geom, tuple dx_geom):
    """parts[s] as _backward_kernel_kernel, and dx (stride 1: the forward of dy with the flipped kernel, under
    dx_geom), slot s also computing dx's rows in the same share of dx's rows, each after the kernel-gradient
    row that reads the same rows of dy."""
    cdef mg_dw_geom g = _geom(geom, sizeof(floating)), gx = _geom(dx_geom, sizeof(floating))
    cdef Py_ssize_t rows = g.n * g.oh, dx_rows = gx.n * gx.oh, slots = parts.shape[0], s, r, r0, r1, a, a1, due
    with nogil:
        for s in prange(slots, num_threads=threads_for(slots, 2 * rows * g.ow * g.c * g.kh * g.kw),
                        schedule="dynamic"):
            r0 = rows * s // slots
            r1 = rows * (s + 1) // slots
            a = dx_rows * s // slots
            a1 = dx_rows * (s + 1) // slots
            for r in range(r0, r1 + 1):
                if r < r1:
                    if floating is float:
                        mg_dw_dw_rows_f32(&x[0], &dy[0], &g, &parts[s, 0], r, r + 1)
                    else:
                        mg_dw_dw_rows_f64(&x[0], &dy[0], &g, &parts[s, 0], r, r + 1)
                # the dx rows due by now: the slot's share of them in proportion, all of them at the end
                due = a1 if r == r1 else a + (a1 - a) // (r1 - r)
                while a < due:
                    if floating is float:
                        mg_dw_fwd_row_f32(&dy[0], &gx, &flipped[0], NULL, 0, &dx[0], a)
                    else:
                        mg_dw_fwd_row_f64(&dy[0], &gx, &flipped[0], NULL, 0, &dx[0], a)
                    a = a + 1


# ------------------------------------------------------------------------------ argument checks

def _geometry(str fn, in_hw, k_hw, strides, padding, dilation_rate, what):
    """(oh, ow, ph, pw) for a window k_hw dilated by dilation_rate (TF's rule on the dilated extent)."""
    if k_hw[0] > MG_DW_MAX_KH or k_hw[1] > MG_DW_MAX_KH:
        raise ValueError(f"{fn}: kernel size {tuple(k_hw)} larger than {MG_DW_MAX_KH} is not supported ({what})")
    ext = [(k - 1) * d + 1 for k, d in zip(k_hw, dilation_rate)]
    if padding == "valid" and (in_hw[0] < ext[0] or in_hw[1] < ext[1]):
        raise ValueError(f"{fn}: dilated kernel {tuple(ext)} is larger than the input {tuple(in_hw)} "
                         f"under 'valid' padding ({what})")
    out = [conv_output_length(n, k, s, padding) for n, k, s in zip(in_hw, ext, strides)]
    pads = [conv_pad_before(n, k, s, padding) for n, k, s in zip(in_hw, ext, strides)]
    return out[0], out[1], pads[0], pads[1]


def _window_args(str fn, strides, padding, dilation_rate):
    return (int_pair(fn, "strides", strides, 1), checked_padding(padding, fn),
            int_pair(fn, "dilation_rate", dilation_rate, 1))


def _multiplier(str fn, depth_multiplier):
    """depth_multiplier as a positive int (true integers only, as for every window argument)."""
    if not isinstance(depth_multiplier, (tuple, list)):
        try:
            return int_pair(fn, "depth_multiplier", depth_multiplier, 1)[0]
        except ValueError:
            pass
    raise ValueError(f"{fn}: depth_multiplier must be a positive int, got {depth_multiplier!r}")


def _expanded_kernel(kernel, dtype):
    """(kh, kw, cin, m) -> C-ordered (kh, kw, cin * m): expanded channel c * m + j holds kernel[:, :, c, j]."""
    kh, kw, c, m = kernel.shape
    return np.ascontiguousarray(kernel, dtype).reshape(kh, kw, c * m)


def _expand(x, Py_ssize_t m):
    """x with each channel repeated m times (channel c * m + j = channel c): the multiplier-1 loops' input."""
    return x if m == 1 else np.repeat(x, m, axis=3)


def _flipped(expanded_kernel):
    """The expanded kernel turned by 180 degrees, flat: the stride-1 input gradient's forward kernel."""
    return np.ascontiguousarray(expanded_kernel[::-1, ::-1]).reshape(-1)


def _flipped_geometry(n, h, w, c, kh, kw, d, ph, pw, oh, ow):
    """The stride-1 input gradient as a forward: dy (n, oh, ow, c) through the flipped kernel, padded by the
    rest of the dilated extent, onto dx (n, h, w, c)."""
    return (n, oh, ow, c, kh, kw, 1, 1, d[0], d[1], (kh - 1) * d[0] - ph, (kw - 1) * d[1] - pw, h, w)


def _kernel_parts(Py_ssize_t rows, Py_ssize_t ow, Py_ssize_t size, dtype):
    """Zeroed partial sums of the kernel gradient: a fixed number of slots for rows * ow output pixels."""
    return np.zeros((max(1, min(DW_SLOTS, rows, rows * ow // DW_SLOT_PIXELS)), size), dtype)


def _summed(parts, shape):
    """The slots' partial sums added in slot order."""
    dk = parts[0].copy()
    for p in parts[1:]:
        dk += p
    return dk.reshape(shape)


def _activation(str fn, activation):
    if activation is None or activation == "linear":
        return False
    if activation == "relu":
        return True
    raise ValueError(f"{fn}: activation must be None, 'linear' or 'relu', got {activation!r}")


# ------------------------------------------------------------------------------------------ public API

def depthwise_conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation_rate=1,
                             activation=None):
    """y = act(depthwise_conv2d(x, kernel) + bias): x (n, h, w, cin), kernel (kh, kw, cin, multiplier)
    -> (n, oh, ow, cin * multiplier), output channel c * multiplier + m from input channel c.

    bias: None or (cin * multiplier,); activation None / 'linear' or 'relu' (fused into the store)."""
    fn = "depthwise_conv2d_forward"
    relu = _activation(fn, activation)
    x = float_array(x, fn, "x", 4)
    kernel = float_array(kernel, fn, "kernel", 4, x.dtype)
    s, padding, d = _window_args(fn, strides, padding, dilation_rate)
    n, h, w, c = x.shape
    kh, kw, kc, m = kernel.shape
    what = f"x {x.shape}, kernel {kernel.shape}"
    if kc != c:
        raise ValueError(f"{fn}: input channels {c} of x {x.shape} do not match kernel {kernel.shape} (axis 2)")
    if m < 1 or kh < 1 or kw < 1:
        raise ValueError(f"{fn}: kernel {kernel.shape} must have positive sizes and depth_multiplier "
                         f"(axis 3) ({what})")
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (c * m,):
            raise ValueError(f"{fn}: bias must have shape ({c * m},), got {bias.shape} ({what})")
        bias = float_array(bias, fn, "bias", 1, x.dtype)
    oh, ow, ph, pw = _geometry(fn, (h, w), (kh, kw), s, padding, d, what)
    y = empty_aligned((n, oh, ow, c * m), x.dtype)
    if y.size:  # (then x is not empty either)
        xe = np.ascontiguousarray(_expand(x, m))
        _forward_kernel(xe.reshape(-1), _expanded_kernel(kernel, x.dtype).reshape(-1), bias, relu, y.reshape(-1),
                        (n, h, w, c * m, kh, kw, s[0], s[1], d[0], d[1], ph, pw, oh, ow))
    return y


def depthwise_conv2d_backward_input(dy, kernel, input_hw, strides=1, padding="valid", dilation_rate=1):
    """dx (n, h, w, cin) of depthwise_conv2d for output gradient dy (n, oh, ow, cin * multiplier)."""
    fn = "depthwise_conv2d_backward_input"
    dy = float_array(dy, fn, "dy", 4)
    kernel = float_array(kernel, fn, "kernel", 4, dy.dtype)
    s, padding, d = _window_args(fn, strides, padding, dilation_rate)
    h, w = int_pair(fn, "input_hw", input_hw, 0)
    kh, kw, c, m = kernel.shape
    n = dy.shape[0]
    what = f"dy {dy.shape}, kernel {kernel.shape}, input_hw {(h, w)}, strides {s}, padding {padding!r}, " \
           f"dilation_rate {d}"
    if m < 1 or kh < 1 or kw < 1:
        raise ValueError(f"{fn}: kernel {kernel.shape} must have positive sizes and depth_multiplier ({what})")
    oh, ow, ph, pw = _geometry(fn, (h, w), (kh, kw), s, padding, d, what)
    if dy.shape != (n, oh, ow, c * m):
        raise ValueError(f"{fn}: dy {dy.shape} does not match the expected shape {(n, oh, ow, c * m)} ({what})")
    dxe = empty_aligned((n, h, w, c * m), dy.dtype)
    if dy.size and dxe.size:
        ke = _expanded_kernel(kernel, dy.dtype)
        if s == (1, 1):
            _forward_kernel(dy.reshape(-1), _flipped(ke), None, False, dxe.reshape(-1),
                            _flipped_geometry(n, h, w, c * m, kh, kw, d, ph, pw, oh, ow))
        else:
            _backward_input_kernel(dy.reshape(-1), ke.reshape(-1), dxe.reshape(-1),
                                   (n, h, w, c * m, kh, kw, s[0], s[1], d[0], d[1], ph, pw, oh, ow))
    return dxe if m == 1 else dxe.reshape(n, h, w, c, m).sum(axis=4)


def depthwise_conv2d_backward_kernel(x, dy, kernel_hw, depth_multiplier=1, strides=1, padding="valid",
                                     dilation_rate=1):
    """dkernel (kh, kw, cin, depth_multiplier) of depthwise_conv2d for input x (n, h, w, cin) and output
    gradient dy (n, oh, ow, cin * depth_multiplier); the same bits for any thread count."""
    fn = "depthwise_conv2d_backward_kernel"
    x = float_array(x, fn, "x", 4)
    dy = float_array(dy, fn, "dy", 4, x.dtype)
    s, padding, d = _window_args(fn, strides, padding, dilation_rate)
    kh, kw = int_pair(fn, "kernel_hw", kernel_hw, 1)
    m = _multiplier(fn, depth_multiplier)
    n, h, w, c = x.shape
    what = f"x {x.shape}, dy {dy.shape}, kernel_hw {(kh, kw)}, depth_multiplier {m}, strides {s}, " \
           f"padding {padding!r}, dilation_rate {d}"
    oh, ow, ph, pw = _geometry(fn, (h, w), (kh, kw), s, padding, d, what)
    if dy.shape != (n, oh, ow, c * m):
        raise ValueError(f"{fn}: dy {dy.shape} does not match the expected shape {(n, oh, ow, c * m)} ({what})")
    parts = _kernel_parts(n * oh, ow, kh * kw * c * m, x.dtype)
    if dy.size and x.size:
        xe = np.ascontiguousarray(_expand(x, m))
        _backward_kernel_kernel(xe.reshape(-1), dy.reshape(-1), parts,
                                (n, h, w, c * m, kh, kw, s[0], s[1], d[0], d[1], ph, pw, oh, ow))
    return _summed(parts, (kh, kw, c, m))


def depthwise_conv2d_backward(x, dy, kernel, strides=1, padding="valid", dilation_rate=1):
    """(dx, dkernel) of depthwise_conv2d for input x (n, h, w, cin), kernel (kh, kw, cin, multiplier) and
    output gradient dy: the bits of depthwise_conv2d_backward_input and _backward_kernel, in one pass over dy
    at stride 1 (other strides call the two)."""
    fn = "depthwise_conv2d_backward"
    x = float_array(x, fn, "x", 4)
    dy = float_array(dy, fn, "dy", 4, x.dtype)
    kernel = float_array(kernel, fn, "kernel", 4, x.dtype)
    s, padding, d = _window_args(fn, strides, padding, dilation_rate)
    n, h, w, c = x.shape
    kh, kw, kc, m = kernel.shape
    what = f"x {x.shape}, dy {dy.shape}, kernel {kernel.shape}, strides {s}, padding {padding!r}, " \
           f"dilation_rate {d}"
    if kc != c:
        raise ValueError(f"{fn}: input channels {c} of x {x.shape} do not match kernel {kernel.shape} (axis 2)")
    if m < 1 or kh < 1 or kw < 1:
        raise ValueError(f"{fn}: kernel {kernel.shape} must have positive sizes and depth_multiplier ({what})")
    oh, ow, ph, pw = _geometry(fn, (h, w), (kh, kw), s, padding, d, what)
    if dy.shape != (n, oh, ow, c * m):
        raise ValueError(f"{fn}: dy {dy.shape} does not match the expected shape {(n, oh, ow, c * m)} ({what})")
    if s != (1, 1) or not (dy.size and x.size):
        return (depthwise_conv2d_backward_input(dy, kernel, (h, w), s, padding, d),
                depthwise_conv2d_backward_kernel(x, dy, (kh, kw), m, s, padding, d))
    dxe = empty_aligned((n, h, w, c * m), x.dtype)
    parts = _kernel_parts(n * oh, ow, kh * kw * c * m, x.dtype)
    _backward_both_kernel(np.ascontiguousarray(_expand(x, m)).reshape(-1), dy.reshape(-1),
                          _flipped(_expanded_kernel(kernel, x.dtype)), dxe.reshape(-1), parts,
                          (n, h, w, c * m, kh, kw, 1, 1, d[0], d[1], ph, pw, oh, ow),
                          _flipped_geometry(n, h, w, c * m, kh, kw, d, ph, pw, oh, ow))
    dx = dxe if m == 1 else dxe.reshape(n, h, w, c, m).sum(axis=4)
    return dx, _summed(parts, (kh, kw, c, m))
