"""Recurrent kernels: LSTM, GRU and SimpleRNN forward and backward through time (see csrc/API.md, rnn).

Inputs and outputs are batch-major, (batch, time, ...), as Keras's are; the work arrays are time-major, so
that each step's rows are one contiguous block.  A forward pass projects every timestep's input at once
(x (time * batch, in) @ kernel, one product), then per step adds h_{t-1} @ recurrent_kernel into that step's
block and runs the gate epilogue row by row: activations, cell update and mask select in one pass.  It keeps
the gate activations and the state entering every step, stacked as (time * batch, units) matrices, so that
the backward pass, which runs the gate gradients the same way (per step one product with the transposed
recurrent kernel), ends with the weights' products over all steps: [d kernel; d recurrent_kernel; d bias] =
[X | H_prev | 1]^T @ dGates, one product where both kernels see the same gate gradients (dGates, the largest
operand, is then packed once), and dx = dGates @ kernel^T.

Masking follows Keras's backend.rnn: a masked step carries every state over unchanged; its output is the
previous step's output (zero before the first unmasked step), or zero under zero_output_for_mask.

The per-step products are the same recurrent kernel at every step: in float32 it is packed once per sequence
and multiplied on the register tiles of rnn_gemm.h (BLAS would pack it again at every step); float64 and the
whole-sequence products use BLAS.  A batch row's steps depend only on that row's earlier steps, so on the
packed path the batch is cut into blocks of whole tile rows, one per OpenMP thread, and each thread runs its
block through the whole sequence: one parallel region per sequence rather than a fork and join per step.
Each output element is summed in a fixed order whatever block its row falls in, so the results do not depend
on the OpenMP thread count.  BLAS runs outside OpenMP regions: on its path the batch is one block.
"""
from cython cimport floating
from cython.parallel cimport prange

import numpy as np

from _blas cimport gemm, gemm_bias_relu
from _kernel_common cimport float_array
from _openmp_helpers cimport mg_omp_max_threads, parallel_threads

from minigraph.kernels.bias import bias_relu_backward

__all__ = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_rnn_forward",
           "simple_rnn_backward", "RecurrentCache", "ACTIVATIONS"]

cdef extern from "rnn_act.h" nogil:
    ctypedef enum mg_rnn_act:
        MG_ACT_LINEAR
        MG_ACT_TANH
        MG_ACT_SIGMOID
        MG_ACT_HARD_SIGMOID
        MG_ACT_HARD_SIGMOID_KERAS3
        MG_ACT_RELU
    void mg_rnn_act_f32(int kind, float* p, Py_ssize_t n)
    void mg_rnn_act_f64(int kind, double* p, Py_ssize_t n)
    void mg_rnn_act_grad_f32(int kind, const float* y, float* g, Py_ssize_t n)
    void mg_rnn_act_grad_f64(int kind, const double* y, double* g, Py_ssize_t n)

cdef extern from "rnn_cells.h" nogil:
    void mg_lstm_forward_row_f32(Py_ssize_t u, int act, int rec_act, float* g, const float* cin, float* hout,
                                 float* cout, float* y, float* tmp)
    void mg_lstm_forward_row_f64(Py_ssize_t u, int act, int rec_act, double* g, const double* cin, double* hout,
                                 double* cout, double* y, double* tmp)
    void mg_lstm_backward_row_f32(Py_ssize_t u, int act, int rec_act, const float* g, const float* cin,
                                  const float* cout, const float* dy, float* dh, float* dc, float* dg, float* a,
                                  float* da)
    void mg_lstm_backward_row_f64(Py_ssize_t u, int act, int rec_act, const double* g, const double* cin,
                                  const double* cout, const double* dy, double* dh, double* dc, double* dg,
                                  double* a, double* da)
    void mg_gru_gates_row_f32(Py_ssize_t u, int rec_act, float* g, const float* rec, const float* rbias,
                              const float* hin, float* rh, int reset_after)
    void mg_gru_gates_row_f64(Py_ssize_t u, int rec_act, double* g, const double* rec, const double* rbias,
                              const double* hin, double* rh, int reset_after)
    void mg_gru_update_row_f32(Py_ssize_t u, int act, float* g, const float* hin, float* hout, float* y)
    void mg_gru_update_row_f64(Py_ssize_t u, int act, double* g, const double* hin, double* hout, double* y)
    void mg_gru_backward_row_f32(Py_ssize_t u, int act, int rec_act, const float* g, const float* hin,
                                 const float* rh, const float* dy, float* dh, float* dg, float* drec,
                                 int reset_after)
    void mg_gru_backward_row_f64(Py_ssize_t u, int act, int rec_act, const double* g, const double* hin,
                                 const double* rh, const double* dy, double* dh, double* dg, double* drec,
                                 int reset_after)
    void mg_gru_reset_grad_row_f32(Py_ssize_t u, int rec_act, const float* g, const float* hin, const float* drh,
                                   float* dh, float* dg)
    void mg_gru_reset_grad_row_f64(Py_ssize_t u, int rec_act, const double* g, const double* hin,
                                   const double* drh, double* dh, double* dg)

cdef extern from "rnn_gemm.h" nogil:
    int mg_cpu_has_v4()
    Py_ssize_t mg_rg_packed_size(Py_ssize_t k, Py_ssize_t n, int wide)
    void mg_rg_pack(const float* b, Py_ssize_t ldb, int trans, Py_ssize_t k, Py_ssize_t n, int wide, float* p)
    void mg_rg_gemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float* a, Py_ssize_t lda, const float* packed,
                    int wide, float* c, Py_ssize_t ldc, int nthreads)

# The activation names the kernels take, and their C enum; 'hard_sigmoid' is Keras 2's (tf_keras) formula.
ACTIVATIONS = {
    "linear": MG_ACT_LINEAR,
    "tanh": MG_ACT_TANH,
    "sigmoid": MG_ACT_SIGMOID,
    "hard_sigmoid": MG_ACT_HARD_SIGMOID,
    "hard_sigmoid_keras3": MG_ACT_HARD_SIGMOID_KERAS3,
    "relu": MG_ACT_RELU,
}


cdef inline void _act(mg_rnn_act kind, floating* p, Py_ssize_t n) noexcept nogil:
    if floating is float:
        mg_rnn_act_f32(kind, p, n)
    else:
        mg_rnn_act_f64(kind, p, n)


cdef inline void _act_grad(mg_rnn_act kind, const floating* y, floating* g, Py_ssize_t n) noexcept nogil:
    """g *= f'(x) where y = f(x)."""
    if floating is float:
        mg_rnn_act_grad_f32(kind, y, g, n)
    else:
        mg_rnn_act_grad_f64(kind, y, g, n)


cdef inline bint _active(const unsigned char* mask, Py_ssize_t b, Py_ssize_t t, Py_ssize_t T) noexcept nogil:
    """Whether row b's step t runs the cell (no mask, or the mask is set)."""
    return mask == NULL or mask[b * T + t] != 0


cdef inline bint _output_carried(const unsigned char* mask, const Py_ssize_t* first, Py_ssize_t b,
                                 Py_ssize_t t, bint zero_out) noexcept nogil:
    """At a masked step: whether the output is the previous output (h_{t-1}, which is the last unmasked
    step's h) rather than zero.  Before row b's first unmasked step the previous output is Keras's zeros."""
    return not zero_out and t > first[b]


cdef inline floating* _state_out(floating* seq, floating* last, Py_ssize_t b, Py_ssize_t t, Py_ssize_t T,
                                 Py_ssize_t B, Py_ssize_t u) noexcept nogil:
    """Where step t writes row b's new state: the slot of the state entering step t + 1 (seq is time-major),
    or after the last step the final state."""
    return seq + ((t + 1) * B + b) * u if t + 1 < T else last + b * u


cdef inline void _carry(const floating* state_in, floating* state_out, Py_ssize_t u) noexcept nogil:
    cdef Py_ssize_t j
    if state_out != state_in:
        for j in range(u):
            state_out[j] = state_in[j]


cdef inline void _masked_output(const floating* h_in, floating* y, Py_ssize_t u, bint carried) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(u):
        y[j] = h_in[j] if carried else 0


cdef inline void _masked_grad(floating* dgates, Py_ssize_t width, floating* dh, const floating* dy,
                              Py_ssize_t u, bint carried) noexcept nogil:
    """A masked step's backward: no gate gradient; dh flows through unchanged, plus dy when the output was
    the carried h."""
    cdef Py_ssize_t j
    for j in range(width):
        dgates[j] = 0
    if carried:
        for j in range(u):
            dh[j] += dy[j]


def _gemm_into(bint trans_a, bint trans_b, const floating[:, ::1] a, const floating[:, ::1] b, floating[:, ::1] c,
               const floating[::1] bias=None):
    """c = op(a) @ op(b) (+ bias on every row, written per slab by the thread that computes it) on the shared
    BLAS gemm (shapes checked by the callers).  The sequence products are tall and thin (batch * time rows):
    BLAS's blocking suits them better than the dense kernels' direct tiles."""
    cdef int m = c.shape[0], n = c.shape[1], k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    with nogil:
        gemm_bias_relu(trans_a, trans_b, m, n, k, &a[0, 0] if k else NULL, <int>a.shape[1],
                       &b[0, 0] if k else NULL, <int>b.shape[1], &c[0, 0], n, &bias[0] if bias is not None else NULL,
                       False)


cdef object _matmul(object a, object b, bint trans_a=False, bint trans_b=False):
    """op(a) @ op(b) for C-contiguous matrices of one float dtype."""
    c = np.empty((a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1]), a.dtype)
    _gemm_into(trans_a, trans_b, a, b, c)
    return c



# ---- the per-step products with the recurrent kernel ----------------------------------------------------------

cdef bint _direct = True  # float32 step products on the packed panels of csrc/rnn_gemm.h (else BLAS)
cdef int _wide = -1  # the 16-lane panels (x86-64-v4); -1 until asked


def _set_direct(bint flag):
    """Run the float32 per-step products through BLAS (False) or the packed kernels (True, the default):
    for tests and benchmarks.  Returns the previous setting."""
    global _direct
    old, _direct = _direct, flag
    return old


cdef struct StepProduct:
    # c += a @ op(b) at every step: b the recurrent kernel's columns [col0, col0 + width) as stored (BLAS
    # path), op(b) (k, n); packed: their panels (float32 direct path) or NULL
    const void* b
    int ldb, k, n, wide, nthreads
    bint trans
    const float* packed


cdef struct RowBlocks:
    # the batch cut into `count` blocks of `rows` rows (the last one shorter), one thread each
    Py_ssize_t count, rows


cdef floating[:, ::1] _scratch(RowBlocks blocks, Py_ssize_t n, floating* like):
    """n elements of work space per block, of `like`'s type."""
    return np.empty((blocks.count, n), np.float32 if floating is float else np.float64)


cdef RowBlocks _row_blocks(StepProduct* p, Py_ssize_t batch, StepProduct* second=NULL):
    """The blocks of the batch for the threads, on the packed path (else one block), each a whole number of
    tile rows.  With several blocks each thread's products (p's, and second's when a step has two, packed
    alike) run on that thread alone."""
    cdef RowBlocks blocks
    cdef Py_ssize_t tile = 8 if p.wide else 6
    blocks.count, blocks.rows = 1, batch
    if p.packed != NULL:
        blocks.count = parallel_threads(batch // tile)
    if blocks.count > 1:
        blocks.rows = ((batch + blocks.count - 1) // blocks.count + tile - 1) // tile * tile
        blocks.count = (batch + blocks.rows - 1) // blocks.rows
        p.nthreads = 1
        if second != NULL:
            second.nthreads = 1
    return blocks


cdef object _step_product(StepProduct* p, const floating[:, ::1] U, Py_ssize_t col0, Py_ssize_t width,
                          bint trans, Py_ssize_t batch):
    """Fill p for the steps' products with U[:, col0:col0 + width] (trans: its transpose).  Returns the array
    p.packed points into (the caller keeps it alive over the steps), or None on the BLAS path (float64, or
    _set_direct(False))."""
    global _wide
    cdef float[::1] panels
    p.b, p.ldb, p.trans = &U[0, col0], <int>U.shape[1], trans
    p.k, p.n = (<int>width, <int>U.shape[0]) if trans else (<int>U.shape[0], <int>width)
    p.packed, p.wide, p.nthreads = NULL, 0, 1
    if floating is float:
        if _direct and batch > 1:  # one row: BLAS's gemv streams the kernel once, as fast as any packing
            if _wide < 0:
                _wide = mg_cpu_has_v4()
            # the 16-lane tiles are 8 rows high: a smaller batch would waste most of each tile
            p.wide = _wide and batch >= 8
            buf = np.empty(mg_rg_packed_size(p.k, p.n, p.wide), np.float32)
            panels = buf
            mg_rg_pack(&U[0, col0], p.ldb, trans, p.k, p.n, p.wide, &panels[0])
            p.packed, p.nthreads = &panels[0], mg_omp_max_threads()
            return buf
    return None


cdef inline void _step(const StepProduct* p, Py_ssize_t m, const floating* a, Py_ssize_t lda, bint accumulate,
                       floating* c, Py_ssize_t ldc) noexcept nogil:
    """c (m, n) = a (m, k) @ op(b), added to c when accumulate."""
    cdef Py_ssize_t i, j
    if floating is float:
        if p.packed != NULL:
            if not accumulate:
                for i in range(m):
                    for j in range(p.n):
                        c[i * ldc + j] = 0
            mg_rg_gemm(m, p.n, p.k, a, lda, p.packed, p.wide, c, ldc, p.nthreads)
            return
    gemm(False, p.trans, <int>m, p.n, p.k, 1, a, <int>lda, <const floating*>p.b, p.ldb, 1 if accumulate else 0,
         c, <int>ldc)


cdef struct StepMask:
    const unsigned char* mask  # (batch, time), NULL: no mask
    const Py_ssize_t* first  # each row's first unmasked step


cdef StepMask _step_mask(const unsigned char[:, ::1] mask_view, const Py_ssize_t[::1] first_view):
    cdef StepMask m
    m.mask = &mask_view[0, 0] if mask_view is not None else NULL
    m.first = &first_view[0] if mask_view is not None else NULL
    return m


# ---- forward steps (the sequence's input projection already in `gates`) -------------------------------------

def _lstm_forward_steps(floating[:, :, ::1] gates, const floating[:, ::1] U, floating[:, :, ::1] h_prev,
                        floating[:, :, ::1] c_prev, floating[:, ::1] h_last, floating[:, ::1] c_last,
                        floating[:, :, ::1] y, const unsigned char[:, ::1] mask_view,
                        const Py_ssize_t[::1] first_view, int act_, int rec_act_, bint zero_out):
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], u = U.shape[0], G = 4 * u
    cdef Py_ssize_t t, b, blk, b0, b1
    cdef mg_rnn_act act = <mg_rnn_act>act_, rec_act = <mg_rnn_act>rec_act_
    cdef floating *g
    cdef floating *hin
    cdef floating *cin
    cdef floating *hout
    cdef floating *cout
    cdef floating *yr
    cdef floating *tmp
    cdef StepMask m = _step_mask(mask_view, first_view)
    cdef StepProduct rec
    panels = _step_product(&rec, U, 0, G, False, B)
    cdef RowBlocks blocks = _row_blocks(&rec, B)
    cdef floating[:, ::1] scratch = _scratch(blocks, u, &gates[0, 0, 0])
    for blk in prange(blocks.count, nogil=True, num_threads=blocks.count, schedule="static"):
        b0, tmp = blk * blocks.rows, &scratch[blk, 0]
        b1 = min(B, b0 + blocks.rows)
        for t in range(T):
            _step(&rec, b1 - b0, &h_prev[t, b0, 0], u, True, &gates[t, b0, 0], G)
            for b in range(b0, b1):
                g = &gates[t, b, 0]
                hin, cin = &h_prev[t, b, 0], &c_prev[t, b, 0]
                hout = _state_out(&h_prev[0, 0, 0], &h_last[0, 0], b, t, T, B, u)
                cout = _state_out(&c_prev[0, 0, 0], &c_last[0, 0], b, t, T, B, u)
                yr = &y[b, t, 0]
                if not _active(m.mask, b, t, T):
                    _carry(hin, hout, u)
                    _carry(cin, cout, u)
                    _masked_output(hin, yr, u, _output_carried(m.mask, m.first, b, t, zero_out))
                    continue
                if floating is float:
                    mg_lstm_forward_row_f32(u, act, rec_act, g, cin, hout, cout, yr, tmp)
                else:
                    mg_lstm_forward_row_f64(u, act, rec_act, g, cin, hout, cout, yr, tmp)


def _gru_forward_steps(floating[:, :, ::1] gates, const floating[:, ::1] U, const floating[::1] rbias,
                       floating[:, :, ::1] h_prev, floating[:, ::1] h_last, floating[:, :, ::1] rec_h,
                       floating[:, :, ::1] y, const unsigned char[:, ::1] mask_view,
                       const Py_ssize_t[::1] first_view, floating[:, ::1] rec, int act_, int rec_act_,
                       bint zero_out, bint reset_after):
    """reset_after: rec_h caches h_{t-1} @ U_h + b_h (scaled by r inside the candidate); else r * h_{t-1}
    (the operand of the candidate's own product)."""
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], u = U.shape[0], G = 3 * u
    cdef Py_ssize_t t, b, blk, b0, b1
    cdef mg_rnn_act act = <mg_rnn_act>act_, rec_act = <mg_rnn_act>rec_act_
    cdef floating *g
    cdef floating *hin
    cdef floating *hout
    cdef floating *rh
    cdef floating *r
    cdef StepMask m = _step_mask(mask_view, first_view)
    cdef StepProduct gates_rec, cand_rec  # reset_after: all of U; else U_z|U_r, then U_h
    panels = _step_product(&gates_rec, U, 0, G if reset_after else 2 * u, False, B)
    cand_panels = _step_product(&cand_rec, U, 2 * u, u, False, B)
    cdef RowBlocks blocks = _row_blocks(&gates_rec, B, &cand_rec)
    for blk in prange(blocks.count, nogil=True, num_threads=blocks.count, schedule="static"):
        b0 = blk * blocks.rows
        b1 = min(B, b0 + blocks.rows)
        for t in range(T):
            if reset_after:
                _step(&gates_rec, b1 - b0, &h_prev[t, b0, 0], u, False, &rec[b0, 0], G)
            else:  # z and r: their recurrent part straight into the projection
                _step(&gates_rec, b1 - b0, &h_prev[t, b0, 0], u, True, &gates[t, b0, 0], G)
            for b in range(b0, b1):
                g, hin, rh, r = &gates[t, b, 0], &h_prev[t, b, 0], &rec_h[t, b, 0], &rec[b, 0]
                if floating is float:
                    mg_gru_gates_row_f32(u, rec_act, g, r, &rbias[0], hin, rh, reset_after)
                else:
                    mg_gru_gates_row_f64(u, rec_act, g, r, &rbias[0], hin, rh, reset_after)
            if not reset_after:  # the candidate's recurrent part: (r * h_{t-1}) @ U_h
                _step(&cand_rec, b1 - b0, &rec_h[t, b0, 0], u, True, &gates[t, b0, 2 * u], G)
            for b in range(b0, b1):
                g, hin = &gates[t, b, 0], &h_prev[t, b, 0]
                hout = _state_out(&h_prev[0, 0, 0], &h_last[0, 0], b, t, T, B, u)
                if not _active(m.mask, b, t, T):
                    _carry(hin, hout, u)
                    _masked_output(hin, &y[b, t, 0], u, _output_carried(m.mask, m.first, b, t, zero_out))
                    continue
                if floating is float:
                    mg_gru_update_row_f32(u, act, g, hin, hout, &y[b, t, 0])
                else:
                    mg_gru_update_row_f64(u, act, g, hin, hout, &y[b, t, 0])


def _simple_rnn_forward_steps(floating[:, :, ::1] gates, const floating[:, ::1] U, floating[:, :, ::1] h_prev,
                              floating[:, ::1] h_last, floating[:, :, ::1] y, const unsigned char[:, ::1] mask_view,
                              const Py_ssize_t[::1] first_view, int act_, bint zero_out):
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], u = U.shape[0]
    cdef Py_ssize_t t, b, j, blk, b0, b1
    cdef mg_rnn_act act = <mg_rnn_act>act_
    cdef floating *g
    cdef floating *hin
    cdef floating *hout
    cdef StepMask m = _step_mask(mask_view, first_view)
    cdef StepProduct rec
    panels = _step_product(&rec, U, 0, u, False, B)
    cdef RowBlocks blocks = _row_blocks(&rec, B)
    for blk in prange(blocks.count, nogil=True, num_threads=blocks.count, schedule="static"):
        b0 = blk * blocks.rows
        b1 = min(B, b0 + blocks.rows)
        for t in range(T):
            _step(&rec, b1 - b0, &h_prev[t, b0, 0], u, True, &gates[t, b0, 0], u)
            for b in range(b0, b1):
                g, hin = &gates[t, b, 0], &h_prev[t, b, 0]
                hout = _state_out(&h_prev[0, 0, 0], &h_last[0, 0], b, t, T, B, u)
                if not _active(m.mask, b, t, T):
                    _carry(hin, hout, u)
                    _masked_output(hin, &y[b, t, 0], u, _output_carried(m.mask, m.first, b, t, zero_out))
                    continue
                _act(act, g, u)
                for j in range(u):
                    hout[j] = g[j]
                    y[b, t, j] = g[j]


# ---- backward steps: dgates filled, dh (and dc) in: d(final state), out: d(initial state) ------------------

def _lstm_backward_steps(const floating[:, :, ::1] gates, const floating[:, ::1] U,
                         const floating[:, :, ::1] c_prev, const floating[:, ::1] c_last,
                         const floating[:, :, ::1] dy, floating[:, :, ::1] dgates, floating[:, ::1] dh,
                         floating[:, ::1] dc, const unsigned char[:, ::1] mask_view,
                         const Py_ssize_t[::1] first_view, int act_, int rec_act_, bint zero_out):
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], u = U.shape[0], G = 4 * u
    cdef Py_ssize_t t, b, blk, b0, b1
    cdef mg_rnn_act act = <mg_rnn_act>act_, rec_act = <mg_rnn_act>rec_act_
    cdef const floating *g
    cdef const floating *cin
    cdef const floating *cout
    cdef const floating *dyr
    cdef floating *dg
    cdef floating *dhb
    cdef floating *dcb
    cdef floating *a  # act(c_t)
    cdef floating *da  # d act(c_t), then d c_t through h
    cdef StepMask m = _step_mask(mask_view, first_view)
    cdef StepProduct rec_t  # dgates @ U^T
    panels = _step_product(&rec_t, U, 0, G, True, B)
    cdef RowBlocks blocks = _row_blocks(&rec_t, B)
    cdef floating[:, ::1] scratch = _scratch(blocks, 2 * u, &dgates[0, 0, 0])
    for blk in prange(blocks.count, nogil=True, num_threads=blocks.count, schedule="static"):
        b0, a = blk * blocks.rows, &scratch[blk, 0]
        b1, da = min(B, b0 + blocks.rows), &scratch[blk, u]
        for t in range(T - 1, -1, -1):
            for b in range(b0, b1):
                g, dg, dyr, dhb, dcb = &gates[t, b, 0], &dgates[t, b, 0], &dy[b, t, 0], &dh[b, 0], &dc[b, 0]
                if not _active(m.mask, b, t, T):
                    _masked_grad(dg, G, dhb, dyr, u, _output_carried(m.mask, m.first, b, t, zero_out))
                    continue
                cin = &c_prev[t, b, 0]
                cout = &c_prev[t + 1, b, 0] if t + 1 < T else &c_last[b, 0]
                if floating is float:  # dh comes back zero: the product below adds dgates @ U^T
                    mg_lstm_backward_row_f32(u, act, rec_act, g, cin, cout, dyr, dhb, dcb, dg, a, da)
                else:
                    mg_lstm_backward_row_f64(u, act, rec_act, g, cin, cout, dyr, dhb, dcb, dg, a, da)
            _step(&rec_t, b1 - b0, &dgates[t, b0, 0], G, True, &dh[b0, 0], u)


def _gru_backward_steps(const floating[:, :, ::1] gates, const floating[:, ::1] U,
                        const floating[:, :, ::1] h_prev, const floating[:, :, ::1] rec_h,
                        const floating[:, :, ::1] dy, floating[:, :, ::1] dgates, floating[:, :, ::1] drec,
                        floating[:, ::1] dh, const unsigned char[:, ::1] mask_view,
                        const Py_ssize_t[::1] first_view, floating[:, ::1] drh, int act_, int rec_act_,
                        bint zero_out, bint reset_after):
    """dgates: gradients of the input projection's pre-activations (z, r, candidate).  reset_after: drec gets
    those of h_{t-1} @ U + b_rec (the candidate's scaled by r); else drh (batch, units) holds, per step,
    the gradient of r * h_{t-1}."""
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], u = U.shape[0], G = 3 * u
    cdef Py_ssize_t t, b, blk, b0, b1
    cdef mg_rnn_act act = <mg_rnn_act>act_, rec_act = <mg_rnn_act>rec_act_
    cdef const floating *g
    cdef const floating *hin
    cdef const floating *rh
    cdef const floating *dyr
    cdef floating *dg
    cdef floating *dr
    cdef floating *dhb
    cdef StepMask m = _step_mask(mask_view, first_view)
    cdef StepProduct gates_t, cand_t  # reset_after: U^T; else (U_z|U_r)^T, then U_h^T
    panels = _step_product(&gates_t, U, 0, G if reset_after else 2 * u, True, B)
    cand_panels = _step_product(&cand_t, U, 2 * u, u, True, B)
    cdef RowBlocks blocks = _row_blocks(&gates_t, B, &cand_t)
    for blk in prange(blocks.count, nogil=True, num_threads=blocks.count, schedule="static"):
        b0 = blk * blocks.rows
        b1 = min(B, b0 + blocks.rows)
        for t in range(T - 1, -1, -1):
            for b in range(b0, b1):
                g, hin, dg, dyr, dhb = &gates[t, b, 0], &h_prev[t, b, 0], &dgates[t, b, 0], &dy[b, t, 0], &dh[b, 0]
                if not _active(m.mask, b, t, T):
                    _masked_grad(dg, G, dhb, dyr, u, _output_carried(m.mask, m.first, b, t, zero_out))
                    if reset_after:
                        _masked_grad(&drec[t, b, 0], G, dhb, dyr, u, False)
                    continue
                rh, dr = &rec_h[t, b, 0], &drec[t, b, 0]
                if floating is float:
                    mg_gru_backward_row_f32(u, act, rec_act, g, hin, rh, dyr, dhb, dg, dr, reset_after)
                else:
                    mg_gru_backward_row_f64(u, act, rec_act, g, hin, rh, dyr, dhb, dg, dr, reset_after)
            if reset_after:
                _step(&gates_t, b1 - b0, &drec[t, b0, 0], G, True, &dh[b0, 0], u)
                continue
            # d(r * h_{t-1}) = d candidate @ U_h^T, then r's gradient and h_{t-1}'s share through it
            _step(&cand_t, b1 - b0, &dgates[t, b0, 2 * u], G, False, &drh[b0, 0], u)
            for b in range(b0, b1):
                if not _active(m.mask, b, t, T):
                    continue
                g, hin, dg, dhb = &gates[t, b, 0], &h_prev[t, b, 0], &dgates[t, b, 0], &dh[b, 0]
                if floating is float:
                    mg_gru_reset_grad_row_f32(u, rec_act, g, hin, &drh[b, 0], dhb, dg)
                else:
                    mg_gru_reset_grad_row_f64(u, rec_act, g, hin, &drh[b, 0], dhb, dg)
            _step(&gates_t, b1 - b0, &dgates[t, b0, 0], G, True, &dh[b0, 0], u)


def _simple_rnn_backward_steps(const floating[:, :, ::1] gates, const floating[:, ::1] U,
                               const floating[:, :, ::1] dy, floating[:, :, ::1] dgates, floating[:, ::1] dh,
                               const unsigned char[:, ::1] mask_view, const Py_ssize_t[::1] first_view,
                               int act_, bint zero_out):
    cdef Py_ssize_t T = gates.shape[0], B = gates.shape[1], u = U.shape[0]
    cdef Py_ssize_t t, b, j, blk, b0, b1
    cdef mg_rnn_act act = <mg_rnn_act>act_
    cdef floating *dg
    cdef floating *dhb
    cdef const floating *dyr
    cdef StepMask m = _step_mask(mask_view, first_view)
    cdef StepProduct rec_t
    panels = _step_product(&rec_t, U, 0, u, True, B)
    cdef RowBlocks blocks = _row_blocks(&rec_t, B)
    for blk in prange(blocks.count, nogil=True, num_threads=blocks.count, schedule="static"):
        b0 = blk * blocks.rows
        b1 = min(B, b0 + blocks.rows)
        for t in range(T - 1, -1, -1):
            for b in range(b0, b1):
                dg, dyr, dhb = &dgates[t, b, 0], &dy[b, t, 0], &dh[b, 0]
                if not _active(m.mask, b, t, T):
                    _masked_grad(dg, u, dhb, dyr, u, _output_carried(m.mask, m.first, b, t, zero_out))
                    continue
                for j in range(u):
                    dg[j] = dhb[j] + dyr[j]
                    dhb[j] = 0
                _act_grad(act, &gates[t, b, 0], dg, u)
            _step(&rec_t, b1 - b0, &dgates[t, b0, 0], u, True, &dh[b0, 0], u)


# ---- Python API --------------------------------------------------------------------------------------------

cdef class RecurrentCache:
    """What a recurrent forward pass keeps for its backward pass; made only by the forward functions (its
    fields are read-only).  Arrays, time-major: x (time, batch, in), kernel, recurrent_kernel; gates (time,
    batch, n_gates * units): the gate activations of every step (LSTM i, f, c, o; GRU z, r, candidate;
    SimpleRNN the new h); h_prev (time, batch, units): the h entering each step; LSTM: c_prev likewise and
    c_last, the final c; GRU: rec_h (time, batch, units), h_{t-1} @ U_h + b_h under reset_after, else
    r * h_{t-1};
    step_mask (batch, time) uint8 or None and first_step (batch,), each row's first unmasked step."""
    cdef readonly str cell
    cdef readonly object x, kernel, recurrent_kernel, gates, h_prev, c_prev, c_last, rec_h, step_mask, first_step
    cdef readonly str activation, recurrent_activation
    cdef readonly bint zero_output_for_mask, has_bias, reset_after


cdef int _activation(str fn, str name, object value) except -1:
    if not isinstance(value, str) or value not in ACTIVATIONS:
        raise ValueError(f"{fn}: {name} must be one of {sorted(ACTIVATIONS)}, got {value!r}")
    return ACTIVATIONS[value]


cdef tuple _sequence_args(str fn, object x, object kernel, object recurrent_kernel, int n_gates, object mask):
    """x, kernel, recurrent_kernel checked and converted, the units, and the mask as (uint8 (batch, time) or
    None, each row's first unmasked step (time if none) or None)."""
    x = float_array(x, fn, "x", 3)
    kernel = float_array(kernel, fn, "kernel", 2, x.dtype)
    recurrent_kernel = float_array(recurrent_kernel, fn, "recurrent_kernel", 2, x.dtype)
    B, T, F = x.shape
    u = recurrent_kernel.shape[0]
    if u < 1 or recurrent_kernel.shape[1] != n_gates * u:
        raise ValueError(f"{fn}: recurrent_kernel must be (units, {n_gates} * units) with units >= 1, got "
                         f"shape {recurrent_kernel.shape}")
    if kernel.shape != (F, n_gates * u):
        raise ValueError(f"{fn}: kernel must be (features, {n_gates} * units) = {(F, n_gates * u)} for x "
                         f"{x.shape} and recurrent_kernel {recurrent_kernel.shape}, got {kernel.shape}")
    if max(B * T, F, n_gates * u) >= 2**31:
        raise ValueError(f"{fn}: x {x.shape} with kernel {kernel.shape} exceeds BLAS's int32 sizes")
    if mask is None:
        return x, kernel, recurrent_kernel, u, None, None
    mask = np.asarray(mask)
    if mask.dtype.kind not in "biu" or mask.shape != (B, T):
        raise ValueError(f"{fn}: mask must be a bool array of shape (batch, time) = {(B, T)} for x {x.shape}, "
                         f"got dtype {mask.dtype} with shape {mask.shape}")
    step_mask = np.ascontiguousarray(mask != 0, dtype=np.uint8)
    first = np.full(B, T, np.intp)
    if T:
        first = np.where(step_mask.any(axis=1), step_mask.argmax(axis=1), T).astype(np.intp)
    return x, kernel, recurrent_kernel, u, step_mask, first


cdef object _bias_vector(str fn, object bias, tuple shape, object dtype, str note=""):
    """bias as a C-contiguous array of `shape`, zeros when None (use_bias=False)."""
    if bias is None:
        return np.zeros(shape, dtype)
    if np.shape(bias) != shape:
        raise ValueError(f"{fn}: bias must have shape {shape}{note}, got {np.shape(bias)}")
    return float_array(bias, fn, "bias", len(shape), dtype)


cdef object _state(str fn, str name, object value, Py_ssize_t B, Py_ssize_t u, object dtype):
    """An initial state or a state gradient as a fresh C-contiguous (batch, units) array (zeros when None)."""
    if value is None:
        return np.zeros((B, u), dtype)
    s = float_array(value, fn, name, 2, dtype)
    if s.shape != (B, u):
        raise ValueError(f"{fn}: {name} must have shape (batch, units) = {(B, u)}, got {s.shape}")
    return s.copy()


cdef object _output_grad(str fn, object value, tuple shape, object dtype):
    if value is None:
        return np.zeros(shape, dtype)
    d = float_array(value, fn, "d_outputs", 3, dtype)
    if d.shape != shape:
        raise ValueError(f"{fn}: d_outputs must have the outputs' shape (batch, time, units) = {shape}, "
                         f"got {d.shape}")
    return d


cdef tuple _forward_buffers(object x, object kernel, object input_bias, Py_ssize_t u, object h0):
    """x time-major (time, batch, in), its projection (time, batch, n_gates * units), the outputs (batch,
    time, units) and the time-major stack of the states entering each step (h0 in its first slot).  Time-major
    makes each step's rows one contiguous block for its product."""
    B, T, F = x.shape
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))
    gates = np.empty((T, B, kernel.shape[1]), x.dtype)
    _gemm_into(False, False, x_tm.reshape(T * B, F), kernel, gates.reshape(T * B, kernel.shape[1]), input_bias)
    h_prev = np.empty((T, B, u), x.dtype)
    if T:
        h_prev[0] = h0
    return x_tm, gates, np.empty((B, T, u), x.dtype), h_prev


cdef RecurrentCache _new_cache(str cell, object x, object kernel, object recurrent_kernel, object gates,
                               object h_prev, object step_mask, object first, str activation,
                               str recurrent_activation, bint zero_out, bint has_bias):
    cdef RecurrentCache cache = RecurrentCache.__new__(RecurrentCache)
    cache.cell, cache.x, cache.kernel, cache.recurrent_kernel = cell, x, kernel, recurrent_kernel
    cache.gates, cache.h_prev, cache.step_mask, cache.first_step = gates, h_prev, step_mask, first
    cache.activation, cache.recurrent_activation = activation, recurrent_activation
    cache.zero_output_for_mask, cache.has_bias = zero_out, has_bias
    return cache


cdef RecurrentCache _cache_of(str fn, object cache, str cell):
    if not isinstance(cache, RecurrentCache) or (<RecurrentCache>cache).cell != cell:
        raise ValueError(f"{fn}: cache must be the RecurrentCache a {cell}_forward call returned, got "
                         f"{type(cache).__name__}")
    return <RecurrentCache>cache


cdef tuple _weight_grads(RecurrentCache cache, object dgates, object drec, object dU):
    """(dx, dkernel, drecurrent_kernel, dbias) from the per-step gate gradients: products over every step (one
    for all three weight gradients unless the recurrent one differs).  drec: the recurrent products'
    pre-activation gradients when they differ from dgates (GRU reset_after), else None; dU: the recurrent
    kernel's gradient when the caller computed it."""
    x = cache.x
    T, B, F = x.shape
    n = dgates.shape[2]
    dg2 = dgates.reshape(T * B, n)
    dx = np.ascontiguousarray(_matmul(dg2, cache.kernel, False, True).reshape(T, B, F).transpose(1, 0, 2))
    if drec is None and dU is None and F + cache.h_prev.shape[2] + 1 <= n:
        return (dx,) + _stacked_weight_grads(x, cache.h_prev, dg2, cache.has_bias)
    dkernel = _matmul(x.reshape(T * B, F), dg2, True)
    rec2 = dg2 if drec is None else drec.reshape(T * B, n)
    if dU is None:
        dU = _matmul(cache.h_prev.reshape(T * B, cache.h_prev.shape[2]), rec2, True)
    dbias = None
    if cache.has_bias:
        dbias = _column_sums(dg2)
        if drec is not None:
            dbias = np.stack([dbias, _column_sums(rec2)])
    return dx, dkernel, dU, dbias


cdef tuple _stacked_weight_grads(object x, object h_prev, object dg2, bint has_bias):
    """(dkernel, drecurrent_kernel, dbias or None) where both kernels see the same gate gradients: one product
    [x | h_prev | 1]^T @ dgates over every step, so that dgates (the largest operand) is packed for BLAS once
    rather than once per weight, and the bias's column sums ride along as the row of ones.  The caller takes
    this path only when the stacked copy is no wider than dgates, so it at most doubles what the backward
    already holds for dgates."""
    T, B, F = x.shape
    u = h_prev.shape[2]
    stacked = np.empty((T * B, F + u + has_bias), x.dtype)
    stacked[:, :F] = x.reshape(T * B, F)
    stacked[:, F:F + u] = h_prev.reshape(T * B, u)
    if has_bias:
        stacked[:, F + u] = 1
    grads = _matmul(stacked, dg2, True)
    return grads[:F], grads[F:F + u], grads[F + u] if has_bias else None


cdef object _column_sums(object a):
    if a.shape[0] == 0:
        return np.zeros(a.shape[1], a.dtype)
    return bias_relu_backward(a)[1]


cdef tuple _forward_args(str fn, object x, object kernel, object recurrent_kernel, int n_gates, object mask,
                         object activation, object recurrent_activation):
    """What every forward function checks first: (act, rec_act) enums, then _sequence_args's tuple."""
    acts = (_activation(fn, "activation", activation),
            _activation(fn, "recurrent_activation", recurrent_activation))
    return acts + _sequence_args(fn, x, kernel, recurrent_kernel, n_gates, mask)


cdef tuple _backward_args(str fn, object cache, str cell, object d_outputs, object d_h):
    """What every backward function starts from: (cache, dy (batch, time, u), dh (batch, u) fresh, dgates
    shaped like the cached gates)."""
    cdef RecurrentCache c = _cache_of(fn, cache, cell)
    T, B, u = c.h_prev.shape
    dtype = c.x.dtype
    return (c, _output_grad(fn, d_outputs, (B, T, u), dtype), _state(fn, "d_h", d_h, B, u, dtype),
            np.empty_like(c.gates))


def lstm_forward(x, kernel, recurrent_kernel, bias=None, h0=None, c0=None, mask=None, activation="tanh",
                 recurrent_activation="sigmoid", zero_output_for_mask=False):
    """Keras's LSTM over x (batch, time, in): kernel (in, 4u), recurrent_kernel (u, 4u), bias (4u,) or None,
    gate order i, f, c, o; h0, c0 (batch, u) or None (zeros); mask (batch, time) bool or None.
    -> (outputs (batch, time, u), h, c, cache) with h, c the final states."""
    fn = "lstm_forward"
    act, rec_act, x, kernel, recurrent_kernel, u, step_mask, first = _forward_args(
        fn, x, kernel, recurrent_kernel, 4, mask, activation, recurrent_activation)
    B, T = x.shape[0], x.shape[1]
    b = _bias_vector(fn, bias, (4 * u,), x.dtype)
    h0, c0 = _state(fn, "h0", h0, B, u, x.dtype), _state(fn, "c0", c0, B, u, x.dtype)
    x_tm, gates, y, h_prev = _forward_buffers(x, kernel, b, u, h0)
    c_prev = np.empty_like(h_prev)
    h_last, c_last = h0, c0
    if T and B:
        c_prev[0] = c0
        h_last, c_last = np.empty_like(h0), np.empty_like(c0)
        _lstm_forward_steps(gates, recurrent_kernel, h_prev, c_prev, h_last, c_last, y, step_mask, first, act,
                            rec_act, zero_output_for_mask)
    cache = _new_cache("lstm", x_tm, kernel, recurrent_kernel, gates, h_prev, step_mask, first, activation,
                       recurrent_activation, zero_output_for_mask, bias is not None)
    cache.c_prev, cache.c_last = c_prev, c_last
    return y, h_last, c_last, cache


def lstm_backward(cache, d_outputs=None, d_h=None, d_c=None):
    """Gradients of lstm_forward from d(outputs) and d(final h, c) (None: zeros)
    -> (dx, dh0, dc0, dkernel, drecurrent_kernel, dbias or None)."""
    fn = "lstm_backward"
    cdef RecurrentCache c
    c, dy, dh, dgates = _backward_args(fn, cache, "lstm", d_outputs, d_h)
    T, B, u = c.h_prev.shape
    dc = _state(fn, "d_c", d_c, B, u, c.x.dtype)
    if T and B:
        _lstm_backward_steps(c.gates, c.recurrent_kernel, c.c_prev, c.c_last, dy, dgates, dh, dc, c.step_mask,
                             c.first_step, ACTIVATIONS[c.activation],
                             ACTIVATIONS[c.recurrent_activation], c.zero_output_for_mask)
    dx, dkernel, drk, dbias = _weight_grads(c, dgates, None, None)
    return dx, dh, dc, dkernel, drk, dbias


def gru_forward(x, kernel, recurrent_kernel, bias=None, h0=None, mask=None, activation="tanh",
                recurrent_activation="sigmoid", reset_after=True, zero_output_for_mask=False):
    """Keras's GRU over x (batch, time, in): kernel (in, 3u), recurrent_kernel (u, 3u), gate order z, r, h;
    bias (2, 3u) [input; recurrent] under reset_after (the TF2 default), else (3u,); or None.
    -> (outputs (batch, time, u), h, cache)."""
    fn = "gru_forward"
    act, rec_act, x, kernel, recurrent_kernel, u, step_mask, first = _forward_args(
        fn, x, kernel, recurrent_kernel, 3, mask, activation, recurrent_activation)
    B, T = x.shape[0], x.shape[1]
    reset_after = bool(reset_after)
    b = _bias_vector(fn, bias, (2, 3 * u) if reset_after else (3 * u,), x.dtype, f" (reset_after={reset_after})")
    h0 = _state(fn, "h0", h0, B, u, x.dtype)
    x_tm, gates, y, h_prev = _forward_buffers(x, kernel, b[0] if reset_after else b, u, h0)
    rec_h = np.empty_like(h_prev)
    h_last = h0
    if T and B:
        h_last = np.empty_like(h0)
        _gru_forward_steps(gates, recurrent_kernel, b[1] if reset_after else b, h_prev, h_last, rec_h, y,
                           step_mask, first, np.empty((B, 3 * u), x.dtype), act, rec_act, zero_output_for_mask,
                           reset_after)
    cache = _new_cache("gru", x_tm, kernel, recurrent_kernel, gates, h_prev, step_mask, first, activation,
                       recurrent_activation, zero_output_for_mask, bias is not None)
    cache.rec_h, cache.reset_after = rec_h, reset_after
    return y, h_last, cache


def gru_backward(cache, d_outputs=None, d_h=None):
    """Gradients of gru_forward -> (dx, dh0, dkernel, drecurrent_kernel, dbias or None); dbias has the bias's
    shape ((2, 3u) under reset_after)."""
    fn = "gru_backward"
    cdef RecurrentCache c
    c, dy, dh, dgates = _backward_args(fn, cache, "gru", d_outputs, d_h)
    T, B, u = c.h_prev.shape
    drec = np.empty_like(c.gates) if c.reset_after else None
    if T and B:
        _gru_backward_steps(c.gates, c.recurrent_kernel, c.h_prev, c.rec_h, dy, dgates,
                            drec if c.reset_after else dgates, dh, c.step_mask, c.first_step,
                            np.empty((B, u), c.x.dtype), ACTIVATIONS[c.activation],
                            ACTIVATIONS[c.recurrent_activation], c.zero_output_for_mask, c.reset_after)
    dU = None
    if not c.reset_after:  # U_z, U_r act on h_{t-1}, U_h on r * h_{t-1}
        h2, rh2, dg2 = c.h_prev.reshape(T * B, u), c.rec_h.reshape(T * B, u), dgates.reshape(T * B, 3 * u)
        dU = np.concatenate([_matmul(h2, np.ascontiguousarray(dg2[:, :2 * u]), True),
                             _matmul(rh2, np.ascontiguousarray(dg2[:, 2 * u:]), True)], axis=1)
    dx, dkernel, drk, dbias = _weight_grads(c, dgates, drec, dU)
    return dx, dh, dkernel, drk, dbias


def simple_rnn_forward(x, kernel, recurrent_kernel, bias=None, h0=None, mask=None, activation="tanh",
                       zero_output_for_mask=False):
    """Keras's SimpleRNN over x (batch, time, in): kernel (in, u), recurrent_kernel (u, u), bias (u,) or None.
    -> (outputs (batch, time, u), h, cache)."""
    fn = "simple_rnn_forward"
    act, _, x, kernel, recurrent_kernel, u, step_mask, first = _forward_args(
        fn, x, kernel, recurrent_kernel, 1, mask, activation, activation)
    B, T = x.shape[0], x.shape[1]
    b = _bias_vector(fn, bias, (u,), x.dtype)
    h0 = _state(fn, "h0", h0, B, u, x.dtype)
    x_tm, gates, y, h_prev = _forward_buffers(x, kernel, b, u, h0)
    h_last = h0
    if T and B:
        h_last = np.empty_like(h0)
        _simple_rnn_forward_steps(gates, recurrent_kernel, h_prev, h_last, y, step_mask, first, act,
                                  zero_output_for_mask)
    cache = _new_cache("simple_rnn", x_tm, kernel, recurrent_kernel, gates, h_prev, step_mask, first, activation,
                       activation, zero_output_for_mask, bias is not None)
    return y, h_last, cache


def simple_rnn_backward(cache, d_outputs=None, d_h=None):
    """Gradients of simple_rnn_forward -> (dx, dh0, dkernel, drecurrent_kernel, dbias or None)."""
    fn = "simple_rnn_backward"
    cdef RecurrentCache c
    c, dy, dh, dgates = _backward_args(fn, cache, "simple_rnn", d_outputs, d_h)
    T, B, u = c.h_prev.shape
    if T and B:
        _simple_rnn_backward_steps(c.gates, c.recurrent_kernel, dy, dgates, dh, c.step_mask, c.first_step,
                                   ACTIVATIONS[c.activation], c.zero_output_for_mask)
    dx, dkernel, drk, dbias = _weight_grads(c, dgates, None, None)
    return dx, dh, dkernel, drk, dbias
