/* One place that knows whether OpenMP is there: without it the kernels build and run serially. */
#ifndef MINIGRAPH_OMP_COMPAT_H
#define MINIGRAPH_OMP_COMPAT_H
#ifdef _OPENMP
#include <omp.h>
static inline int mg_omp_max_threads(void) { return omp_get_max_threads(); }
static inline void mg_omp_set_threads(int n) { omp_set_num_threads(n); }
static inline int mg_omp_enabled(void) { return 1; }
#else
static inline int mg_omp_max_threads(void) { return 1; }
static inline void mg_omp_set_threads(int n) { (void)n; }
static inline int mg_omp_enabled(void) { return 0; }
#endif
#endif
