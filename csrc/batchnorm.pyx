"""Batch normalisation over the last axis, viewed as (M, C) rows (see csrc/API.md, section batchnorm).

Training forward: one pass for the per-channel sums (shifted by the first row, accumulated in float64),
then one fused y = (x - mean) * scale + beta (+ ReLU), with scale = gamma * inv_std.  Backward: one pass for
the two per-channel gradient sums, then one fused pass for dx.  Inference runs the same fused pass on the
moving statistics.  The rows are cut into blocks that depend only on the
shape; each block's sums are written to its own row and the rows are added in block order, so the results
are the same bits for any thread count.
"""
from cython cimport floating
from cython.parallel cimport prange

import numpy as np

from _kernel_common cimport float_array, threads_for

__all__ = [
    "batch_norm_train_forward", "batch_norm_train_backward",
    "batch_norm_fold", "batch_norm_inference_forward", "batch_norm_inference_backward",
]

cdef extern from "batchnorm.h" nogil:
    void mg_bn_stats_f32(const float* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C, const float* shift,
                         double* s1, double* s2)
    void mg_bn_stats_f64(const double* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C, const double* shift,
                         double* s1, double* s2)
    void mg_bn_scale_shift_f32(const float* x, float* y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C,
                               const float* center, const float* scale, const float* offset, int relu, float cap)
    void mg_bn_scale_shift_f64(const double* x, double* y, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C,
                               const double* center, const double* scale, const double* offset, int relu, double cap)
    void mg_bn_grad_sums_f32(const float* dy, const float* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C,
                             const float* center, const float* inv_std, const float* scale,
                             const float* offset, int relu, float cap, double* s1, double* s2)
    void mg_bn_grad_sums_f64(const double* dy, const double* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t C,
                             const double* center, const double* inv_std, const double* scale,
                             const double* offset, int relu, double cap, double* s1, double* s2)
    void mg_bn_grad_input_f32(const float* dy, const float* x, float* dx, Py_ssize_t r0, Py_ssize_t r1,
                              Py_ssize_t C, const float* center, const float* inv_std, const float* scale,
                              const float* offset, int relu, float cap, const float* k, const float* m1, const float* m2)
    void mg_bn_grad_input_f64(const double* dy, const double* x, double* dx, Py_ssize_t r0, Py_ssize_t r1,
                              Py_ssize_t C, const double* center, const double* inv_std, const double* scale,
                              const double* offset, int relu, double cap, const double* k, const double* m1,
                              const double* m2)
    void mg_bn_grad_scale_f32(const float* dy, const float* x, float* dx, Py_ssize_t r0, Py_ssize_t r1,
                              Py_ssize_t C, const float* center, const float* scale, const float* offset,
                              int relu, float cap)
    void mg_bn_grad_scale_f64(const double* dy, const double* x, double* dx, Py_ssize_t r0, Py_ssize_t r1,
                              Py_ssize_t C, const double* center, const double* scale, const double* offset,
                              int relu, double cap)


# Elements per block of rows: a block's rows stay in L1/L2 while its sums run, and there are enough blocks
# for the dynamic schedule.  A constant, so that the blocks (and the sums) never depend on the threads.
cdef Py_ssize_t BLOCK_ELEMENTS = 16384


cdef inline Py_ssize_t _rows_per_block(Py_ssize_t C) noexcept nogil:
    return max(1, BLOCK_ELEMENTS // C)


# ------------------------------------------------------------------------------------------ loops

def _stats_kernel(const floating[:, ::1] x, const floating[::1] shift, double[:, :, ::1] sums):
    """sums[b] = (sum of x - shift, sum of (x - shift)^2) over block b's rows."""
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], blocks = sums.shape[0], rpb = _rows_per_block(C), b
    with nogil:
        for b in prange(blocks, num_threads=threads_for(blocks, M * C), schedule="dynamic"):
            if floating is float:
                mg_bn_stats_f32(&x[0, 0], b * rpb, min(M, (b + 1) * rpb), C, &shift[0], &sums[b, 0, 0],
                                &sums[b, 1, 0])
            else:
                mg_bn_stats_f64(&x[0, 0], b * rpb, min(M, (b + 1) * rpb), C, &shift[0], &sums[b, 0, 0],
                                &sums[b, 1, 0])


def _scale_shift_kernel(const floating[:, ::1] x, floating[:, ::1] y, const floating[::1] center,
                        const floating[::1] scale, const floating[::1] offset, bint relu,
                        floating cap):
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], rpb = _rows_per_block(C)
    cdef Py_ssize_t blocks = (M + rpb - 1) // rpb, b
    with nogil:
        for b in prange(blocks, num_threads=threads_for(blocks, M * C), schedule="dynamic"):
            if floating is float:
                mg_bn_scale_shift_f32(&x[0, 0], &y[0, 0], b * rpb, min(M, (b + 1) * rpb), C, &center[0],
                                      &scale[0], &offset[0], relu, cap)
            else:
                mg_bn_scale_shift_f64(&x[0, 0], &y[0, 0], b * rpb, min(M, (b + 1) * rpb), C, &center[0],
                                      &scale[0], &offset[0], relu, cap)


def _grad_sums_kernel(const floating[:, ::1] dy, const floating[:, ::1] x, const floating[::1] mean,
                      const floating[::1] inv_std, const floating[::1] scale, const floating[::1] offset,
                      bint relu, floating cap, double[:, :, ::1] sums):
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], blocks = sums.shape[0], rpb = _rows_per_block(C), b
    with nogil:
        for b in prange(blocks, num_threads=threads_for(blocks, 2 * M * C), schedule="dynamic"):
            if floating is float:
                mg_bn_grad_sums_f32(&dy[0, 0], &x[0, 0], b * rpb, min(M, (b + 1) * rpb), C, &mean[0],
                                    &inv_std[0], &scale[0], &offset[0], relu, cap, &sums[b, 0, 0], &sums[b, 1, 0])
            else:
                mg_bn_grad_sums_f64(&dy[0, 0], &x[0, 0], b * rpb, min(M, (b + 1) * rpb), C, &mean[0],
                                    &inv_std[0], &scale[0], &offset[0], relu, cap, &sums[b, 0, 0], &sums[b, 1, 0])


def _grad_input_kernel(const floating[:, ::1] dy, const floating[:, ::1] x, floating[:, ::1] dx,
                       const floating[::1] mean, const floating[::1] inv_std, const floating[::1] scale,
                       const floating[::1] offset, bint relu, floating cap, const floating[::1] k,
                       const floating[::1] m1,
                       const floating[::1] m2):
    cdef Py_ssize_t M = x.shape[0], C = x.shape[1], rpb = _rows_per_block(C)
    cdef Py_ssize_t blocks = (M + rpb - 1) // rpb, b
    with nogil:
        for b in prange(blocks, num_threads=threads_for(blocks, 3 * M * C), schedule="dynamic"):
            if floating is float:
                mg_bn_grad_input_f32(&dy[0, 0], &x[0, 0], &dx[0, 0], b * rpb, min(M, (b + 1) * rpb), C,
                                     &mean[0], &inv_std[0], &scale[0], &offset[0], relu, cap, &k[0], &m1[0], &m2[0])
            else:
                mg_bn_grad_input_f64(&dy[0, 0], &x[0, 0], &dx[0, 0], b * rpb, min(M, (b + 1) * rpb), C,
                                     &mean[0], &inv_std[0], &scale[0], &offset[0], relu, cap, &k[0], &m1[0], &m2[0])


def _grad_scale_kernel(const floating[:, ::1] dy, const floating[:, ::1] x, floating[:, ::1] dx,
                       const floating[::1] center, const floating[::1] scale, const floating[::1] offset,
                       bint relu, floating cap):
    cdef Py_ssize_t M = dy.shape[0], C = dy.shape[1], rpb = _rows_per_block(C)
    cdef Py_ssize_t blocks = (M + rpb - 1) // rpb, b
    with nogil:
        for b in prange(blocks, num_threads=threads_for(blocks, 3 * M * C), schedule="dynamic"):
            if floating is float:
                mg_bn_grad_scale_f32(&dy[0, 0], &x[0, 0], &dx[0, 0], b * rpb, min(M, (b + 1) * rpb), C,
                                     &center[0], &scale[0], &offset[0], relu, cap)
            else:
                mg_bn_grad_scale_f64(&dy[0, 0], &x[0, 0], &dx[0, 0], b * rpb, min(M, (b + 1) * rpb), C,
                                     &center[0], &scale[0], &offset[0], relu, cap)


# ------------------------------------------------------------------------------ argument checks

cdef double _cap(str fn, bint relu, object max_value) except? -1:
    """The ReLU's upper bound for the kernels: +inf without max_value."""
    if max_value is None:
        return float("inf")
    if not relu:
        raise ValueError(f"{fn}: max_value={max_value!r} caps the ReLU: it needs relu=True")
    return _non_negative(fn, "max_value", max_value)


def _rows(str fn, str name, a, dtype=None):
    """a (any rank >= 1, channels last) as a C-contiguous (M, C) float array; the original shape."""
    a = np.asarray(a)
    if a.ndim < 1 or a.shape[a.ndim - 1] < 1:
        raise ValueError(f"{fn}: {name} must have at least 1 axis and a non-empty last (channel) axis, "
                         f"got shape {a.shape}")
    shape = a.shape
    return float_array(a.reshape(-1, shape[a.ndim - 1]), fn, name, 2, dtype), shape


def _channel_vector(str fn, str name, v, Py_ssize_t C, dtype, default=None):
    """A per-channel vector of shape (C,) in dtype; None gives `default` (a constant) or None."""
    if v is None:
        return None if default is None else np.full(C, default, dtype)
    v = np.asarray(v)
    if v.shape != (C,):
        raise ValueError(f"{fn}: {name} must have shape ({C},) (the channels), got shape {v.shape}")
    return float_array(v, fn, name, 1, dtype)


def _epsilon(str fn, epsilon):
    return _non_negative(fn, "epsilon", epsilon)


def _non_negative(str fn, str name, value):
    """value as a float >= 0 (NaN refused)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{fn}: {name} must be a number, got {value!r}") from None
    if not number >= 0:
        raise ValueError(f"{fn}: {name} must be >= 0, got {value!r}")
    return number


def _same_shape(str fn, dy_shape, str name, shape):
    if tuple(shape) != tuple(dy_shape):
        raise ValueError(f"{fn}: dy shape {tuple(dy_shape)} does not match {name} shape {tuple(shape)}")


def _blocks(Py_ssize_t M, Py_ssize_t C):
    cdef Py_ssize_t rpb = _rows_per_block(C)
    return max(1, (M + rpb - 1) // rpb)


def _affine(mean, inv_std, gamma, beta, dtype):
    """(center, scale, offset) of y = (x - center) * scale + offset in dtype: center = mean, scale =
    gamma * inv_std (formed in float64), offset = beta (or 0).  The training forward and backward both call
    this, so the backward's ReLU mask is the forward's."""
    scale = inv_std.astype(np.float64) if gamma is None else gamma.astype(np.float64) * inv_std
    offset = np.zeros(mean.shape[0], dtype) if beta is None else beta
    return mean, scale.astype(dtype), offset


def _moving_affine(str fn, moving_mean, moving_variance, gamma, beta, epsilon, dtype, Py_ssize_t C=-1):
    """_affine of the moving statistics, inv_std = 1 / sqrt(moving_variance + epsilon); C < 0: moving_mean
    sets the channel count."""
    if C < 0:
        moving_mean = float_array(moving_mean, fn, "moving_mean", 1, dtype)
        C = moving_mean.shape[0]
    else:
        moving_mean = _channel_vector(fn, "moving_mean", moving_mean, C, dtype)
    moving_variance = _channel_vector(fn, "moving_variance", moving_variance, C, dtype)
    if moving_mean is None or moving_variance is None:
        raise ValueError(f"{fn}: moving_mean and moving_variance are required")
    inv_std = 1 / np.sqrt(moving_variance.astype(np.float64) + _epsilon(fn, epsilon))
    return _affine(moving_mean, inv_std, _channel_vector(fn, "gamma", gamma, C, dtype),
                   _channel_vector(fn, "beta", beta, C, dtype), dtype)


# ------------------------------------------------------------------------------------------ public API

def batch_norm_train_forward(x, gamma=None, beta=None, epsilon=1e-3, relu=False, max_value=None):
    """Training-mode batch normalisation over the last axis of x -> (y, mean, variance, inv_std).

    y = gamma * (x - mean) * inv_std + beta (then max(y, 0) under relu, capped at max_value when given:
    relu6 is max_value=6; NaN stays NaN), with the batch mean and the biased
    batch variance over every axis but the last, inv_std = 1 / sqrt(variance + epsilon).  gamma / beta None:
    1 / 0 (Keras' scale / center False).  mean, variance, inv_std: (C,) in x's dtype, accumulated in float64.
    """
    fn = "batch_norm_train_forward"
    x2, shape = _rows(fn, "x", x)
    dtype = x2.dtype
    M, C = x2.shape
    if M == 0:
        raise ValueError(f"{fn}: x must hold at least one row to take statistics over, got shape {shape}")
    gamma = _channel_vector(fn, "gamma", gamma, C, dtype)
    beta = _channel_vector(fn, "beta", beta, C, dtype)
    eps = _epsilon(fn, epsilon)
    shift = np.ascontiguousarray(x2[0])  # near the mean, so the shifted sums do not cancel
    sums = np.empty((_blocks(M, C), 2, C), np.float64)
    _stats_kernel(x2, shift, sums)
    total = sums.sum(axis=0)  # in block order: a fixed order for a fixed shape
    d_mean = total[0] / M
    variance = np.maximum(total[1] / M - d_mean * d_mean, 0)
    mean = shift + d_mean
    inv_std = 1 / np.sqrt(variance + eps)
    mean, variance, inv_std = mean.astype(dtype), variance.astype(dtype), inv_std.astype(dtype)
    y = np.empty_like(x2)
    _scale_shift_kernel(x2, y, *_affine(mean, inv_std, gamma, beta, dtype), relu, _cap(fn, relu, max_value))
    return y.reshape(shape), mean, variance, inv_std


def batch_norm_train_backward(dy, x, mean, inv_std, gamma=None, beta=None, relu=False, max_value=None):
    """(dx, dgamma, dbeta) of batch_norm_train_forward, given its x, mean and inv_std (and gamma, beta).

    dy' = dy * (0 < y <= max_value) under relu (y the pre-activation, recomputed from x; max_value None:
    no cap), else dy; x_hat = (x - mean) * inv_std;
    dbeta = sum dy', dgamma = sum dy' * x_hat (over every axis but the last, in float64), and
    dx = gamma * inv_std / M * (M * dy' - dbeta - x_hat * dgamma).
    """
    fn = "batch_norm_train_backward"
    dy2, shape = _rows(fn, "dy", dy)
    dtype = dy2.dtype
    x2, x_shape = _rows(fn, "x", x, dtype)
    _same_shape(fn, shape, "x", x_shape)
    M, C = dy2.shape
    if M == 0:
        raise ValueError(f"{fn}: dy must hold at least one row, got shape {shape}")
    mean = _channel_vector(fn, "mean", mean, C, dtype)
    inv_std = _channel_vector(fn, "inv_std", inv_std, C, dtype)
    if mean is None or inv_std is None:
        raise ValueError(f"{fn}: mean and inv_std (the forward's statistics) are required")
    gamma = _channel_vector(fn, "gamma", gamma, C, dtype)
    beta = _channel_vector(fn, "beta", beta, C, dtype)
    _, scale, offset = _affine(mean, inv_std, gamma, beta, dtype)
    sums = np.empty((_blocks(M, C), 2, C), np.float64)
    cap = _cap(fn, relu, max_value)
    _grad_sums_kernel(dy2, x2, mean, inv_std, scale, offset, relu, cap, sums)
    total = sums.sum(axis=0)
    m1, m2 = (total[0] / M).astype(dtype), (total[1] / M).astype(dtype)
    dx = np.empty_like(dy2)
    _grad_input_kernel(dy2, x2, dx, mean, inv_std, scale, offset, relu, cap, scale, m1, m2)
    return dx.reshape(shape), total[1].astype(dtype), total[0].astype(dtype)


def batch_norm_fold(moving_mean, moving_variance, gamma=None, beta=None, epsilon=1e-3):
    """Inference-mode batch normalisation as a per-channel (scale, shift) with y = x * scale + shift:
    scale = gamma / sqrt(moving_variance + epsilon), shift = beta - moving_mean * scale (formed in float64,
    returned in moving_mean's float dtype), for folding into a preceding layer."""
    fn = "batch_norm_fold"
    dtype = float_array(moving_mean, fn, "moving_mean", 1).dtype
    center, scale, offset = _moving_affine(fn, moving_mean, moving_variance, gamma, beta, epsilon, dtype)
    return scale, (offset - center.astype(np.float64) * scale).astype(dtype)


def batch_norm_inference_forward(x, moving_mean, moving_variance, gamma=None, beta=None, epsilon=1e-3,
                                 relu=False, max_value=None):
    """Inference-mode batch normalisation: y = (x - moving_mean) * scale + beta, scale = gamma /
    sqrt(moving_variance + epsilon), then max(y, 0) under relu, capped at max_value when given."""
    fn = "batch_norm_inference_forward"
    x2, shape = _rows(fn, "x", x)
    y = np.empty_like(x2)
    _scale_shift_kernel(x2, y, *_moving_affine(fn, moving_mean, moving_variance, gamma, beta, epsilon, x2.dtype,
                                               x2.shape[1]), relu, _cap(fn, relu, max_value))
    return y.reshape(shape)


def batch_norm_inference_backward(dy, x, moving_mean, moving_variance, gamma=None, beta=None, epsilon=1e-3,
                                  relu=False, max_value=None):
    """dx of batch_norm_inference_forward (moving statistics and gamma held fixed): dy' * scale, with
    dy' = dy * (0 < y <= max_value) under relu (y the pre-activation, recomputed from x), else dy."""
    fn = "batch_norm_inference_backward"
    dy2, shape = _rows(fn, "dy", dy)
    x2, x_shape = _rows(fn, "x", x, dy2.dtype)
    _same_shape(fn, shape, "x", x_shape)
    dx = np.empty_like(dy2)
    _grad_scale_kernel(dy2, x2, dx, *_moving_affine(fn, moving_mean, moving_variance, gamma, beta, epsilon,
                                                    dy2.dtype, dy2.shape[1]), relu,
                       _cap(fn, relu, max_value))
    return dx.reshape(shape)
