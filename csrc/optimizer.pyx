"""Fused optimizer updates (see csrc/API.md, section optimizer).

One pass over a variable and its slots instead of a dozen numpy calls with their temporaries: for the
small variables of a dense model, the numpy sequence's per-call overhead was a quarter of a training step.
"""
from cython cimport floating
from libc.math cimport sqrt, sqrtf

import numpy as np


__all__ = ["adam_update"]


cdef inline floating _sqrt(floating x) noexcept nogil:
    """sqrt in the array's own precision (libm's sqrt would round-trip float32 through double)."""
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


def _adam_kernel(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v, floating[::1] vhat,
                 floating alpha, floating one_minus_beta_1, floating one_minus_beta_2, floating epsilon,
                 bint amsgrad):
    # Serial on purpose: a few 10k elements take microseconds, less than waking an OpenMP team, and an
    # OpenMP team spinning after its region would compete with the BLAS threads of the next dense layer.
    # Branch-free loops (vhat in its own pass) so that the compiler vectorises them (sqrt included:
    # setup.py builds with -fno-math-errno).
    cdef Py_ssize_t i, n = w.shape[0]
    with nogil:
        for i in range(n):
            m[i] += (g[i] - m[i]) * one_minus_beta_1
            v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2
        if amsgrad:
            for i in range(n):
                # max(vhat, v), NaN winning as in np.maximum
                vhat[i] = v[i] if (v[i] > vhat[i] or v[i] != v[i]) else vhat[i]
            for i in range(n):
                w[i] -= m[i] * alpha / (_sqrt(vhat[i]) + epsilon)
        else:
            for i in range(n):
                w[i] -= m[i] * alpha / (_sqrt(v[i]) + epsilon)


def _flat(fn, name, a, shape, dtype):
    """a as a writable-checked flat view (no copy: the update happens in place)."""
    if type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
        raise ValueError(f"{fn}: {name} must be a C-contiguous {np.dtype(dtype).name} array of shape {shape}, "
                         f"got {getattr(a, 'dtype', type(a).__name__)} {np.shape(a)}")
    return a.reshape(-1)


def adam_update(w, g, m, v, alpha, beta_1, beta_2, epsilon, vhat=None):
    """Keras 2.11+ Adam step, in place on w, m, v (and vhat under AMSGrad):
    m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); vhat = max(vhat, v) when given;
    w -= m alpha / (sqrt(v or vhat) + epsilon), with alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t).
    w, m, v (and vhat) are C-contiguous float32 or float64 arrays of one shape and dtype; g is cast to it."""
    fn = "adam_update"
    if type(w) is not np.ndarray or w.dtype not in (np.float32, np.float64):
        raise ValueError(f"{fn}: w must be a float32 or float64 array, got {getattr(w, 'dtype', type(w).__name__)}")
    shape, dtype = w.shape, w.dtype
    g = np.ascontiguousarray(g, dtype)
    if g.shape != shape:
        raise ValueError(f"{fn}: gradient shape {g.shape} does not match the variable's {shape}")
    flat = [_flat(fn, name, a, shape, dtype) for name, a in (("w", w), ("m", m), ("v", v))]
    amsgrad = vhat is not None
    vh = _flat(fn, "vhat", vhat, shape, dtype) if amsgrad else flat[2]
    if w.size == 0:
        return
    t = dtype.type
    _adam_kernel(flat[0], g.reshape(-1), flat[1], flat[2], vh, t(alpha), t(1 - beta_1), t(1 - beta_2),
                 t(epsilon), amsgrad)
