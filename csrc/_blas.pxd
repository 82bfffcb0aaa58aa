# The one BLAS wrapper every kernel uses: scipy's cython_blas gives sgemm/dgemm callable without the GIL,
# at the speed of the OpenBLAS scipy ships.  BLAS is column-major; minigraph's arrays are row-major
# (C order), so a row-major C = op(A) @ op(B) is computed as the column-major C^T = op(B)^T @ op(A)^T.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* a, int lda,
                      const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C[m, n].

    lda, ldb, ldc are the row strides (in elements) of A, B and C as stored.
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
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>b, &ldb, <float*>a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>b, &ldb, <double*>a, &lda, &beta, c, &ldc)
