# The one BLAS wrapper every kernel uses: the CBLAS interface of the OpenBLAS in the scipy-openblas32
# package (the build numpy and scipy ship, published with its headers for linking; see README
# "Dependencies" for why it replaced scipy's cython_blas), callable without the GIL.  The kernels' arrays
# are row-major (C order), and so are these calls.
#
# Threads: OpenBLAS runs single-threaded (minigraph.kernels._blas_library sets it) and gemm splits a large
# product into slabs over the kernels' own OpenMP team, so that one team does all the work.  Two pools on
# the same cores spin against each other: the idle OpenMP workers busy-wait after every parallel region
# while the BLAS threads want the cores (bench/RESULTS.md, "One team").
from cython cimport floating
from cython.parallel cimport prange

from _openmp_helpers cimport parallel_threads


cdef extern from "cblas.h" nogil:
    enum CBLAS_ORDER:
        CblasRowMajor
    enum CBLAS_TRANSPOSE:
        CblasNoTrans
        CblasTrans
    void scipy_cblas_sgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                           float alpha, const float* a, int lda, const float* b, int ldb,
                           float beta, float* c, int ldc)
    void scipy_cblas_dgemm(CBLAS_ORDER order, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k,
                           double alpha, const double* a, int lda, const double* b, int ldb,
                           double beta, double* c, int ldc)
    void scipy_cblas_sgemv(CBLAS_ORDER order, CBLAS_TRANSPOSE t, int m, int n, float alpha,
                           const float* a, int lda, const float* x, int incx, float beta, float* y, int incy)
    void scipy_cblas_dgemv(CBLAS_ORDER order, CBLAS_TRANSPOSE t, int m, int n, double alpha,
                           const double* a, int lda, const double* x, int incx, double beta, double* y,
                           int incy)


cdef inline void gemv(bint trans, int rows, int cols, floating alpha, const floating* a, int lda,
                      const floating* x, int incx, floating beta, floating* y, int incy) noexcept nogil:
    """Row-major y = alpha * op(A) @ x + beta * y, A (rows, cols) stored with row stride lda."""
    cdef CBLAS_TRANSPOSE t = CblasTrans if trans else CblasNoTrans
    cdef int i, n_out = cols if trans else rows
    if beta == 0:  # BLAS may compute 0 * y: clear y so that garbage (NaN) in a fresh buffer never leaks
        for i in range(n_out):
            y[i * incy] = 0
    if floating is float:
        scipy_cblas_sgemv(CblasRowMajor, t, rows, cols, alpha, a, lda, x, incx, beta, y, incy)
    else:
        scipy_cblas_dgemv(CblasRowMajor, t, rows, cols, alpha, a, lda, x, incx, beta, y, incy)


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C[m, n].

    lda, ldb, ldc are the row strides (in elements) of A, B and C as stored.  A product with one row
    or one column goes to gemv, which skips gemm's packing set-up (single-sample inference).
    """
    cdef int i, j
    if m <= 0 or n <= 0:
        return
    if k <= 0:  # BLAS rejects k = 0 with lda < 1 on some builds: C = beta * C by hand
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = beta * c[i * ldc + j] if beta != 0 else 0
        return
    if m == 1:
        # the row c[0, :] = op(B)^T @ a-vector; B is stored (n, k) when transposed, else (k, n)
        if trans_b:
            gemv(False, n, k, alpha, b, ldb, a, lda if trans_a else 1, beta, c, 1)
        else:
            gemv(True, k, n, alpha, b, ldb, a, lda if trans_a else 1, beta, c, 1)
    elif n == 1:
        # the column c[:, 0] = op(A) @ b-vector; A is stored (k, m) when transposed, else (m, k)
        if trans_a:
            gemv(True, k, m, alpha, a, lda, b, 1 if trans_b else ldb, beta, c, ldc)
        else:
            gemv(False, m, k, alpha, a, lda, b, 1 if trans_b else ldb, beta, c, ldc)
    else:
        _split_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL, False)


cdef inline void _one_gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha, const floating* a,
                           int lda, const floating* b, int ldb, floating beta, floating* c,
                           int ldc) noexcept nogil:
    cdef CBLAS_TRANSPOSE ta = CblasTrans if trans_a else CblasNoTrans
    cdef CBLAS_TRANSPOSE tb = CblasTrans if trans_b else CblasNoTrans
    if floating is float:
        scipy_cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else:
        scipy_cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


cdef inline void gemm_bias_relu(bint trans_a, bint trans_b, int m, int n, int k, const floating* a, int lda,
                                const floating* b, int ldb, floating* c, int ldc, const floating* bias,
                                bint relu) noexcept nogil:
    """Row-major C[m, n] = act(op(A) @ op(B) + bias): bias (n,) on every row, or NULL; act ReLU when relu
    (NaN stays NaN, as np.maximum).  Each slab of C gets its bias rows, its product and its ReLU on the
    thread that computes it, while the slab is in that core's cache."""
    if m <= 0 or n <= 0:
        return
    if k > 0 and m > 1 and n > 1:
        _split_gemm(trans_a, trans_b, m, n, k, 1, a, lda, b, ldb, 0, c, ldc, bias, relu)
        return
    if bias != NULL:  # one row or column (gemv), or k = 0
        _bias_rows(c, ldc, m, n, bias)
    gemm(trans_a, trans_b, m, n, k, 1, a, lda, b, ldb, <floating>(0 if bias == NULL else 1), c, ldc)
    if relu:
        _relu_block(c, ldc, m, n)


cdef inline void _bias_rows(floating* c, int ldc, int rows, int cols, const floating* bias) noexcept nogil:
    cdef int i, j
    cdef floating* row
    for i in range(rows):
        row = c + <long>i * ldc
        for j in range(cols):
            row[j] = bias[j]


cdef inline void _relu_block(floating* c, int ldc, int rows, int cols) noexcept nogil:
    cdef int i, j
    cdef floating* row
    for i in range(rows):
        row = c + <long>i * ldc
        for j in range(cols):  # an unconditional store, so that the loop vectorises; NaN < 0 is false
            row[j] = 0 if row[j] < 0 else row[j]


cdef inline void _slab_gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha, const floating* a,
                            int lda, const floating* b, int ldb, floating beta, floating* c, int ldc,
                            const floating* bias, bint relu) noexcept nogil:
    """One slab: its bias rows (bias: C starts as the bias, beta 1), its product, its ReLU."""
    if bias != NULL:
        _bias_rows(c, ldc, m, n, bias)
        beta = 1
    _one_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    if relu:
        _relu_block(c, ldc, m, n)


cdef inline void _split_gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                             const floating* a, int lda, const floating* b, int ldb, floating beta,
                             floating* c, int ldc, const floating* bias, bint relu) noexcept nogil:
    """gemm on the OpenMP team: the longer of C's two sides cut into one slab per thread (slabs a multiple
    of 16 long, each a single-threaded gemm on its rows of op(A) or columns of op(B)); a product under
    2**20 multiply-adds stays on the calling thread, where a parallel region would cost more than it saves.
    bias (NULL: none) and relu: the epilogue of gemm_bias_relu, run per slab."""
    cdef long work = <long>m * n * k
    cdef int by_rows = m >= n
    cdef int side = m if by_rows else n
    cdef int parts = parallel_threads((side + 15) // 16) if work >= (1 << 20) else 1
    cdef int chunk, p, start, length
    if parts <= 1:
        _slab_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu)
        return
    chunk = ((side + parts - 1) // parts + 15) // 16 * 16
    for p in prange(parts, num_threads=parts, schedule="static"):
        start = p * chunk
        length = min(chunk, side - start)
        if length <= 0:
            continue
        if by_rows:  # rows of op(A): A stored (k, m) when transposed, else (m, k)
            _slab_gemm(trans_a, trans_b, length, n, k, alpha, a + (start if trans_a else <long>start * lda), lda,
                       b, ldb, beta, c + <long>start * ldc, ldc, bias, relu)
        else:  # columns of op(B): B stored (n, k) when transposed, else (k, n)
            _slab_gemm(trans_a, trans_b, m, length, k, alpha, a, lda,
                       b + (<long>start * ldb if trans_b else start), ldb, beta, c + start, ldc,
                       bias + start if bias != NULL else NULL, relu)
