# The one BLAS wrapper every kernel uses: scipy's cython_blas gives sgemm/dgemm callable without the GIL,
# at the speed of the OpenBLAS scipy ships.  BLAS is column-major; minigraph's arrays are row-major
# (C order), so a row-major C = op(A) @ op(B) is computed as the column-major C^T = op(B)^T @ op(A)^T.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv


cdef inline void gemv(bint trans, int rows, int cols, floating alpha, const floating* a, int lda,
                      const floating* x, int incx, floating beta, floating* y, int incy) noexcept nogil:
    """Column-major y = alpha * op(A) @ x + beta * y, A (rows, cols) with leading dimension lda."""
    cdef char t = b'T' if trans else b'N'
    cdef int i, n_out = cols if trans else rows
    if beta == 0:  # BLAS may compute 0 * y: clear y so that garbage (NaN) in a fresh buffer never leaks
        for i in range(n_out):
            y[i * incy] = 0
    if floating is float:
        sgemv(&t, &rows, &cols, &alpha, <float*>a, &lda, <float*>x, &incx, &beta, y, &incy)
    else:
        dgemv(&t, &rows, &cols, &alpha, <double*>a, &lda, <double*>x, &incx, &beta, y, &incy)


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C[m, n].

    lda, ldb, ldc are the row strides (in elements) of A, B and C as stored.  A product with one row
    or one column goes to gemv: OpenBLAS' gemm pays ~50 us of setup for a 1x784x64 product that its
    gemv does in ~5 (single-sample inference).
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef int i, j
    if m <= 0 or n <= 0:
        return
    if k <= 0:  # BLAS rejects k = 0 with lda < 1 on some builds: C = beta * C by hand
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = beta * c[i * ldc + j] if beta != 0 else 0
        return
    if m == 1:
        # the row c[0, :] = op(B)^T @ a-vector; as stored, B reads column-major as op(B)^T untransposed
        # (n x k, ld ldb) or, transposed, as the (k x n) matrix whose transpose is wanted
        if trans_b:
            gemv(True, k, n, alpha, b, ldb, a, lda if trans_a else 1, beta, c, 1)
        else:
            gemv(False, n, k, alpha, b, ldb, a, lda if trans_a else 1, beta, c, 1)
    elif n == 1:
        # the column c[:, 0] = op(A) @ b-vector; A as stored reads column-major as op(A)^T (k x m)
        # or, transposed, as op(A) itself (m x k)
        if trans_a:
            gemv(False, m, k, alpha, a, lda, b, 1 if trans_b else ldb, beta, c, ldc)
        else:
            gemv(True, k, m, alpha, a, lda, b, 1 if trans_b else ldb, beta, c, ldc)
    elif floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda, &beta, c, &ldc)
