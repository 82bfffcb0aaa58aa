"""softmax over the last axis (see csrc/API.md, section softmax): the forward of ops.softmax in one pass
per row, instead of numpy's five (max, subtract, exp, sum, divide), each with its own call overhead; and
the sparse softmax cross-entropy with its gradient, the same rows with the loss beside them."""
from cython cimport floating

import numpy as np
cimport numpy as cnp

from _kernel_common cimport float_array
from softmax_rows cimport (mg_softmax_rows_f32, mg_softmax_rows_f64, mg_sparse_xent_rows_f32,
                           mg_sparse_xent_rows_f64)

cnp.import_array()

__all__ = ["softmax_forward", "sparse_xent_forward", "sparse_xent_backward"]


def softmax_forward(x):
    """softmax of x over its last axis, which must not be empty; x of rank >= 1 (float64 stays float64,
    other numeric dtypes become float32)."""
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[x.ndim - 1] == 0:
        raise ValueError(f"softmax_forward: x must have a non-empty last axis, got shape {x.shape}")
    x = float_array(x, "softmax_forward", "x", x.ndim)
    out = np.empty_like(x)
    cdef Py_ssize_t n = x.shape[x.ndim - 1], rows = x.size // n
    cdef void* src = cnp.PyArray_DATA(<cnp.ndarray>x)
    cdef void* dst = cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef bint double_precision = x.dtype == np.float64
    with nogil:
        if double_precision:
            mg_softmax_rows_f64(<const double*>src, <double*>dst, rows, n)
        else:
            mg_softmax_rows_f32(<const float*>src, <float*>dst, rows, n)
    return out


cdef object _rows(object x, str fn, str name):
    """x as a C-contiguous 2-D float array with a non-empty last axis (rows of classes)."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{fn}: {name} must be 2-D with a non-empty last axis, got shape {x.shape}")
    return float_array(x, fn, name, 2)


cdef object _checked_labels(object labels, object logits, str fn):
    """labels as a C-contiguous int64 vector of one class index per row of the 2-D logits, each in
    [0, classes)."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(f"{fn}: labels of shape {labels.shape} must hold one class index per row of logits "
                         f"of shape {logits.shape}")
    cdef const long long[::1] lv = labels
    cdef Py_ssize_t r, rows = lv.shape[0], classes = logits.shape[1]
    cdef bint bad = False
    with nogil:
        for r in range(rows):
            if lv[r] < 0 or lv[r] >= classes:
                bad = True
                break
    if bad:
        raise ValueError(f"{fn}: sparse labels must lie in [0, {classes}), got values from {labels.min()} to "
                         f"{labels.max()}")
    return labels


def sparse_xent_forward(logits, labels):
    """(loss, probs) of the sparse softmax cross-entropy over 2-D logits (rows, classes >= 1) and one int
    class index per row: probs = softmax(logits) (softmax_forward's bits), loss[r] = -log_softmax(logits)[r,
    labels[r]] in the log-sum-exp form (finite where the probability underflows).  float64 stays float64,
    other numeric dtypes become float32."""
    fn = "sparse_xent_forward"
    logits = _rows(logits, fn, "logits")
    labels = _checked_labels(labels, logits, fn)
    probs = np.empty_like(logits)
    loss = np.empty(logits.shape[0], logits.dtype)
    cdef Py_ssize_t rows = logits.shape[0], n = logits.shape[1]
    cdef void* src = cnp.PyArray_DATA(<cnp.ndarray>logits)
    cdef void* dst = cnp.PyArray_DATA(<cnp.ndarray>probs)
    cdef void* per_row = cnp.PyArray_DATA(<cnp.ndarray>loss)
    cdef const long long* lp = <const long long*>cnp.PyArray_DATA(<cnp.ndarray>labels)
    cdef bint double_precision = logits.dtype == np.float64
    with nogil:
        if double_precision:
            mg_sparse_xent_rows_f64(<const double*>src, lp, <double*>dst, <double*>per_row, rows, n)
        else:
            mg_sparse_xent_rows_f32(<const float*>src, lp, <float*>dst, <float*>per_row, rows, n)
    return loss, probs


def sparse_xent_backward(probs, labels, g):
    """The logits' gradient of sparse_xent_forward: (probs - one_hot(labels)) * g[:, None], one pass; probs
    as that call returned them (2-D), g one value per row."""
    fn = "sparse_xent_backward"
    probs = _rows(probs, fn, "probs")
    labels = _checked_labels(labels, probs, fn)
    g = float_array(np.reshape(g, -1), fn, "g", 1, probs.dtype)
    if g.shape[0] != probs.shape[0]:
        raise ValueError(f"{fn}: g of shape {g.shape} must hold one value per row of probs {probs.shape}")
    out = np.empty_like(probs)
    if probs.dtype == np.float64:
        _xent_grad[double](probs, labels, g, out)
    else:
        _xent_grad[float](probs, labels, g, out)
    return out


cdef void _xent_grad(const floating[:, ::1] probs, const long long[::1] labels, const floating[::1] g,
                     floating[:, ::1] out) noexcept:
    cdef Py_ssize_t r, j, rows = probs.shape[0], n = probs.shape[1]
    cdef floating w
    with nogil:
        for r in range(rows):
            w = g[r]
            for j in range(n):
                out[r, j] = probs[r, j] * w
            out[r, labels[r]] = (probs[r, labels[r]] - 1) * w
