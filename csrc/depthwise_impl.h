/* The loops of the depthwise convolution (csrc/depthwise.h), written once for either element type.
 *
 * A template: depthwise.h includes this file once per type, after defining
 *   MG_DW_T        the element type, MG_DW_V its 32-byte vector type (GCC vector extension), MG_DW_L lanes
 *   MG_DW(name)    the instance's name for `name`
 * Every loop runs along the contiguous channel axis: blocks of 2 vectors, then 1 vector, then single
 * channels.  Each output sums its taps in (ky, kx) order whatever path computes it, so tiles, edges and
 * thread counts never change a bit.  The macros are undefined again at the end. */

typedef MG_DW_T MG_DW(vu) __attribute__((vector_size(32), aligned(sizeof(MG_DW_T)), may_alias));
#define MG_DW_LD(p) ((MG_DW_V)(*(const MG_DW(vu)*)(p)))
#define MG_DW_ST(p, v) (*(MG_DW(vu)*)(p) = (v))
/* max(v, 0) that keeps NaN: lanes where v <= 0 is false keep their bits */
#define MG_DW_RELU(v) ((MG_DW_V)((__typeof__((v) <= (v)))(v) & ~((v) <= (MG_DW_V){0})))

/* P output pixels (P <= 4) of one output row, all with taps kx in [kx0, kx1) inside the image; pixel p reads
 * its tap (ky, kx) at rows[ky] + (p * sw + kx * dw) * c.  rows[ky] is NULL for taps above or below the image.
 * y: the first pixel's output; bias may be NULL. */
static inline __attribute__((always_inline))
void MG_DW(fwd_pixels)(const MG_DW_T* const* rows, const mg_dw_geom* g, const MG_DW_T* w, const MG_DW_T* bias,
                       int relu, MG_DW_T* y, int P, ptrdiff_t kx0, ptrdiff_t kx1) {
    const ptrdiff_t c = g->c, step = g->sw * c, tap = g->dw * c;
    ptrdiff_t c0 = 0, ky, kx, ch;
    int p;
    for (; c0 + 2 * MG_DW_L <= c; c0 += 2 * MG_DW_L) {
        MG_DW_V a0[4], a1[4];
        for (p = 0; p < 4; p++) {
            a0[p] = bias ? MG_DW_LD(bias + c0) : (MG_DW_V){0};
            a1[p] = bias ? MG_DW_LD(bias + c0 + MG_DW_L) : (MG_DW_V){0};
        }
        for (ky = 0; ky < g->kh; ky++) {
            if (!rows[ky])
                continue;
            for (kx = kx0; kx < kx1; kx++) {
                const MG_DW_T* wp = w + (ky * g->kw + kx) * c + c0;
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
        MG_DW_V a0[4];
        for (p = 0; p < 4; p++)
            a0[p] = bias ? MG_DW_LD(bias + c0) : (MG_DW_V){0};
        for (ky = 0; ky < g->kh; ky++) {
            if (!rows[ky])
                continue;
            for (kx = kx0; kx < kx1; kx++) {
                const MG_DW_V w0 = MG_DW_LD(w + (ky * g->kw + kx) * c + c0);
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
            for (ky = 0; ky < g->kh; ky++) {
                if (!rows[ky])
                    continue;
                for (kx = kx0; kx < kx1; kx++)
                    s += rows[ky][p * step + kx * tap + ch] * w[(ky * g->kw + kx) * c + ch];
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
    MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * g->c, 1, kx0, kx1);
}

/* Output row r (= image * oh + oy) of y = depthwise(x, w) (+ bias, ReLU): x (n, h, w, c), w (kh, kw, c).
 * The pixels whose windows stick out left or right take clipped taps one at a time, the interior ones
 * [lo, hi) go in tiles of 4. */
MG_CLONES
static void MG_DW(fwd_row)(const MG_DW_T* x, const mg_dw_geom* g, const MG_DW_T* w, const MG_DW_T* bias,
                           int relu, MG_DW_T* y, ptrdiff_t r) {
    const ptrdiff_t img = r / g->oh, oy = r % g->oh, c = g->c, right = g->w - 1 - (g->kw - 1) * g->dw + g->pw;
    const MG_DW_T* rows[MG_DW_MAX_KH];
    const MG_DW_T* origin[MG_DW_MAX_KH];
    /* interior: ox * sw - pw >= 0 and ox * sw - pw + (kw - 1) * dw < w */
    ptrdiff_t ky, ox, P, lo = (g->pw + g->sw - 1) / g->sw, hi = right >= 0 ? right / g->sw + 1 : 0;
    MG_DW_T* yrow = y + r * g->ow * c;
    if (hi > g->ow) hi = g->ow;
    if (lo > hi) lo = hi;
    for (ky = 0; ky < g->kh; ky++) {
        const ptrdiff_t iy = oy * g->sh - g->ph + ky * g->dh;
        origin[ky] = iy >= 0 && iy < g->h ? x + ((img * g->h + iy) * g->w) * c : NULL;
    }
    for (ox = 0; ox < lo; ox++)
        MG_DW(fwd_edge)(origin, g, w, bias, relu, yrow, ox);
    for (ox = lo; ox < hi; ox += P) {
        P = hi - ox < 4 ? hi - ox : 4;
        for (ky = 0; ky < g->kh; ky++)
            rows[ky] = origin[ky] ? origin[ky] + (ox * g->sw - g->pw) * c : NULL;
        if (P == 4)  /* a constant P per call: the pixel loops unroll */
            MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * c, 4, 0, g->kw);
        else
            MG_DW(fwd_pixels)(rows, g, w, bias, relu, yrow + ox * c, 1, 0, g->kw), P = 1;
    }
    for (ox = hi; ox < g->ow; ox++)
        MG_DW(fwd_edge)(origin, g, w, bias, relu, yrow, ox);
}

/* Input row r (= image * h + iy) of dx for output gradient dy, any stride: each dx pixel gathers the dy
 * pixels whose windows hold it, taps in (ky, kx) order. */
MG_CLONES
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

/* part (kh, kw, c) = the kernel gradient over output rows [r0, r1): for each row and tap, the sum over the
 * row's pixels first (in vectors), then added to part; rows and taps in order. */
MG_CLONES
static void MG_DW(dw_rows)(const MG_DW_T* x, const MG_DW_T* dy, const mg_dw_geom* g, MG_DW_T* part,
                           ptrdiff_t r0, ptrdiff_t r1) {
    const ptrdiff_t c = g->c, step = g->sw * c;
    ptrdiff_t r, ky, kx, ox, c0, ch;
    memset(part, 0, sizeof(MG_DW_T) * (size_t)(g->kh * g->kw * c));
    for (r = r0; r < r1; r++) {
        const ptrdiff_t img = r / g->oh, oy = r % g->oh;
        const MG_DW_T* dyrow = dy + r * g->ow * c;
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
                for (c0 = 0; c0 + 4 * MG_DW_L <= c; c0 += 4 * MG_DW_L) {
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

#undef MG_DW_LD
#undef MG_DW_ST
#undef MG_DW_RELU
#undef MG_DW_T
#undef MG_DW_V
#undef MG_DW_L
#undef MG_DW
