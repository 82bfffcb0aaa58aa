"""softmax over the last axis (see csrc/API.md, section softmax): the forward of ops.softmax in one pass
per row, instead of numpy's five (max, subtract, exp, sum, divide), each with its own call overhead."""
import numpy as np
cimport numpy as cnp

from _kernel_common cimport float_array
from softmax_rows cimport mg_softmax_rows_f32, mg_softmax_rows_f64

cnp.import_array()

__all__ = ["softmax_forward"]


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
