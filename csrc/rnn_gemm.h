/* The per-step recurrent products of csrc/rnn.pyx in float32: c (m x n, row stride ldc) += a (m x k, row
 * stride lda) @ b, where b (the recurrent kernel, or its transpose for the backward pass) is the same matrix
 * at every step of a sequence.  BLAS packs its right-hand operand again at every call; here it is packed
 * once per sequence (mg_rg_pack) into panels of 2 vectors of columns, each panel k rows of 2 * lanes floats
 * read front to back, the last panel zero-padded.
 *
 * Register tiles as the direct convolution's (csrc/conv_tiles.h): rows x 2 vectors of columns, the row's
 * scalar broadcast against the panel's vectors; 6 rows x 16 columns with 8-lane vectors (x86-64-v3 clone and
 * the baseline), 8 rows x 32 columns with 16-lane ones where the CPU reports x86-64-v4
 * (mg_cpu_has_v4): a batch of 64 rows is 8 whole tiles.
 * Threads: csrc/rnn.pyx gives each thread a block of batch rows for the whole sequence and calls this with
 * nthreads 1.  Only a batch too small to cut runs one block; then products of at least MG_RG_PARALLEL_WORK
 * multiply-adds take an OpenMP loop over the panels (at most one thread per panel), and smaller ones stay on
 * the calling thread, where a fork and join per step would cost more than the second core gains.
 * Each output element is summed by one thread over k in order, so the result is the same for any thread
 * count.  No BLAS here.
 */
#ifndef MINIGRAPH_RNN_GEMM_H
#define MINIGRAPH_RNN_GEMM_H

#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "mg_simd.h"

#define MG_RG_PARALLEL_WORK (1 << 23)

/* c rows [0, m), the columns of one panel (ncols <= 2 * L of them) += a @ panel */
#define MG_RG_TILES(VT, L, MR, SFX, ATTR)                                                                    \
typedef float mg_rg_vu_##SFX __attribute__((vector_size(sizeof(VT)), aligned(4), may_alias));             \
ATTR static void mg_rg_panel_##SFX(ptrdiff_t m, ptrdiff_t k, const float* a, ptrdiff_t lda,               \
                                   const float* panel, float* c, ptrdiff_t ldc, ptrdiff_t ncols) {         \
    ptrdiff_t r, i, kk, j;                                                                                 \
    for (r = 0; r < m; r += MR) {                                                                          \
        const float* ar[MR];                                                                               \
        const ptrdiff_t rows = m - r < MR ? m - r : MR;                                                    \
        VT acc[MR][2];                                                                                     \
        const float* pk = panel;                                                                           \
        for (i = 0; i < MR; i++) {  /* rows past the end repeat the last one; their sums are dropped */   \
            ar[i] = a + (r + (i < rows ? i : rows - 1)) * lda;                                             \
            acc[i][0] = acc[i][1] = (VT){0};                                                               \
        }                                                                                                  \
        for (kk = 0; kk < k; kk++, pk += 2 * L) {                                                          \
            const VT b0 = (VT)(*(const mg_rg_vu_##SFX*)pk), b1 = (VT)(*(const mg_rg_vu_##SFX*)(pk + L));  \
            for (i = 0; i < MR; i++) {                                                                     \
                acc[i][0] += ar[i][kk] * b0;                                                               \
                acc[i][1] += ar[i][kk] * b1;                                                               \
            }                                                                                              \
        }                                                                                                  \
        for (i = 0; i < rows; i++) {                                                                       \
            float* cr = c + (r + i) * ldc;                                                                 \
            if (ncols == 2 * L) {                                                                          \
                *(mg_rg_vu_##SFX*)cr = (VT)(*(mg_rg_vu_##SFX*)cr) + acc[i][0];                             \
                *(mg_rg_vu_##SFX*)(cr + L) = (VT)(*(mg_rg_vu_##SFX*)(cr + L)) + acc[i][1];                 \
            } else {                                                                                       \
                float sums[2 * L];                                                                         \
                *(mg_rg_vu_##SFX*)sums = acc[i][0];                                                        \
                *(mg_rg_vu_##SFX*)(sums + L) = acc[i][1];                                                  \
                for (j = 0; j < ncols; j++)                                                                \
                    cr[j] += sums[j];                                                                      \
            }                                                                                              \
        }                                                                                                  \
    }                                                                                                      \
}

MG_RG_TILES(mg_v8, 8, 6, v8, MG_CLONES)
#ifdef MG_TARGET_V4
MG_RG_TILES(mg_v16, 16, 8, v16, MG_TARGET_V4)
#endif

static ptrdiff_t mg_rg_panel_width(int wide) { return wide ? 32 : 16; }

/* Floats the panels of a (k x n) operand take. */
static ptrdiff_t mg_rg_packed_size(ptrdiff_t k, ptrdiff_t n, int wide) {
    const ptrdiff_t nb = mg_rg_panel_width(wide);
    return (n + nb - 1) / nb * nb * k;
}

/* The panels of b (k x n, row stride ldb), or under trans of b^T for b stored (n x k). */
static void mg_rg_pack(const float* b, ptrdiff_t ldb, int trans, ptrdiff_t k, ptrdiff_t n, int wide, float* p) {
    const ptrdiff_t nb = mg_rg_panel_width(wide), npan = (n + nb - 1) / nb;
    ptrdiff_t pan, kk, j;
    for (pan = 0; pan < npan; pan++)
        for (kk = 0; kk < k; kk++)
            for (j = 0; j < nb; j++) {
                const ptrdiff_t col = pan * nb + j;
                p[(pan * k + kk) * nb + j] = col >= n ? 0.0f : trans ? b[col * ldb + kk] : b[kk * ldb + col];
            }
}

/* c (m x n) += a (m x k) @ the packed operand (as mg_rg_pack made it with the same wide). */
static void mg_rg_gemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float* a, ptrdiff_t lda, const float* packed,
                       int wide, float* c, ptrdiff_t ldc, int nthreads) {
    const ptrdiff_t nb = mg_rg_panel_width(wide), npan = (n + nb - 1) / nb;
    ptrdiff_t pan;
    if (m <= 0 || n <= 0 || k <= 0)
        return;
    if (nthreads > npan)
        nthreads = (int)npan;
    if ((double)m * (double)n * (double)k < MG_RG_PARALLEL_WORK)
        nthreads = 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthreads) schedule(static) if (nthreads > 1)
#endif
    for (pan = 0; pan < npan; pan++) {
        const ptrdiff_t ncols = n - pan * nb < nb ? n - pan * nb : nb;
#ifdef MG_TARGET_V4
        if (wide)
            mg_rg_panel_v16(m, k, a, lda, packed + pan * k * nb, c + pan * nb, ldc, ncols);
        else
#endif
            mg_rg_panel_v8(m, k, a, lda, packed + pan * k * nb, c + pan * nb, ldc, ncols);
    }
}

#endif
