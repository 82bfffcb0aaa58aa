/* float32 max-pool forward for csrc/pool.pyx: one output row, 8 channels per vector (AVX2 clone chosen
 * at run time, see mg_simd.h).  Same semantics as pool.pyx's scalar _max_window: windows clipped to the
 * image, the first maximum in row-major window order wins ties, the first NaN wins over everything. */
#ifndef MINIGRAPH_POOL_SIMD_H
#define MINIGRAPH_POOL_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include "mg_simd.h"

/* x: one (H, W, C) image; y, am: one output row (OW, C); rows [i0, i1) of every window; window ow spans
 * columns [ow * sw - pw, ow * sw - pw + kw) clipped to [0, W). */
MG_CLONES
static void mg_max_pool_row_f32(const float* x, float* y, int64_t* am, ptrdiff_t W, ptrdiff_t C,
                                ptrdiff_t OW, ptrdiff_t i0, ptrdiff_t i1, ptrdiff_t kw, ptrdiff_t sw,
                                ptrdiff_t pw) {
    ptrdiff_t ow, c0, c, i, j, l;
    for (ow = 0; ow < OW; ow++) {
        ptrdiff_t j0 = ow * sw - pw, j1 = ow * sw - pw + kw;
        float* yp = y + ow * C;
        int64_t* ap = am + ow * C;
        if (j0 < 0) j0 = 0;
        if (j1 > W) j1 = W;
        for (c0 = 0; c0 + 8 <= C; c0 += 8) {
            mg_v8 best = MG_LD(x + (i0 * W + j0) * C + c0);
            int32_t k0 = (int32_t)(i0 * W + j0);
            mg_v8i idx = {k0, k0, k0, k0, k0, k0, k0, k0};
            for (i = i0; i < i1; i++)
                for (j = j0; j < j1; j++) {
                    mg_v8 v = MG_LD(x + (i * W + j) * C + c0);
                    int32_t k = (int32_t)(i * W + j);
                    mg_v8i kv = {k, k, k, k, k, k, k, k};
                    /* not (v <= best): v greater or NaN; best == best: no NaN so far */
                    mg_v8i win = ~(v <= best) & (best == best);
                    best = (mg_v8)(((mg_v8i)v & win) | ((mg_v8i)best & ~win));
                    idx = (kv & win) | (idx & ~win);
                }
            MG_ST(yp + c0, best);
            for (l = 0; l < 8; l++)
                ap[c0 + l] = idx[l];
        }
        for (c = c0; c < C; c++) {  /* remaining channels, scalar */
            float b = x[(i0 * W + j0) * C + c];
            int32_t bi = (int32_t)(i0 * W + j0);
            for (i = i0; i < i1; i++)
                for (j = j0; j < j1; j++) {
                    float v = x[(i * W + j) * C + c];
                    if (!(v <= b) && b == b) {
                        b = v;
                        bi = (int32_t)(i * W + j);
                    }
                }
            yp[c] = b;
            ap[c] = bi;
        }
    }
}

#endif
