# The one OpenMP helper every kernel uses (cimport only; no runtime module needed).
cdef extern from "omp_compat.h" nogil:
    int mg_omp_max_threads()
    void mg_omp_set_threads(int n)
    int mg_omp_enabled()


cdef inline int parallel_threads(Py_ssize_t n_tasks) noexcept nogil:
    """Threads for a prange over n_tasks items: never more threads than items."""
    cdef int t = mg_omp_max_threads()
    if n_tasks < t:
        return <int>n_tasks if n_tasks > 0 else 1
    return t
