# The softmax rows of softmax_rows.h, for the modules that run them (softmax, and dense's fused epilogue).
cdef extern from "softmax_rows.h" nogil:
    void mg_softmax_rows_f32(const float* x, float* y, Py_ssize_t rows, Py_ssize_t n)
    void mg_softmax_rows_f64(const double* x, double* y, Py_ssize_t rows, Py_ssize_t n)
    void mg_sparse_xent_rows_f32(const float* x, const long long* labels, float* probs, float* loss,
                                 Py_ssize_t rows, Py_ssize_t n)
    void mg_sparse_xent_rows_f64(const double* x, const long long* labels, double* probs, double* loss,
                                 Py_ssize_t rows, Py_ssize_t n)
