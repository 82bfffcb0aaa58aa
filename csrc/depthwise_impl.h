/* The loops of the depthwise convolution (csrc/depthwise.h), written once for either element type.
 *
 * A template: depthwise.h includes this file once per type, after defining
 *   MG_DW_T        the element type, MG_DW_V its vector type (GCC vector extension), MG_DW_L lanes
 *   MG_DW(name)    the instance's name for `name`
 *   MG_DW_ATTR     the entry points' target attribute (MG_CLONES, or MG_TARGET_V4 for the 16-lane one)
 * Every loop runs along the contiguous channel axis: blocks of 2 vectors, then 1 vector, then single
 * channels.  Each output sums its taps in (ky, kx) order whatever path computes it, so tiles, edges and
 * thread counts never change a bit.  The macros are undefined again at the end. */

typedef MG_DW_T MG_DW(vu) __attribute__((vector_size(sizeof(MG_DW_V)), aligned(sizeof(MG_DW_T)), may_alias));
#define MG_DW_LD(p) ((MG_DW_V)(*(const MG_DW(vu)*)(p)))
#define MG_DW_ST(p, v) (*(MG_DW(vu)*)(p) = (v))
/* max(v, 0) that keeps NaN: lanes where v <= 0 is false keep their bits */
#define MG_DW_RELU(v) ((MG_DW_V)((__typeof__((v) <= (v)))(v) & ~((v) <= (MG_DW_V){0})))

/* P output pixels (P <= 8) of one output row, all with taps kx in [kx0, kx1) inside the image; pixel p reads
 * its tap (ky, kx) at rows[ky] + (p * sw + kx * dw) * c.  rows[ky] is NULL for taps above or below the image.
 * y: the first pixel's output; bias may be NULL.  kh, kw: the kernel's size (g->kh, g->kw); step, tap: sw * c
 * and dw * c.  They are arguments so that a call with constants (3x3, unit stride and dilation) unrolls its
 * tap loops; a 3x3 row whose taps lie one pixel apart then loads each input vector once for the three
 * pixels that read it. */
static inline __attribute__((always_inline))
void MG_DW(fwd_pixels)(const MG_DW_T* const* rows, const mg_dw_geom* g, const MG_DW_T* w, const MG_DW_T* bias,
                       int relu, MG_DW_T* y, int P, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t kx0, ptrdiff_t kx1,
                       ptrdiff_t step, ptrdiff_t tap) {
    const ptrdiff_t c = g->c;
    ptrdiff_t c0 = 0, ky, kx, ch;
    int p;
    for (; c0 + 2 * MG_DW_L <= c; c0 += 2 * MG_DW_L) {
        MG_DW_V a0[8], a1[8];
        for (p = 0; p < P; p++) {
            a0[p] = bias ? MG_DW_LD(bias + c0) : (MG_DW_V){0};
            a1[p] = bias ? MG_DW_LD(bias + c0 + MG_DW_L) : (MG_DW_V){0};
        }
        for (ky = 0; ky < kh; ky++) {
            if (!rows[ky])
                continue;
            if (kw == 3 && kx0 == 0 && kx1 == 3 && step == tap) {
                /* pixel p's tap kx is input pixel p + kx: load each of the P + 2 input vectors once and give
                 * it to the three pixels that read it, each pixel's taps still in kx order */
                const MG_DW_T* wp = w + ky * 3 * c + c0;
                const MG_DW_V w00 = MG_DW_LD(wp), w01 = MG_DW_LD(wp + MG_DW_L);
                const MG_DW_V w10 = MG_DW_LD(wp + c), w11 = MG_DW_LD(wp + c + MG_DW_L);
                const MG_DW_V w20 = MG_DW_LD(wp + 2 * c), w21 = MG_DW_LD(wp + 2 * c + MG_DW_L);
                int q;
                for (q = 0; q < P + 2; q++) {
                    const MG_DW_T* xp = rows[ky] + q * step + c0;
                    const MG_DW_V x0 = MG_DW_LD(xp), x1 = MG_DW_LD(xp + MG_DW_L);
                    if (q < P) {
                        a0[q] += x0 * w00;
                        a1[q] += x1 * w01;
                    }
                    if (q >= 1 && q - 1 < P) {
                        a0[q - 1] += x0 * w10;
                        a1[q - 1] += x1 * w11;
                    }
                    if (q >= 2) {
                        a0[q - 2] += x0 * w20;
                        a1[q - 2] += x1 * w21;
                    }
                }
                continue;
            }
            for (kx = kx0; kx < kx1; kx++) {
                const MG_DW_T* wp = w + (ky * kw + kx) * c + c0;
                const MG_DW_T* xp = rows[ky] + kx * tap + c0;
                const MG_DW_V w0 = MG_DW_LD(wp), w1 = MG_DW_LD(wp + MG_DW_L);
                for (p = 0; p < P; p++) {
                    a0[p] += MG_DW_LD(xp + p * step) * w0;
                    a1[p] += MG_DW_LD(xp + p * step + MG_DW_L) * w1;
                }
            }
        }
        for (p = 0; p < P; p++) {
            MG_DW_ST(y + p * c + c0, relu ? MG_DW_RELU(a0[p]) : a0[p]);
            MG_DW_ST(y + p * c + c0 + MG_DW_L, relu ? MG_DW_RELU(a1[p]) : a1[p]);
        }
    }
    for (; c0 + MG_DW_L <= c; c0 += MG_DW_L) {
        MG_DW_V a0[8];
        for (p = 0; p < P; p++)
            a0[p] = bias ? MG_DW_LD(bias + c0) : (MG_DW_V){0};
        for (ky = 0; ky < kh; ky++) {
            if (!rows[ky])
                continue;
            for (kx = kx0; kx < kx1; kx++) {
                const MG_DW_V w0 = MG_DW_LD(w + (ky * kw + kx) * c + c0);
                const MG_DW_T* xp = rows[ky] + kx * tap + c0;
                for (p = 0; p < P; p++)
                    a0[p] += MG_DW_LD(xp + p * step) * w0;
            }
        }
        for (p = 0; p < P; p++)
            MG_DW_ST(y + p * c + c0, relu ? MG_DW_RELU(a0[p]) : a0[p]);
    }
    for (ch = c0; ch < c; ch++)
        for (p = 0; p < P; p++) {
            MG_DW_T s = bias ? bias[ch] : 0;
            for (ky = 0; ky < kh; ky++) {
                if (!rows[ky])
                    continue;
                for (kx = kx0; kx < kx1; kx++)
                    s += rows[ky][p * step + kx * tap + ch] * w[(ky * kw + kx) * c + ch];
            }
            y[p * c + ch] = relu && s <= 0 ? 0 : s;
        }
}

/* Output pixel ox of a row whose window may stick out left or right: its taps clipped to the image. */
static inline __attribute__((always_inline))
void MG_DW(fwd_edge)(const MG_DW_T* const* origin, const mg_dw_geom* g, const MG_DW_T* w, const MG_DW_T* bias,
                     int relu, MG_DW_T* yrow, ptrdiff_t ox) {
    const MG_DW_T* rows[MG_DW_MAX_KH];
    const ptrdiff_t ix = ox * g->sw - g->pw;  /* the window's first column, maybe outside */
    ptrdiff_t kx0 = 0, kx1 = g->kw, ky;
    if (ix < 0)
        kx0 = (-ix + g->dw - 1) / g->dw;
    if (ix + (g->kw - 1) * g->dw >= g->w)
        kx1 = ix >= g->w ? 0 : (g->w - 1 - ix) / g->dw + 1;
    if (kx1 < kx0)
        kx1 = kx0;
    for (ky = 0; ky < g->kh; ky++)
        rows[ky] = origin[ky] ? origin[ky] + ix * g->c : NULL;
    MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * g->c, 1, g->kh, g->kw, kx0, kx1, g->sw * g->c,
                      g->dw * g->c);
}

/* Under g->prefetch, before the interior tile of P pixels from ox of output row (img, oy): ask for the same
 * pixels of the next output row, its new input rows (those below the last row this row's window reads)
 * and its output, so that the tile a row on finds them in cache.  A thread runs its rows in order (the
 * callers hand out runs of rows), so the next row is usually its own. */
static inline __attribute__((always_inline))
void MG_DW(prefetch_next_row)(const MG_DW_T* x, const mg_dw_geom* g, MG_DW_T* yrow, ptrdiff_t img, ptrdiff_t oy,
                              ptrdiff_t ox, ptrdiff_t P) {
    const ptrdiff_t c = g->c, last = oy * g->sh - g->ph + (g->kh - 1) * g->dh;
    const char *p, *end;
    ptrdiff_t ky, iy;
    if (oy + 1 >= g->oh)
        return;
    for (ky = g->kh - 1; ky >= 0 && (iy = (oy + 1) * g->sh - g->ph + ky * g->dh) > last; ky--) {
        if (iy < 0 || iy >= g->h)
            continue;
        const MG_DW_T* row = x + (img * g->h + iy) * g->w * c;
        const ptrdiff_t from = ox * g->sw - g->pw, to = from + P * g->sw;
        p = (const char*)(row + from * c);
        /* into L2 only: a row of many channels would push the rows in use out of L1 */
        for (end = (const char*)(row + (to < g->w ? to : g->w) * c); p < end; p += 64)
            __builtin_prefetch(p, 0, 2);
    }
    p = (const char*)(yrow + (g->ow + ox) * c);
    for (end = p + P * c * sizeof(MG_DW_T); p < end; p += 64)
        __builtin_prefetch(p, 1, 3);
}

/* Output row r (= image * oh + oy) of y = depthwise(x, w) (+ bias, ReLU): x (n, h, w, c), w (kh, kw, c).
 * The pixels whose windows stick out left or right take clipped taps one at a time, the interior ones
 * [lo, hi) go in tiles of 8 and 4. */
MG_DW_ATTR
static void MG_DW(fwd_row)(const MG_DW_T* x, const mg_dw_geom* g, const MG_DW_T* w, const MG_DW_T* bias,
                           int relu, MG_DW_T* y, ptrdiff_t r) {
    const ptrdiff_t img = r / g->oh, oy = r % g->oh, c = g->c, right = g->w - 1 - (g->kw - 1) * g->dw + g->pw;
    const MG_DW_T* rows[MG_DW_MAX_KH];
    const MG_DW_T* origin[MG_DW_MAX_KH];
    /* interior: ox * sw - pw >= 0 and ox * sw - pw + (kw - 1) * dw < w */
    ptrdiff_t ky, ox, P, lo = (g->pw + g->sw - 1) / g->sw, hi = right >= 0 ? right / g->sw + 1 : 0;
    MG_DW_T* yrow = y + r * g->ow * c;
    const ptrdiff_t step = g->sw * c, tap = g->dw * c;
    const int unit3 = g->kh == 3 && g->kw == 3 && g->sw == 1 && g->dw == 1;
    if (hi > g->ow) hi = g->ow;
    if (lo > hi) lo = hi;
    for (ky = 0; ky < g->kh; ky++) {
        const ptrdiff_t iy = oy * g->sh - g->ph + ky * g->dh;
        origin[ky] = iy >= 0 && iy < g->h ? x + ((img * g->h + iy) * g->w) * c : NULL;
    }
    for (ox = 0; ox < lo; ox++)
        MG_DW(fwd_edge)(origin, g, w, bias, relu, yrow, ox);
    for (ox = lo; ox < hi; ox += P) {
        /* tiles of 8, then one of 4, then single pixels; constant P (and for 3x3 kernels constant taps) per
         * call: the loops unroll */
        P = hi - ox >= 8 ? 8 : hi - ox >= 4 ? 4 : 1;
        if (g->prefetch)
            MG_DW(prefetch_next_row)(x, g, yrow, img, oy, ox, P);
        for (ky = 0; ky < g->kh; ky++)
            rows[ky] = origin[ky] ? origin[ky] + (ox * g->sw - g->pw) * c : NULL;
        if (P == 8 && unit3)
            MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * c, 8, 3, 3, 0, 3, c, c);
        else if (P == 8)
            MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * c, 8, g->kh, g->kw, 0, g->kw, step, tap);
        else if (P == 4 && unit3)
            MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * c, 4, 3, 3, 0, 3, c, c);
        else if (P == 4)
            MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * c, 4, g->kh, g->kw, 0, g->kw, step, tap);
        else
            MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * c, 1, g->kh, g->kw, 0, g->kw, step, tap);
    }
    for (ox = hi; ox < g->ow; ox++)
        MG_DW(fwd_edge)(origin, g, w, bias, relu, yrow, ox);
}

/* Input row r (= image * h + iy) of dx for output gradient dy, any stride: each dx pixel gathers the dy
 * pixels whose windows hold it, taps in (ky, kx) order. */
MG_DW_ATTR
static void MG_DW(bwd_input_row)(const MG_DW_T* dy, const mg_dw_geom* g, const MG_DW_T* w, MG_DW_T* dx,
                                 ptrdiff_t r) {
    const ptrdiff_t img = r / g->h, iy = r % g->h, c = g->c;
    const MG_DW_T* dyrow[MG_DW_MAX_KH];
    ptrdiff_t ky, kx, ix, c0, ch;
    for (ky = 0; ky < g->kh; ky++) {
        const ptrdiff_t t = iy + g->ph - ky * g->dh;
        dyrow[ky] = t >= 0 && t % g->sh == 0 && t / g->sh < g->oh ? dy + ((img * g->oh + t / g->sh) * g->ow) * c : NULL;
    }
    for (ix = 0; ix < g->w; ix++) {
        const MG_DW_T* src[MG_DW_MAX_KH * MG_DW_MAX_KH];
        const MG_DW_T* wts[MG_DW_MAX_KH * MG_DW_MAX_KH];
        MG_DW_T* out = dx + (r * g->w + ix) * c;
        int n = 0, i;
        for (ky = 0; ky < g->kh; ky++) {
            if (!dyrow[ky])
                continue;
            for (kx = 0; kx < g->kw; kx++) {
                const ptrdiff_t t = ix + g->pw - kx * g->dw;
                if (t < 0 || t % g->sw != 0 || t / g->sw >= g->ow)
                    continue;
                src[n] = dyrow[ky] + (t / g->sw) * c;
                wts[n] = w + (ky * g->kw + kx) * c;
                n++;
            }
        }
        for (c0 = 0; c0 + 2 * MG_DW_L <= c; c0 += 2 * MG_DW_L) {
            MG_DW_V a0 = {0}, a1 = {0};
            for (i = 0; i < n; i++) {
                a0 += MG_DW_LD(src[i] + c0) * MG_DW_LD(wts[i] + c0);
                a1 += MG_DW_LD(src[i] + c0 + MG_DW_L) * MG_DW_LD(wts[i] + c0 + MG_DW_L);
            }
            MG_DW_ST(out + c0, a0);
            MG_DW_ST(out + c0 + MG_DW_L, a1);
        }
        for (; c0 + MG_DW_L <= c; c0 += MG_DW_L) {
            MG_DW_V a0 = {0};
            for (i = 0; i < n; i++)
                a0 += MG_DW_LD(src[i] + c0) * MG_DW_LD(wts[i] + c0);
            MG_DW_ST(out + c0, a0);
        }
        for (ch = c0; ch < c; ch++) {
            MG_DW_T s = 0;
            for (i = 0; i < n; i++)
                s += src[i][ch] * wts[i][ch];
            out[ch] = s;
        }
    }
}

/* Vectors of channels a kernel-gradient pass takes per pixel: two on the 16-lane instance (18 accumulators
 * of AVX-512's 32 registers), so a 32-channel pixel is read in one pass, whole cache lines in order; one
 * where there are 16 registers. */
#define MG_DW_KB (MG_DW_L == 16 ? 2 : 1)

/* One output pixel's share of a 3x3 kernel gradient, kb vectors of channels: acc[(ky * 3 + kx) * kb + b] +=
 * x tap * dy, dy the kb vectors at dp.  xs[ky]: the pixel's first tap column in tap row ky at the block's
 * first channel (NULL: the row lies above or below the image); tap: dw * c; the tap columns kx in
 * [kx0, kx1) lie inside the image (constants for interior pixels, so the loops unroll). */
static inline __attribute__((always_inline))
void MG_DW(dw_pixel3)(MG_DW_V* acc, const MG_DW_T* const* xs, const MG_DW_T* dp, ptrdiff_t tap, int kb,
                      ptrdiff_t kx0, ptrdiff_t kx1) {
    MG_DW_V d[MG_DW_KB];
    ptrdiff_t ky, kx;
    int b;
    for (b = 0; b < kb; b++)
        d[b] = MG_DW_LD(dp + b * MG_DW_L);
    for (ky = 0; ky < 3; ky++) {
        if (!xs[ky])
            continue;
        for (kx = kx0; kx < kx1; kx++)
            for (b = 0; b < kb; b++)
                acc[(ky * 3 + kx) * kb + b] += MG_DW_LD(xs[ky] + kx * tap + b * MG_DW_L) * d[b];
    }
}

/* The taps of output pixel ox of a row that lie inside the image, and its tap row pointers at channel c0:
 * returns kx0 and sets *kx1 (columns) and xs[ky] (rows[ky] NULL: NULL). */
static inline __attribute__((always_inline))
ptrdiff_t MG_DW(dw_taps3)(const MG_DW_T* const* rows, const mg_dw_geom* g, ptrdiff_t ox, ptrdiff_t c0,
                          const MG_DW_T** xs, ptrdiff_t* kx1) {
    const ptrdiff_t ix = ox * g->sw - g->pw;
    ptrdiff_t kx0 = 0, ky;
    *kx1 = 3;
    while (kx0 < 3 && ix + kx0 * g->dw < 0)
        kx0++;
    while (*kx1 > kx0 && ix + (*kx1 - 1) * g->dw >= g->w)
        (*kx1)--;
    for (ky = 0; ky < 3; ky++)
        xs[ky] = rows[ky] ? rows[ky] + ix * g->c + c0 : NULL;
    return kx0;
}

/* part (3, 3, c) += the kernel gradient of output row (img, oy), channels [c0, c0 + kb * lanes): the 9 * kb
 * tap sums stay in registers along the row (one dy load for 9 products), pixels in order.  dynext, xnext
 * (NULL: none): the next row's dy and the last input row of its window, whose interior pixels' block is
 * prefetched into L2 a row ahead (g->prefetch, as the forward). */
static inline __attribute__((always_inline))
void MG_DW(dw_row3_block)(const MG_DW_T* const* rows, const MG_DW_T* dyrow, const mg_dw_geom* g, MG_DW_T* part,
                          ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t c0, int kb, const MG_DW_T* xnext,
                          const MG_DW_T* dynext) {
    const ptrdiff_t c = g->c, tap = g->dw * c, step = g->sw * c;
    const MG_DW_T* xs[3];
    MG_DW_V acc[9 * MG_DW_KB];
    ptrdiff_t ox, kx0, kx1, ky;
    int k, b;
    for (k = 0; k < 9; k++)
        for (b = 0; b < kb; b++)
            acc[k * kb + b] = MG_DW_LD(part + k * c + c0 + b * MG_DW_L);
    for (ox = 0; ox < lo; ox++) {
        kx0 = MG_DW(dw_taps3)(rows, g, ox, c0, xs, &kx1);
        MG_DW(dw_pixel3)(acc, xs, dyrow + ox * c + c0, tap, kb, kx0, kx1);
    }
    if (lo < hi) {
        MG_DW(dw_taps3)(rows, g, lo, c0, xs, &kx1);
        for (ox = lo; ox < hi; ox++) {
            if (dynext) {
                int q;
                for (q = 0; q < kb * MG_DW_L; q += 64 / (int)sizeof(MG_DW_T)) {
                    __builtin_prefetch(dynext + ox * c + c0 + q, 0, 2);
                    if (xnext)
                        __builtin_prefetch(xnext + (ox * g->sw - g->pw) * c + c0 + q, 0, 2);
                }
            }
            MG_DW(dw_pixel3)(acc, xs, dyrow + ox * c + c0, tap, kb, 0, 3);
            for (ky = 0; ky < 3; ky++)
                if (xs[ky])
                    xs[ky] += step;
        }
    }
    for (ox = hi; ox < g->ow; ox++) {
        kx0 = MG_DW(dw_taps3)(rows, g, ox, c0, xs, &kx1);
        MG_DW(dw_pixel3)(acc, xs, dyrow + ox * c + c0, tap, kb, kx0, kx1);
    }
    for (k = 0; k < 9; k++)
        for (b = 0; b < kb; b++)
            MG_DW_ST(part + k * c + c0 + b * MG_DW_L, acc[k * kb + b]);
}

/* part (3, 3, c) += the kernel gradient of output row (img, oy), channels [0, cv) (whole vectors), in blocks
 * of MG_DW_KB vectors, then single vectors. */
static inline __attribute__((always_inline))
void MG_DW(dw_row3)(const MG_DW_T* x, const MG_DW_T* dyrow, const mg_dw_geom* g, MG_DW_T* part, ptrdiff_t img,
                    ptrdiff_t oy, ptrdiff_t cv) {
    const ptrdiff_t right = g->w - 1 - 2 * g->dw + g->pw;
    /* interior pixels [lo, hi): all three tap columns inside the image */
    ptrdiff_t lo = (g->pw + g->sw - 1) / g->sw, hi = right >= 0 ? right / g->sw + 1 : 0, ky, c0 = 0;
    const MG_DW_T* rows[3];
    if (hi > g->ow) hi = g->ow;
    if (lo > hi) lo = hi;
    for (ky = 0; ky < 3; ky++) {
        const ptrdiff_t iy = oy * g->sh - g->ph + ky * g->dh;
        rows[ky] = iy >= 0 && iy < g->h ? x + (img * g->h + iy) * g->w * g->c : NULL;
    }
    const MG_DW_T *xnext = NULL, *dynext = NULL;
    if (g->prefetch && oy + 1 < g->oh) {  /* the next row's dy and the last input row of its window */
        const ptrdiff_t iy = (oy + 1) * g->sh - g->ph + 2 * g->dh;
        dynext = dyrow + g->ow * g->c;
        xnext = iy >= 0 && iy < g->h ? x + (img * g->h + iy) * g->w * g->c : NULL;
    }
    for (; MG_DW_KB > 1 && c0 + MG_DW_KB * MG_DW_L <= cv; c0 += MG_DW_KB * MG_DW_L)
        MG_DW(dw_row3_block)(rows, dyrow, g, part, lo, hi, c0, MG_DW_KB, xnext, dynext);
    for (; c0 < cv; c0 += MG_DW_L)
        MG_DW(dw_row3_block)(rows, dyrow, g, part, lo, hi, c0, 1, xnext, dynext);
}

/* part (kh, kw, c) += the kernel gradient over output rows [r0, r1), rows in order (the caller zeroes part).  A 3x3 kernel takes its
 * whole vectors of channels through dw_row3; the rest (other kernels, and a 3x3's last c % lanes channels)
 * go tap by tap: for each row and tap, the sum over the row's pixels first (in vectors), then added to part. */
MG_DW_ATTR
static void MG_DW(dw_rows)(const MG_DW_T* x, const MG_DW_T* dy, const mg_dw_geom* g, MG_DW_T* part,
                           ptrdiff_t r0, ptrdiff_t r1) {
    const ptrdiff_t c = g->c, step = g->sw * c;
    const ptrdiff_t first = g->kh == 3 && g->kw == 3 ? c - c % MG_DW_L : 0;  /* channels dw_row3 does */
    ptrdiff_t r, ky, kx, ox, c0, ch;
    for (r = r0; r < r1; r++) {
        const ptrdiff_t img = r / g->oh, oy = r % g->oh;
        const MG_DW_T* dyrow = dy + r * g->ow * c;
        if (first)
            MG_DW(dw_row3)(x, dyrow, g, part, img, oy, first);
        if (first == c)
            continue;
        for (ky = 0; ky < g->kh; ky++) {
            const ptrdiff_t iy = oy * g->sh - g->ph + ky * g->dh;
            if (iy < 0 || iy >= g->h)
                continue;
            for (kx = 0; kx < g->kw; kx++) {
                /* pixels ox whose tap column ox * sw - pw + kx * dw lies in [0, w) */
                const ptrdiff_t off = kx * g->dw - g->pw;
                ptrdiff_t ox0 = off < 0 ? (-off + g->sw - 1) / g->sw : 0;
                ptrdiff_t ox1 = off < g->w ? (g->w - 1 - off) / g->sw + 1 : 0;
                const MG_DW_T* xrow = x + ((img * g->h + iy) * g->w + off) * c;
                MG_DW_T* pp = part + (ky * g->kw + kx) * c;
                if (ox1 > g->ow) ox1 = g->ow;
                if (ox1 <= ox0)
                    continue;
                for (c0 = first; c0 + 4 * MG_DW_L <= c; c0 += 4 * MG_DW_L) {
                    MG_DW_V a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
                    for (ox = ox0; ox < ox1; ox++) {
                        const MG_DW_T* xp = xrow + ox * step + c0;
                        const MG_DW_T* dp = dyrow + ox * c + c0;
                        a0 += MG_DW_LD(xp) * MG_DW_LD(dp);
                        a1 += MG_DW_LD(xp + MG_DW_L) * MG_DW_LD(dp + MG_DW_L);
                        a2 += MG_DW_LD(xp + 2 * MG_DW_L) * MG_DW_LD(dp + 2 * MG_DW_L);
                        a3 += MG_DW_LD(xp + 3 * MG_DW_L) * MG_DW_LD(dp + 3 * MG_DW_L);
                    }
                    MG_DW_ST(pp + c0, MG_DW_LD(pp + c0) + a0);
                    MG_DW_ST(pp + c0 + MG_DW_L, MG_DW_LD(pp + c0 + MG_DW_L) + a1);
                    MG_DW_ST(pp + c0 + 2 * MG_DW_L, MG_DW_LD(pp + c0 + 2 * MG_DW_L) + a2);
                    MG_DW_ST(pp + c0 + 3 * MG_DW_L, MG_DW_LD(pp + c0 + 3 * MG_DW_L) + a3);
                }
                for (; c0 + MG_DW_L <= c; c0 += MG_DW_L) {
                    MG_DW_V a0 = {0};
                    for (ox = ox0; ox < ox1; ox++)
                        a0 += MG_DW_LD(xrow + ox * step + c0) * MG_DW_LD(dyrow + ox * c + c0);
                    MG_DW_ST(pp + c0, MG_DW_LD(pp + c0) + a0);
                }
                for (ch = c0; ch < c; ch++) {
                    MG_DW_T s = 0;
                    for (ox = ox0; ox < ox1; ox++)
                        s += xrow[ox * step + ch] * dyrow[ox * c + ch];
                    pp[ch] += s;
                }
            }
        }
    }
}

#undef MG_DW_KB
#undef MG_DW_LD
#undef MG_DW_ST
#undef MG_DW_RELU
#undef MG_DW_ATTR
#undef MG_DW_T
#undef MG_DW_V
#undef MG_DW_L
#undef MG_DW
