/* Depthwise 2-D convolution loops for csrc/depthwise.pyx, NHWC, multiplier 1 (depthwise.pyx expands the
 * input channels for a larger multiplier): one instance of depthwise_impl.h per element type, each
 * compiled for x86-64-v3 and the baseline (MG_CLONES).  One call computes one row (forward, input
 * gradient) or one run of rows (kernel gradient); the caller spreads the calls over threads.  No state is
 * kept between calls and nothing is allocated. */
#ifndef MINIGRAPH_DEPTHWISE_H
#define MINIGRAPH_DEPTHWISE_H

#include <stddef.h>
#include <string.h>
#include "mg_simd.h"

/* Kernel rows (and columns) at most this many: the row pointers live on the stack (depthwise.pyx checks). */
#define MG_DW_MAX_KH 32

/* x (n, h, w, c) -> y (n, oh, ow, c) through a (kh, kw) window with strides (sh, sw), dilation (dh, dw) and
 * padding (ph, pw) before. */
typedef struct {
    ptrdiff_t n, h, w, c, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow;
} mg_dw_geom;

typedef double mg_v4d __attribute__((vector_size(32)));

#define MG_DW_T float
#define MG_DW_V mg_v8
#define MG_DW_L 8
#define MG_DW(name) mg_dw_##name##_f32
#include "depthwise_impl.h"
#define MG_DW_T double
#define MG_DW_V mg_v4d
#define MG_DW_L 4
#define MG_DW(name) mg_dw_##name##_f64
#include "depthwise_impl.h"

#endif
