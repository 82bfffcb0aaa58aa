/* The gate epilogues of the recurrent kernels (csrc/rnn.pyx), one batch row of one step at a time: the
 * element-wise part of each cell's forward and backward step.  In C rather than Cython for `restrict`: a
 * loop reading and writing six arrays is otherwise left scalar (the compiler will not version it for that many
 * possible overlaps).  Written once for float and double (MG_RNN_CELLS below); the float instance is compiled
 * per ISA level (MG_CLONES).  Gate blocks follow Keras's order: LSTM i, f, c, o; GRU z, r, h. */
#ifndef MINIGRAPH_RNN_CELLS_H
#define MINIGRAPH_RNN_CELLS_H
#include "rnn_act.h"

#define MG_RNN_CELLS(T, SFX, ATTR)                                                                      \
/* g: the step's pre-activations (in: projection + recurrent product; out: activations); cin: c_{t-1} */ \
ATTR static void mg_lstm_forward_row_##SFX(ptrdiff_t u, int act, int rec_act, T* restrict g,          \
        const T* restrict cin, T* restrict hout, T* restrict cout, T* restrict y, T* restrict tmp) {    \
    ptrdiff_t j;                                                                                        \
    mg_rnn_act_##SFX(rec_act, g, 2 * u);                                                                \
    mg_rnn_act_##SFX(act, g + 2 * u, u);                                                                \
    mg_rnn_act_##SFX(rec_act, g + 3 * u, u);                                                            \
    for (j = 0; j < u; j++) {                                                                           \
        tmp[j] = g[u + j] * cin[j] + g[j] * g[2 * u + j];                                               \
        cout[j] = tmp[j];                                                                               \
    }                                                                                                   \
    mg_rnn_act_##SFX(act, tmp, u);                                                                      \
    for (j = 0; j < u; j++) {                                                                           \
        hout[j] = g[3 * u + j] * tmp[j];                                                                \
        y[j] = hout[j];                                                                                 \
    }                                                                                                   \
}                                                                                                       \
/* dh, dc: in d(h_t), d(c_t); out: dh zero (the caller adds dgates @ U^T), dc d(c_{t-1}).  a, da: scratch */ \
ATTR static void mg_lstm_backward_row_##SFX(ptrdiff_t u, int act, int rec_act, const T* restrict g,    \
        const T* restrict cin, const T* restrict cout, const T* restrict dy, T* restrict dh,            \
        T* restrict dc, T* restrict dg, T* restrict a, T* restrict da) {                                \
    ptrdiff_t j;                                                                                        \
    for (j = 0; j < u; j++) a[j] = cout[j];                                                             \
    mg_rnn_act_##SFX(act, a, u);                                                                        \
    for (j = 0; j < u; j++) {                                                                           \
        T dht = dh[j] + dy[j];                                                                          \
        dg[3 * u + j] = dht * a[j];                                                                     \
        da[j] = dht * g[3 * u + j];                                                                     \
        dh[j] = 0;                                                                                      \
    }                                                                                                   \
    mg_rnn_act_grad_##SFX(act, a, da, u);                                                               \
    for (j = 0; j < u; j++) {                                                                           \
        T dct = dc[j] + da[j];                                                                          \
        dg[j] = dct * g[2 * u + j];                                                                     \
        dg[u + j] = dct * cin[j];                                                                       \
        dg[2 * u + j] = dct * g[j];                                                                     \
        dc[j] = dct * g[u + j];                                                                         \
    }                                                                                                   \
    mg_rnn_act_grad_##SFX(rec_act, g, dg, 2 * u);                                                       \
    mg_rnn_act_grad_##SFX(act, g + 2 * u, dg + 2 * u, u);                                               \
    mg_rnn_act_grad_##SFX(rec_act, g + 3 * u, dg + 3 * u, u);                                           \
}                                                                                                       \
/* z and r, and what the candidate needs: reset_after: rec = h_{t-1} @ U (without bias), rh = its h block  \
 * + rb_h, and the candidate's pre-activation x_h + r * rh; else rh = r * h_{t-1} (rec, rbias unused) */  \
ATTR static void mg_gru_gates_row_##SFX(ptrdiff_t u, int rec_act, T* restrict g, const T* restrict rec,  \
        const T* restrict rbias, const T* restrict hin, T* restrict rh, int reset_after) {              \
    ptrdiff_t j;                                                                                        \
    if (reset_after)                                                                                    \
        for (j = 0; j < 2 * u; j++) g[j] += rec[j] + rbias[j];                                          \
    mg_rnn_act_##SFX(rec_act, g, 2 * u);                                                                \
    if (reset_after)                                                                                    \
        for (j = 0; j < u; j++) {                                                                       \
            rh[j] = rec[2 * u + j] + rbias[2 * u + j];                                                  \
            g[2 * u + j] += g[u + j] * rh[j];                                                           \
        }                                                                                               \
    else                                                                                                \
        for (j = 0; j < u; j++) rh[j] = g[u + j] * hin[j];                                              \
}                                                                                                       \
/* Keras: h = z * h_{t-1} + (1 - z) * act(candidate) */                                                 \
ATTR static void mg_gru_update_row_##SFX(ptrdiff_t u, int act, T* restrict g, const T* restrict hin,   \
        T* restrict hout, T* restrict y) {                                                              \
    ptrdiff_t j;                                                                                        \
    mg_rnn_act_##SFX(act, g + 2 * u, u);                                                                \
    for (j = 0; j < u; j++) {                                                                           \
        hout[j] = g[j] * hin[j] + (1 - g[j]) * g[2 * u + j];                                            \
        y[j] = hout[j];                                                                                 \
    }                                                                                                   \
}                                                                                                       \
/* dg: d pre-activations of the input projection; dh in d(h_t), out its direct part z * d(h_t).         \
 * reset_after: also d r, and drec = d(h_{t-1} @ U + rb) (the candidate's scaled by r); else d r waits for \
 * d(r * h_{t-1}) (mg_gru_reset_grad_row) and drec is unused */                                          \
ATTR static void mg_gru_backward_row_##SFX(ptrdiff_t u, int act, int rec_act, const T* restrict g,     \
        const T* restrict hin, const T* restrict rh, const T* restrict dy, T* restrict dh,              \
        T* restrict dg, T* restrict drec, int reset_after) {                                            \
    ptrdiff_t j;                                                                                        \
    for (j = 0; j < u; j++) {                                                                           \
        T dht = dh[j] + dy[j];                                                                          \
        dg[j] = dht * (hin[j] - g[2 * u + j]);                                                          \
        dg[2 * u + j] = dht * (1 - g[j]);                                                               \
        dh[j] = dht * g[j];                                                                             \
    }                                                                                                   \
    mg_rnn_act_grad_##SFX(act, g + 2 * u, dg + 2 * u, u);                                               \
    if (!reset_after)                                                                                   \
        return;                                                                                         \
    for (j = 0; j < u; j++) {                                                                           \
        dg[u + j] = dg[2 * u + j] * rh[j];                                                              \
        drec[2 * u + j] = dg[2 * u + j] * g[u + j];                                                     \
    }                                                                                                   \
    mg_rnn_act_grad_##SFX(rec_act, g, dg, 2 * u);                                                       \
    for (j = 0; j < 2 * u; j++) drec[j] = dg[j];                                                        \
}                                                                                                       \
/* reset_after=False: from drh = d(r * h_{t-1}), r's gradient and h_{t-1}'s share through it */          \
ATTR static void mg_gru_reset_grad_row_##SFX(ptrdiff_t u, int rec_act, const T* restrict g,           \
        const T* restrict hin, const T* restrict drh, T* restrict dh, T* restrict dg) {                 \
    ptrdiff_t j;                                                                                        \
    for (j = 0; j < u; j++) {                                                                           \
        dg[u + j] = drh[j] * hin[j];                                                                    \
        dh[j] += drh[j] * g[u + j];                                                                     \
    }                                                                                                   \
    mg_rnn_act_grad_##SFX(rec_act, g, dg, 2 * u);                                                       \
}

MG_RNN_CELLS(float, f32, MG_CLONES)
MG_RNN_CELLS(double, f64, )

#endif
