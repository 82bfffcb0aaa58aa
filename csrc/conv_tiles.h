/* Register tiles of the direct convolution (csrc/conv_direct.h), written once for any vector width.
 *
 * A template: conv_direct.h includes this file once per instruction set, after defining
 *   MG_TV            the float vector type (GCC vector extension), MG_TL its lanes
 *   MG_TP            pixels (forward) or taps (kernel gradient) per tile
 *   MG_T(name)       the instance's name for `name`
 *   MG_TATTR         the instance's function attributes (target / target_clones)
 * A tile is MG_TP rows x 2 vectors of channels (2 * MG_TL output channels), kept in 2 * MG_TP
 * accumulators; a last block of MG_TL channels uses one vector per row.  The accumulator arrays have
 * constant bounds, so -O3 unrolls every loop over them and keeps them in registers.  Scalars times vectors
 * broadcast (GCC vector extensions), and a * b + c contracts to an FMA where the target has one.
 * Every macro above is undefined again at the end, ready for the next instance. */

typedef float MG_T(vu) __attribute__((vector_size(sizeof(MG_TV)), aligned(4), may_alias));
#define MG_TLD(p) ((MG_TV)(*(const MG_T(vu)*)(p)))
#define MG_TST(p, v) (*(MG_T(vu)*)(p) = (v))

/* max(v, 0) that keeps NaN: lanes where v <= 0 is false keep their bits */
#define MG_TRELU(v) ((MG_TV)((__typeof__((v) <= (v)))(v) & ~((v) <= (MG_TV){0})))

/* y rows for output pixels [p0, p1) of one image (co % MG_TL == 0).  ximg: the image as read; off: kdim
 * offsets; w: (kdim, co) row-major; bias may be NULL. */
MG_TATTR
static void MG_T(fwd_tiles)(const float* ximg, const mg_geom* g, const ptrdiff_t* off, ptrdiff_t kdim,
                            const float* w, const float* bias, int relu, float* yimg, ptrdiff_t p0,
                            ptrdiff_t p1) {
    const ptrdiff_t co = g->co, ow = g->ow, c = g->c;
    ptrdiff_t p, i, k, jb;
    int v;
    for (p = p0; p < p1; p += MG_TP) {
        const float* xr[MG_TP];
        const ptrdiff_t m = p1 - p < MG_TP ? p1 - p : MG_TP;
        ptrdiff_t qy = p / ow, qx = p % ow;  /* one division per tile, then step along the row */
        for (i = 0; i < m; i++) {
            xr[i] = ximg + (qy * g->sh * g->row + qx * g->sw) * c;
            if (++qx == ow) {
                qx = 0;
                qy++;
            }
        }
        for (; i < MG_TP; i++)  /* rows past the end repeat the last pixel; their sums are dropped */
            xr[i] = xr[m - 1];
        for (jb = 0; jb < co; jb += 2 * MG_TL) {
            const int nv = co - jb >= 2 * MG_TL ? 2 : 1;
            MG_TV acc[MG_TP][2], out;
            const float* wk = w + jb;
            for (i = 0; i < MG_TP; i++)
                acc[i][0] = acc[i][1] = (MG_TV){0};
            if (nv == 2) {
                for (k = 0; k < kdim; k++, wk += co) {
                    const MG_TV w0 = MG_TLD(wk), w1 = MG_TLD(wk + MG_TL);
                    const ptrdiff_t o = off[k];
                    for (i = 0; i < MG_TP; i++) {
                        acc[i][0] += xr[i][o] * w0;
                        acc[i][1] += xr[i][o] * w1;
                    }
                }
            } else {
                for (k = 0; k < kdim; k++, wk += co) {
                    const MG_TV w0 = MG_TLD(wk);
                    const ptrdiff_t o = off[k];
                    for (i = 0; i < MG_TP; i++)
                        acc[i][0] += xr[i][o] * w0;
                }
            }
            for (i = 0; i < m; i++)
                for (v = 0; v < nv; v++) {
                    out = acc[i][v] + (bias ? MG_TLD(bias + jb + v * MG_TL) : (MG_TV){0});
                    if (relu)
                        out = MG_TRELU(out);
                    MG_TST(yimg + (p + i) * co + jb + v * MG_TL, out);
                }
        }
    }
}

/* dw (kdim, co) += partial sums over output pixels [p0, p1) of one image (co % MG_TL == 0): MG_TP rows
 * (tap, cin) of dw at a time, summed over the pixels. */
MG_TATTR
static void MG_T(dw_tiles)(const float* ximg, const mg_geom* g, const ptrdiff_t* off, ptrdiff_t kdim,
                           const float* dyimg, float* dw, ptrdiff_t p0, ptrdiff_t p1) {
    const ptrdiff_t co = g->co, ow = g->ow, c = g->c, sw = g->sw * c, rs = g->sh * g->row * c;
    ptrdiff_t r0, i, jb, p;
    int v;
    for (r0 = 0; r0 < kdim; r0 += MG_TP) {
        const ptrdiff_t m = kdim - r0 < MG_TP ? kdim - r0 : MG_TP;
        ptrdiff_t o[MG_TP];
        for (i = 0; i < MG_TP; i++)  /* rows past the end repeat the last one; their sums are dropped */
            o[i] = off[r0 + (i < m ? i : m - 1)];
        for (jb = 0; jb < co; jb += 2 * MG_TL) {
            const int nv = co - jb >= 2 * MG_TL ? 2 : 1;
            MG_TV acc[MG_TP][2];
            ptrdiff_t ox = p0 % ow;
            const float* xrow = ximg + (p0 / ow) * rs;
            const float* d = dyimg + p0 * co + jb;
            for (i = 0; i < MG_TP; i++)
                acc[i][0] = acc[i][1] = (MG_TV){0};
            if (nv == 2) {
                for (p = p0; p < p1; p++, d += co) {
                    const float* b = xrow + ox * sw;
                    const MG_TV d0 = MG_TLD(d), d1 = MG_TLD(d + MG_TL);
                    for (i = 0; i < MG_TP; i++) {
                        acc[i][0] += b[o[i]] * d0;
                        acc[i][1] += b[o[i]] * d1;
                    }
                    if (++ox == ow) { ox = 0; xrow += rs; }
                }
            } else {
                for (p = p0; p < p1; p++, d += co) {
                    const float* b = xrow + ox * sw;
                    const MG_TV d0 = MG_TLD(d);
                    for (i = 0; i < MG_TP; i++)
                        acc[i][0] += b[o[i]] * d0;
                    if (++ox == ow) { ox = 0; xrow += rs; }
                }
            }
            for (i = 0; i < m; i++)
                for (v = 0; v < nv; v++) {
                    float* dst = dw + (r0 + i) * co + jb + v * MG_TL;
                    MG_TST(dst, MG_TLD(dst) + acc[i][v]);
                }
        }
    }
}

#undef MG_TLD
#undef MG_TST
#undef MG_TRELU
#undef MG_TV
#undef MG_TL
#undef MG_TP
#undef MG_T
#undef MG_TATTR
