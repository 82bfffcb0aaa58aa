"""Fused optimizer updates (see csrc/API.md, section optimizer).

One pass over a variable and its slots instead of a dozen numpy calls with their temporaries: for the
small variables of a dense model, the numpy sequence's per-call overhead was a quarter of a training step.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc

import numpy as np
cimport numpy as cnp

cnp.import_array()

from _kernel_common cimport threads_for


__all__ = ["adam_update", "adam_update_all"]


cdef extern from "adam.h" nogil:
    void mg_adam_f32(float* w, const float* g, float* m, float* v, float* vhat, Py_ssize_t n, float alpha,
                     float one_minus_beta_1, float one_minus_beta_2, float epsilon)
    void mg_adam_f64(double* w, const double* g, double* m, double* v, double* vhat, Py_ssize_t n, double alpha,
                     double one_minus_beta_1, double one_minus_beta_2, double epsilon)

# Elements per task: a layer's small weights stay on one thread (an OpenMP team costs more than they do).
cdef Py_ssize_t _CHUNK = 16384


cdef void _adam_run(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v, floating[::1] vhat,
                    floating alpha, floating one_minus_beta_1, floating one_minus_beta_2, floating epsilon,
                    bint amsgrad) noexcept:
    cdef Py_ssize_t n = w.shape[0], chunks = (n + _CHUNK - 1) // _CHUNK, t, i0, cn
    with nogil:
        for t in prange(chunks, num_threads=threads_for(chunks, n), schedule="static"):
            i0 = t * _CHUNK
            cn = min(_CHUNK, n - i0)
            if floating is float:
                mg_adam_f32(&w[i0], &g[i0], &m[i0], &v[i0], &vhat[i0] if amsgrad else NULL, cn, alpha,
                            one_minus_beta_1, one_minus_beta_2, epsilon)
            else:
                mg_adam_f64(&w[i0], &g[i0], &m[i0], &v[i0], &vhat[i0] if amsgrad else NULL, cn, alpha,
                            one_minus_beta_1, one_minus_beta_2, epsilon)


cdef int _adam_run_all(list group, floating alpha, floating one_minus_beta_1, floating one_minus_beta_2,
                       floating epsilon) except -1:
    """The chunks of every (w, g, m, v) of `group` (all updatable in place, of this dtype) in one parallel
    loop: the small variables of a layer stack then share one team instead of a region each."""
    cdef Py_ssize_t count = len(group), chunks = 0, total = 0, i, j, t, c, i0, cn
    cdef floating** ptrs = <floating**>malloc(4 * count * sizeof(floating*))
    cdef Py_ssize_t* first = <Py_ssize_t*>malloc((count + 1) * sizeof(Py_ssize_t))  # each variable's first chunk
    cdef Py_ssize_t* sizes = <Py_ssize_t*>malloc(count * sizeof(Py_ssize_t))
    cdef Py_ssize_t* owner = NULL  # the variable of each chunk
    try:
        if ptrs == NULL or first == NULL or sizes == NULL:
            raise MemoryError("adam_update_all: out of memory")
        for i in range(count):
            for j in range(4):
                ptrs[4 * i + j] = <floating*>cnp.PyArray_DATA(<cnp.ndarray>group[i][j])
            sizes[i] = (<cnp.ndarray>group[i][0]).size
            first[i] = chunks
            chunks += (sizes[i] + _CHUNK - 1) // _CHUNK
            total += sizes[i]
        first[count] = chunks
        owner = <Py_ssize_t*>malloc(chunks * sizeof(Py_ssize_t))
        if owner == NULL:
            raise MemoryError("adam_update_all: out of memory")
        for i in range(count):
            for c in range(first[i], first[i + 1]):
                owner[c] = i
        with nogil:
            # round robin: a large variable's chunks alternate between the threads whatever stands beside it
            for t in prange(chunks, num_threads=threads_for(chunks, total), schedule="static", chunksize=1):
                i = owner[t]
                i0 = (t - first[i]) * _CHUNK
                cn = min(_CHUNK, sizes[i] - i0)
                if floating is float:
                    mg_adam_f32(ptrs[4 * i] + i0, ptrs[4 * i + 1] + i0, ptrs[4 * i + 2] + i0, ptrs[4 * i + 3] + i0,
                                NULL, cn, alpha, one_minus_beta_1, one_minus_beta_2, epsilon)
                else:
                    mg_adam_f64(ptrs[4 * i] + i0, ptrs[4 * i + 1] + i0, ptrs[4 * i + 2] + i0, ptrs[4 * i + 3] + i0,
                                NULL, cn, alpha, one_minus_beta_1, one_minus_beta_2, epsilon)
    finally:
        free(ptrs)
        free(first)
        free(sizes)
        free(owner)
    return 0


def _adam_kernel(floating[::1] w, const floating[::1] g, floating[::1] m, floating[::1] v, floating[::1] vhat,
                 floating alpha, floating one_minus_beta_1, floating one_minus_beta_2, floating epsilon,
                 bint amsgrad):
    _adam_run(w, g, m, v, vhat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, amsgrad)


cdef bint _usable(object a, object dtype):
    """Whether the kernel can update a in place: a C-contiguous, writeable ndarray of dtype."""
    return type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable


cdef bint _in_place(object w, object g, object m, object v):
    """Whether the kernel can run on these arrays as they are: w, m, v usable in place, float32 or float64,
    not empty, and g a C-contiguous ndarray of their dtype and shape."""
    if type(w) is not np.ndarray or (w.dtype != np.float32 and w.dtype != np.float64) or w.size == 0:
        return False
    return (_usable(w, w.dtype) and _usable(m, w.dtype) and _usable(v, w.dtype) and m.shape == v.shape == w.shape
            and type(g) is np.ndarray and g.dtype == w.dtype and g.shape == w.shape and g.flags.c_contiguous)


def _working(a, dtype):
    """a itself when the kernel can update it in place, else a copy."""
    return a if _usable(a, dtype) else np.array(a, dtype=dtype, order="C")


def adam_update(w, g, m, v, alpha, beta_1, beta_2, epsilon, vhat=None):
    """Keras 2.11+ Adam step, in place on w, m, v (and vhat under AMSGrad):
    m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); vhat = max(vhat, v) when given;
    w -= m alpha / (sqrt(v or vhat) + epsilon), with alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t).
    w, m, v (and vhat) are floating arrays of one shape.  The step runs in float64 for float64 weights
    and in float32 otherwise; other dtypes (float16) and layouts are updated through a working copy."""
    fn = "adam_update"
    if vhat is None and _in_place(w, g, m, v):  # the common case, without the general path's copies
        flat_v = v.reshape(-1)
        if w.dtype == np.float32:
            _adam_run[float](w.reshape(-1), g.reshape(-1), m.reshape(-1), flat_v, flat_v, alpha, 1 - beta_1,
                             1 - beta_2, epsilon, False)
        else:
            _adam_run[double](w.reshape(-1), g.reshape(-1), m.reshape(-1), flat_v, flat_v, alpha, 1 - beta_1,
                              1 - beta_2, epsilon, False)
        return
    state = {"w": w, "m": m, "v": v}
    if vhat is not None:
        state["vhat"] = vhat
    for name, a in state.items():
        if type(a) is not np.ndarray or a.dtype.kind != "f":
            raise ValueError(f"{fn}: {name} must be a floating numpy array, got "
                             f"{getattr(a, 'dtype', type(a).__name__)} {np.shape(a)}")
        if a.shape != w.shape:
            raise ValueError(f"{fn}: {name} shape {a.shape} does not match the variable's {w.shape}")
    dtype = np.float64 if w.dtype == np.float64 else np.float32
    g = np.ascontiguousarray(g, dtype)
    if g.shape != w.shape:
        raise ValueError(f"{fn}: gradient shape {g.shape} does not match the variable's {w.shape}")
    if w.size == 0:
        return
    work = {name: _working(a, dtype) for name, a in state.items()}
    flat = {name: a.reshape(-1) for name, a in work.items()}
    t = np.dtype(dtype).type
    _adam_kernel(flat["w"], g.reshape(-1), flat["m"], flat["v"], flat.get("vhat", flat["v"]), t(alpha),
                 t(1 - beta_1), t(1 - beta_2), t(epsilon), vhat is not None)
    for name, a in state.items():
        if work[name] is not a:
            a[...] = work[name]


def adam_update_all(ws, gs, ms, vs, alpha, beta_1, beta_2, epsilon):
    """adam_update (without AMSGrad) over several variables that share alpha, in one pass: the variables the
    kernel updates in place run as one parallel loop per dtype; any other goes through adam_update on its
    own.  ws, gs, ms, vs: sequences of one length, item i of each belonging to variable i.  Each element
    gets the same bits as from adam_update."""
    fn = "adam_update_all"
    ws, gs, ms, vs = list(ws), list(gs), list(ms), list(vs)
    if not len(ws) == len(gs) == len(ms) == len(vs):
        raise ValueError(f"{fn}: ws, gs, ms and vs must have one length, got {len(ws)}, {len(gs)}, {len(ms)} and "
                         f"{len(vs)}")
    single, double = [], []
    for w, g, m, v in zip(ws, gs, ms, vs):
        if not _in_place(w, g, m, v):
            adam_update(w, g, m, v, alpha, beta_1, beta_2, epsilon)
        elif w.dtype == np.float32:
            single.append((w, g, m, v))
        else:
            double.append((w, g, m, v))
    if single:
        _adam_run_all[float](single, alpha, 1 - beta_1, 1 - beta_2, epsilon)
    if double:
        _adam_run_all[double](double, alpha, 1 - beta_1, 1 - beta_2, epsilon)
