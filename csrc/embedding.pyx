"""Embedding lookup and its gradient (see csrc/API.md, embedding).

Every id is checked against [0, input_dim) before any row is read, so the gather never reads outside the
table.  The gradient is a scatter-add made deterministic by a counting sort: the positions are grouped by
id (stable, so in position order), and each table row is then summed by one thread from its own positions
only: no two threads add into one row, and every row's sum has the same order on any thread count.
"""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

import numpy as np

from _kernel_common cimport float_array, threads_for

__all__ = ["embedding_forward", "embedding_backward"]

# Table rows per dynamically scheduled chunk of the gradient's loop: most rows of a large vocabulary get no
# ids, and one row at a time would spend more on scheduling than on the rows.
cdef Py_ssize_t ROWS_PER_CHUNK = 64


cdef object _checked_ids(str fn, object ids, Py_ssize_t input_dim):
    """ids (any integer dtype, or floats holding integers) as a flat intp array, every id in [0, input_dim)."""
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iuf":
        raise ValueError(f"{fn}: ids must be integers (or floats holding integers), got dtype {ids.dtype} with "
                         f"shape {ids.shape}")
    flat = ids.reshape(-1)
    if ids.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(flat) | (flat != np.trunc(flat))
        if bad.any():
            i = int(bad.argmax())
            raise ValueError(f"{fn}: ids must hold integers, got {flat[i]!r} at index "
                             f"{tuple(int(k) for k in np.unravel_index(i, ids.shape))}")
    outside = (flat < 0) | (flat >= input_dim)
    if outside.any():
        i = int(outside.argmax())
        value = flat[i].item()
        raise ValueError(f"{fn}: id {int(value) if ids.dtype.kind == 'f' else value} at index "
                         f"{tuple(int(k) for k in np.unravel_index(i, ids.shape))} is outside [0, input_dim) = "
                         f"[0, {input_dim})")
    return flat.astype(np.intp)


def _gather(const Py_ssize_t[::1] ids, const floating[:, ::1] table, floating[:, ::1] out):
    cdef Py_ssize_t n = ids.shape[0], dim = table.shape[1], i
    with nogil:
        for i in prange(n, num_threads=threads_for(n, n * dim), schedule="static"):
            memcpy(&out[i, 0], &table[ids[i], 0], dim * sizeof(floating))


def _counting_order(const Py_ssize_t[::1] ids, const Py_ssize_t[::1] starts):
    """The positions grouped by id, each group in position order: group r fills [starts[r], starts[r + 1])
    (starts: the running counts of the ids).  One pass, where a general sort would take n log n."""
    cdef Py_ssize_t n = ids.shape[0], p
    next_slot = np.array(starts[:starts.shape[0] - 1], np.intp)
    order = np.empty(n, np.intp)
    cdef Py_ssize_t[::1] slot = next_slot, out = order
    with nogil:
        for p in range(n):
            out[slot[ids[p]]] = p
            slot[ids[p]] += 1
    return order


def _scatter_add(const Py_ssize_t[::1] order, const Py_ssize_t[::1] starts, const floating[:, ::1] d_out,
                 floating[:, ::1] d_table):
    """d_table[r] = sum of d_out[order[p]] for p in [starts[r], starts[r + 1]), in that order, every row
    written (zero when no id names it)."""
    cdef Py_ssize_t rows = d_table.shape[0], dim = d_table.shape[1], n = order.shape[0], r, p, j
    cdef floating* dst
    cdef const floating* src
    with nogil:
        for r in prange(rows, num_threads=threads_for(rows, (rows + n) * dim), schedule="dynamic",
                        chunksize=ROWS_PER_CHUNK):
            dst = &d_table[r, 0]
            memset(dst, 0, dim * sizeof(floating))
            for p in range(starts[r], starts[r + 1]):
                src = &d_out[order[p], 0]
                for j in range(dim):
                    dst[j] += src[j]


def embedding_forward(ids, table):
    """table[ids]: ids of any shape (any integer dtype, or floats holding integers), table (input_dim,
    output_dim) -> ids.shape + (output_dim,).  An id outside [0, input_dim) raises ValueError."""
    fn = "embedding_forward"
    table = float_array(table, fn, "table", 2)
    shape = np.shape(ids)
    flat = _checked_ids(fn, ids, table.shape[0])
    out = np.empty((flat.shape[0], table.shape[1]), table.dtype)
    if flat.shape[0] and table.shape[1]:
        _gather(flat, table, out)
    return out.reshape(shape + (table.shape[1],))


def embedding_backward(ids, d_out, input_dim):
    """The table's gradient: d_table[r] = the sum of d_out over the positions whose id is r, d_out shaped
    ids.shape + (output_dim,) -> (input_dim, output_dim), d_out's float dtype.  Deterministic on any
    thread count."""
    fn = "embedding_backward"
    if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)) or input_dim < 1:
        raise ValueError(f"{fn}: input_dim must be a positive integer, got {input_dim!r}")
    input_dim = int(input_dim)
    shape = np.shape(ids)
    d_out = float_array(d_out, fn, "d_out", len(shape) + 1)
    if d_out.shape[:len(shape)] != shape:
        raise ValueError(f"{fn}: d_out must be ids.shape + (output_dim,), got d_out {d_out.shape} for ids "
                         f"{shape}")
    dim = d_out.shape[len(shape)]
    flat = _checked_ids(fn, ids, input_dim)
    d_table = np.empty((input_dim, dim), d_out.dtype)
    if dim == 0:
        return d_table
    starts = np.zeros(input_dim + 1, np.intp)
    np.cumsum(np.bincount(flat, minlength=input_dim), out=starts[1:])
    order = _counting_order(flat, starts)
    _scatter_add(order, starts, d_out.reshape(flat.shape[0], dim), d_table)
    return d_table
