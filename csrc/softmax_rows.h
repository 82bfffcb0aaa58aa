/* softmax over the last axis, row by row: y = exp(x - max(x)) / sum(exp(x - max(x))), numpy's formula and
 * its special values (a NaN or +inf in a row makes the whole row NaN; -inf gives 0).  Shared by
 * csrc/softmax.pyx (ops.softmax) and csrc/dense.pyx (the fused epilogue of dense_chain_forward), so that
 * both give the same bits.  float32 exponentials run 8 lanes at a time on rnn_act.h's vector exp; float64
 * (the checking precision) uses libm.  y may be x (in place).  No state between calls. */
#ifndef MINIGRAPH_SOFTMAX_ROWS_H
#define MINIGRAPH_SOFTMAX_ROWS_H
#include <math.h>
#include <stddef.h>
#include "mg_simd.h"
#include "rnn_act.h"

/* e^x for 8 floats, exactly 0 where e^x underflows (MG_V8_EXP clamps its argument at -87 instead) */
#define MG_V8_EXP_UNDERFLOW_ZERO(x_) __extension__({                                                      \
    mg_v8 xe_ = (x_);                                                                                    \
    MG_V8_SEL(xe_ < MG_BC(-87.0f), MG_BC(0.0f), MG_V8_EXP(xe_)); })

/* One row's exponentials: yr = exp(xr - top) with top = max(xr), and their sum, which is returned; *top_out
 * takes top.  What softmax and the sparse cross-entropy share, so that both give the same probabilities. */
static inline __attribute__((always_inline)) float mg_softmax_exp_row_f32(const float* xr, float* yr, ptrdiff_t n, float* top_out)
{
    ptrdiff_t j;
    float top = xr[0], sum = 0;
    mg_v8 acc = MG_BC(0.0f);
    for (j = 1; j < n; j++)  /* NaN wins, as np.maximum */
        if (!(xr[j] <= top))
            top = xr[j] != xr[j] || top == top ? xr[j] : top;
    for (j = 0; j + 8 <= n; j += 8) {
        mg_v8 e = MG_V8_EXP_UNDERFLOW_ZERO(MG_LD(xr + j) - MG_BC(top));
        MG_ST(yr + j, e);
        acc += e;
    }
    if (j < n) {  /* the tail through a padded block: lanes past the row are -inf, whose e^x is 0 */
        float block[8];
        ptrdiff_t t, left = n - j;
        for (t = 0; t < 8; t++)
            block[t] = t < left ? xr[j + t] - top : -INFINITY;
        mg_v8 e = MG_V8_EXP_UNDERFLOW_ZERO(MG_LD(block));
        MG_ST(block, e);
        for (t = 0; t < left; t++)
            yr[j + t] = block[t];
        acc += e;
    }
    for (j = 0; j < 8; j++)
        sum += acc[j];
    *top_out = top;
    return sum;
}

static inline __attribute__((always_inline)) double mg_softmax_exp_row_f64(const double* xr, double* yr, ptrdiff_t n, double* top_out)
{
    ptrdiff_t j;
    double top = xr[0], sum = 0;
    for (j = 1; j < n; j++)
        if (!(xr[j] <= top))
            top = xr[j] != xr[j] || top == top ? xr[j] : top;
    for (j = 0; j < n; j++) {
        yr[j] = exp(xr[j] - top);
        sum += yr[j];
    }
    *top_out = top;
    return sum;
}

MG_CLONES
static void mg_softmax_rows_f32(const float* x, float* y, ptrdiff_t rows, ptrdiff_t n)
{
    ptrdiff_t r, j;
    float top;
    for (r = 0; r < rows; r++) {
        float* yr = y + r * n;
        float sum = mg_softmax_exp_row_f32(x + r * n, yr, n, &top);
        for (j = 0; j < n; j++)
            yr[j] /= sum;
    }
}

static void mg_softmax_rows_f64(const double* x, double* y, ptrdiff_t rows, ptrdiff_t n)
{
    ptrdiff_t r, j;
    double top;
    for (r = 0; r < rows; r++) {
        double* yr = y + r * n;
        double sum = mg_softmax_exp_row_f64(x + r * n, yr, n, &top);
        for (j = 0; j < n; j++)
            yr[j] /= sum;
    }
}

/* The sparse softmax cross-entropy of each row: probs = softmax(x) (the bits of mg_softmax_rows) and
 * loss[r] = log(sum) - (x[r, label] - top), the log-softmax form (finite where the probability underflows).
 * Labels are checked by the caller. */
MG_CLONES
static void mg_sparse_xent_rows_f32(const float* x, const long long* labels, float* probs, float* loss,
                                    ptrdiff_t rows, ptrdiff_t n)
{
    ptrdiff_t r, j;
    float top;
    for (r = 0; r < rows; r++) {
        const float* xr = x + r * n;
        float* pr = probs + r * n;
        float sum = mg_softmax_exp_row_f32(xr, pr, n, &top);
        loss[r] = logf(sum) - (xr[labels[r]] - top);
        for (j = 0; j < n; j++)
            pr[j] /= sum;
    }
}

static void mg_sparse_xent_rows_f64(const double* x, const long long* labels, double* probs, double* loss,
                                    ptrdiff_t rows, ptrdiff_t n)
{
    ptrdiff_t r, j;
    double top;
    for (r = 0; r < rows; r++) {
        const double* xr = x + r * n;
        double* pr = probs + r * n;
        double sum = mg_softmax_exp_row_f64(xr, pr, n, &top);
        loss[r] = log(sum) - (xr[labels[r]] - top);
        for (j = 0; j < n; j++)
            pr[j] /= sum;
    }
}

#endif
