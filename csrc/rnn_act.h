/* Activations of the recurrent kernels' gate epilogues (csrc/rnn.pyx): in place over a run of n values, and
 * their derivatives written in terms of the activation's *output* (every activation here has one), so the
 * forward pass caches only the gate values.  float32 tanh and sigmoid run 8 lanes at a time on an exp
 * built from vector arithmetic (libm's expf does not vectorise); float64 (the checking precision) uses libm.
 * No state between calls. */
#ifndef MINIGRAPH_RNN_ACT_H
#define MINIGRAPH_RNN_ACT_H
#include <math.h>
#include <stddef.h>
#include "mg_simd.h"

typedef enum {
    MG_ACT_LINEAR = 0,
    MG_ACT_TANH = 1,
    MG_ACT_SIGMOID = 2,
    MG_ACT_HARD_SIGMOID = 3,        /* Keras 2 (tf_keras): clip(0.2 x + 0.5, 0, 1) */
    MG_ACT_HARD_SIGMOID_KERAS3 = 4, /* Keras 3: relu6(x + 3) / 6 */
    MG_ACT_RELU = 5
} mg_rnn_act;

#define MG_V8I_BC(s) ((mg_v8i){(s), (s), (s), (s), (s), (s), (s), (s)})
/* lanes of a where mask m is set, else of b */
#define MG_V8_SEL(m, a, b) ((mg_v8)(((m) & (mg_v8i)(a)) | (~(m) & (mg_v8i)(b))))
#define MG_V8_CLAMP(x, lo, hi) __extension__({ mg_v8 c_ = (x); c_ = MG_V8_SEL(c_ < MG_BC(lo), MG_BC(lo), c_); \
                                                MG_V8_SEL(c_ > MG_BC(hi), MG_BC(hi), c_); })

/* e^x for 8 floats (Cephes' expf): x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for an exact
 * reduction), e^r by its degree-6 minimax polynomial, 2^n written into the exponent bits.  x is clamped to
 * [-87, 88] so that 2^n stays a normal float: e^-87 ~ 1.6e-38 is zero for every use here. */
#define MG_V8_EXP(x_) __extension__({                                                                   \
    mg_v8 x = MG_V8_CLAMP((x_), -87.0f, 88.0f);                                                         \
    mg_v8 n = (x * MG_BC(1.44269504088896341f) + MG_BC(12582912.0f)) - MG_BC(12582912.0f);               \
    mg_v8 r = x - n * MG_BC(0.693359375f);                                                              \
    r = r - n * MG_BC(-2.12194440e-4f);                                                                 \
    mg_v8 p = MG_BC(1.9875691500e-4f);                                                                  \
    p = p * r + MG_BC(1.3981999507e-3f);                                                                \
    p = p * r + MG_BC(8.3334519073e-3f);                                                                \
    p = p * r + MG_BC(4.1665795894e-2f);                                                                \
    p = p * r + MG_BC(1.6666665459e-1f);                                                                \
    p = p * r + MG_BC(5.0000001201e-1f);                                                                \
    p = p * r * r + r + MG_BC(1.0f);                                                                    \
    mg_v8i e_ = (__builtin_convertvector(n, mg_v8i) + MG_V8I_BC(127)) << 23;                            \
    p * (mg_v8)e_; })

#define MG_V8_SIGMOID(x) (MG_BC(1.0f) / (MG_BC(1.0f) + MG_V8_EXP(-(x))))

/* tanh for 8 floats: Cephes' tanhf odd polynomial below |x| = 0.625, where 1 - 2 / (e^2|x| + 1) would
 * lose digits to cancellation, that formula above; the sign is copied back from x. */
#define MG_V8_TANH(x_) __extension__({                                                                  \
    mg_v8 xs = (x_);                                                                                    \
    mg_v8i sign = (mg_v8i)xs & MG_V8I_BC((int)0x80000000);                                             \
    mg_v8 a = (mg_v8)((mg_v8i)xs & MG_V8I_BC(0x7fffffff));                                             \
    mg_v8 z = a * a;                                                                                    \
    mg_v8 q = MG_BC(-5.70498872745e-3f);                                                                \
    q = q * z + MG_BC(2.06390887954e-2f);                                                               \
    q = q * z + MG_BC(-5.37397155531e-2f);                                                              \
    q = q * z + MG_BC(1.33314422036e-1f);                                                               \
    q = q * z + MG_BC(-3.33332819422e-1f);                                                              \
    q = q * z * a + a;                                                                                  \
    mg_v8 big = MG_BC(1.0f) - MG_BC(2.0f) / (MG_V8_EXP(a + a) + MG_BC(1.0f));                           \
    mg_v8 t = MG_V8_SEL(a < MG_BC(0.625f), q, big);                                                    \
    t = MG_V8_SEL(a == a, t, xs); /* NaN stays NaN */                                                   \
    (mg_v8)((mg_v8i)t | sign); })

/* f(v) over p[0..n) 8 at a time; the tail goes through a zero-padded block of 8 */
#define MG_V8_APPLY(p, n, F) do {                                                                       \
    ptrdiff_t i_ = 0;                                                                                   \
    for (; i_ + 8 <= (n); i_ += 8) { mg_v8 v_ = MG_LD((p) + i_); MG_ST((p) + i_, F(v_)); }              \
    if (i_ < (n)) {                                                                                     \
        float tail_[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                      \
        ptrdiff_t j_, m_ = (n) - i_;                                                                    \
        for (j_ = 0; j_ < m_; j_++) tail_[j_] = (p)[i_ + j_];                                           \
        mg_v8 v_ = MG_LD(tail_);                                                                        \
        MG_ST(tail_, F(v_));                                                                            \
        for (j_ = 0; j_ < m_; j_++) (p)[i_ + j_] = tail_[j_];                                           \
    }                                                                                                   \
} while (0)

/* The piecewise-linear activations, written once for both precisions (T: float or double). */
#define MG_RNN_PIECEWISE(T, kind, p, n) do {                                                            \
    ptrdiff_t k_;                                                                                       \
    switch (kind) {                                                                                     \
    case MG_ACT_HARD_SIGMOID:                                                                           \
        for (k_ = 0; k_ < (n); k_++) {                                                                  \
            T v_ = (p)[k_] * (T)0.2 + (T)0.5;                                                           \
            (p)[k_] = v_ < 0 ? 0 : (v_ > 1 ? 1 : v_);                                                   \
        }                                                                                               \
        break;                                                                                          \
    case MG_ACT_HARD_SIGMOID_KERAS3:                                                                    \
        for (k_ = 0; k_ < (n); k_++) {                                                                  \
            T v_ = (p)[k_] + (T)3;                                                                      \
            (p)[k_] = (v_ < 0 ? 0 : (v_ > 6 ? 6 : v_)) / (T)6;                                          \
        }                                                                                               \
        break;                                                                                          \
    case MG_ACT_RELU:                                                                                   \
        for (k_ = 0; k_ < (n); k_++) (p)[k_] = (p)[k_] < 0 ? 0 : (p)[k_]; /* NaN stays NaN */           \
        break;                                                                                          \
    default:                                                                                            \
        break;                                                                                          \
    }                                                                                                   \
} while (0)

MG_CLONES static void mg_rnn_act_f32(int kind, float* p, ptrdiff_t n) {
    if (kind == MG_ACT_TANH)
        MG_V8_APPLY(p, n, MG_V8_TANH);
    else if (kind == MG_ACT_SIGMOID)
        MG_V8_APPLY(p, n, MG_V8_SIGMOID);
    else
        MG_RNN_PIECEWISE(float, kind, p, n);
}

static void mg_rnn_act_f64(int kind, double* p, ptrdiff_t n) {
    ptrdiff_t k;
    if (kind == MG_ACT_TANH)
        for (k = 0; k < n; k++) p[k] = tanh(p[k]);
    else if (kind == MG_ACT_SIGMOID)
        for (k = 0; k < n; k++) p[k] = 1 / (1 + exp(-p[k]));
    else
        MG_RNN_PIECEWISE(double, kind, p, n);
}

/* g[k] *= f'(x[k]) where y[k] = f(x[k]), for k < n: tanh 1 - y^2, sigmoid y (1 - y), the hard sigmoids their
 * slope inside (0, 1), relu 1 where y > 0. */
#define MG_RNN_ACT_GRAD(T, kind, y, g, n) do {                                                          \
    ptrdiff_t k_;                                                                                       \
    switch (kind) {                                                                                     \
    case MG_ACT_TANH:                                                                                   \
        for (k_ = 0; k_ < (n); k_++) (g)[k_] *= 1 - (y)[k_] * (y)[k_];                                  \
        break;                                                                                          \
    case MG_ACT_SIGMOID:                                                                                \
        for (k_ = 0; k_ < (n); k_++) (g)[k_] *= (y)[k_] * (1 - (y)[k_]);                                \
        break;                                                                                          \
    case MG_ACT_HARD_SIGMOID:                                                                           \
        for (k_ = 0; k_ < (n); k_++) (g)[k_] *= ((y)[k_] > 0 && (y)[k_] < 1) ? (T)0.2 : 0;              \
        break;                                                                                          \
    case MG_ACT_HARD_SIGMOID_KERAS3:                                                                    \
        for (k_ = 0; k_ < (n); k_++) (g)[k_] *= ((y)[k_] > 0 && (y)[k_] < 1) ? (T)1 / 6 : 0;            \
        break;                                                                                          \
    case MG_ACT_RELU:                                                                                   \
        for (k_ = 0; k_ < (n); k_++) (g)[k_] *= (y)[k_] > 0 ? 1 : 0;                                    \
        break;                                                                                          \
    default:                                                                                            \
        break;                                                                                          \
    }                                                                                                   \
} while (0)

MG_CLONES static void mg_rnn_act_grad_f32(int kind, const float* y, float* g, ptrdiff_t n) {
    MG_RNN_ACT_GRAD(float, kind, y, g, n);
}

static void mg_rnn_act_grad_f64(int kind, const double* y, double* g, ptrdiff_t n) {
    MG_RNN_ACT_GRAD(double, kind, y, g, n);
}

#endif
