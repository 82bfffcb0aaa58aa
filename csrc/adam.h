/* The Adam update loop of csrc/optimizer.pyx: plain C that GCC vectorises, compiled for x86-64-v3 (AVX2)
 * and the baseline (mg_simd.h), sqrt included (the build passes -fno-math-errno).  One call updates one
 * chunk of a variable; the caller spreads the chunks over its threads. */
#ifndef MINIGRAPH_ADAM_H
#define MINIGRAPH_ADAM_H

#include <math.h>
#include <stddef.h>
#include "mg_simd.h"

#define MG_ADAM(name, T, SQRT)                                                                              \
    MG_CLONES                                                                                               \
    static void name(T* restrict w, const T* restrict g, T* restrict m, T* restrict v, T* restrict vhat,    \
                     ptrdiff_t n, T alpha, T one_minus_beta_1, T one_minus_beta_2, T epsilon) {             \
        ptrdiff_t i;                                                                                        \
        for (i = 0; i < n; i++) {                                                                           \
            m[i] += (g[i] - m[i]) * one_minus_beta_1;                                                       \
            v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;                                                \
        }                                                                                                   \
        if (vhat) {                                                                                         \
            for (i = 0; i < n; i++) /* max(vhat, v), NaN winning as in np.maximum */                        \
                vhat[i] = (v[i] > vhat[i] || v[i] != v[i]) ? v[i] : vhat[i];                                \
            v = vhat;                                                                                       \
        }                                                                                                   \
        for (i = 0; i < n; i++)                                                                             \
            w[i] -= m[i] * alpha / (SQRT(v[i]) + epsilon);                                                  \
    }

MG_ADAM(mg_adam_f32, float, sqrtf)
MG_ADAM(mg_adam_f64, double, sqrt)
#undef MG_ADAM

#endif
