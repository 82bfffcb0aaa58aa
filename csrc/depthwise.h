/* Depthwise 2-D convolution loops for csrc/depthwise.pyx, NHWC, multiplier 1 (depthwise.pyx expands the
 * input channels for a larger multiplier): one instance of depthwise_impl.h per element type, each
 * compiled for x86-64-v3 and the baseline (MG_CLONES), and for float a 16-lane one for x86-64-v4
 * (AVX-512), run when the geometry says `wide` (the CPU has it and c % 16 == 0, set by the caller from
 * mg_cpu_has_v4).  Each output sums the same products in the same order in every instance.  One call
 * computes one row (forward, input gradient) or one run of rows (kernel gradient); the caller spreads the
 * calls over threads.  No state is kept between calls and nothing is allocated. */
#ifndef MINIGRAPH_DEPTHWISE_H
#define MINIGRAPH_DEPTHWISE_H

#include <stddef.h>
#include "mg_simd.h"

/* Kernel rows (and columns) at most this many: the row pointers live on the stack (depthwise.pyx checks). */
#define MG_DW_MAX_KH 32

/* x (n, h, w, c) -> y (n, oh, ow, c) through a (kh, kw) window with strides (sh, sw), dilation (dh, dw) and
 * padding (ph, pw) before. */
typedef struct {
    ptrdiff_t n, h, w, c, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow;
    int wide;      /* 1: run the 16-lane float instance */
    int prefetch;  /* 1: the forward rows prefetch the next row's new input and its output (operands that
                      come from L3 or memory; for data the caches hold, the extra instructions only cost) */
} mg_dw_geom;

typedef double mg_v4d __attribute__((vector_size(32)));

#define MG_DW_T float
#define MG_DW_V mg_v8
#define MG_DW_L 8
#define MG_DW(name) mg_dw_##name##_f32v8
#define MG_DW_ATTR MG_CLONES
#include "depthwise_impl.h"
#define MG_DW_T double
#define MG_DW_V mg_v4d
#define MG_DW_L 4
#define MG_DW(name) mg_dw_##name##_f64
#define MG_DW_ATTR MG_CLONES
#include "depthwise_impl.h"
#ifdef MG_TARGET_V4
#define MG_DW_T float
#define MG_DW_V mg_v16
#define MG_DW_L 16
#define MG_DW(name) mg_dw_##name##_f32v16
#define MG_DW_ATTR MG_TARGET_V4
#include "depthwise_impl.h"
#endif

#ifdef MG_TARGET_V4
#define MG_DW_F32(name, g) ((g)->wide ? mg_dw_##name##_f32v16 : mg_dw_##name##_f32v8)
#else
#define MG_DW_F32(name, g) mg_dw_##name##_f32v8
#endif

static void mg_dw_fwd_row_f32(const float* x, const mg_dw_geom* g, const float* w, const float* bias, int relu,
                              float* y, ptrdiff_t r) {
    MG_DW_F32(fwd_row, g)(x, g, w, bias, relu, y, r);
}

static void mg_dw_bwd_input_row_f32(const float* dy, const mg_dw_geom* g, const float* w, float* dx,
                                    ptrdiff_t r) {
    MG_DW_F32(bwd_input_row, g)(dy, g, w, dx, r);
}

static void mg_dw_dw_rows_f32(const float* x, const float* dy, const mg_dw_geom* g, float* part, ptrdiff_t r0,
                              ptrdiff_t r1) {
    MG_DW_F32(dw_rows, g)(x, dy, g, part, r0, r1);
}
#undef MG_DW_F32

#endif
