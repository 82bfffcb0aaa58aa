/* Direct ("implicit GEMM") float32 convolution kernels for csrc/conv.pyx, NHWC, no im2col buffer.
 *
 * A conv2d is y[p, j] = sum_k x[pix(p) + off[k]] * w[k, j], where p runs over output pixels, pix(p) is
 * the address of the top-left corner of p's window in the (possibly zero-padded) input image, and k runs
 * over the kh * kw * c taps-and-channels with off[k] = (ky * row + kx) * c + ci.  The kernels below
 * evaluate that sum straight from the input image through the offset table, so the column matrix is
 * never written: the weights (at most a few 10 KB here) and a few input rows stay in L1/L2.
 *
 *   mg_conv_fwd  y = conv(x, w) (+ bias, optional ReLU)   -- conv2d forward, and (with a flipped
 *                                                            kernel on padded dy) the stride-1 input
 *                                                            gradient / conv2d_transpose forward
 *   mg_conv_dw   dw = sum_p x[pix(p) + off[k]] * dy[p, j] -- the kernel gradient
 *
 * Two register-tile shapes each:
 *   cout % 8 == 0      6 output pixels (forward) or 6 taps (kernel gradient) x 16 (or 8) channels,
 *                      vectors along cout, the other operand broadcast: the classic 6x16 FMA tile.
 *   cout < 8, c % 8 == 0   vectors along cin (the contiguous part of k), horizontal sums at the end:
 *                      for one-channel outputs, where vectors along cout would waste 7/8 of each lane.
 * Other shapes return MG_CONV_UNSUPPORTED and conv.pyx uses its im2col + BLAS path.
 *
 * SIMD: plain C with GCC vector extensions, compiled twice through target_clones (AVX2+FMA "x86-64-v3"
 * and the x86-64 baseline); the loader picks the clone at run time, so the default build runs anywhere.
 * No -ffast-math: a * b + c contracts to FMA only (GCC's default -ffp-contract=fast for GNU C).
 *
 * Threads: one OpenMP parallel region per call, a dynamic schedule over (image, pixel range) items (a
 * thread whose core is busy with another process takes fewer items instead of holding up the rest);
 * each thread has its own padded-image scratch (and, for dw, its own partial gradient).  Nothing is shared between
 * calls, so concurrent calls from several Python threads are safe.  No BLAS is called here.
 */
#ifndef MINIGRAPH_CONV_DIRECT_H
#define MINIGRAPH_CONV_DIRECT_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define MG_CONV_OK 0
#define MG_CONV_UNSUPPORTED 1
#define MG_CONV_NOMEM 2

#include "mg_simd.h"

/* Geometry of one call: input images (n, h, w, c) read through a zero-padded window of (hp, wp). */
typedef struct {
    ptrdiff_t n, h, w, c, ph, pw, kh, kw, sh, sw, oh, ow, co;
    ptrdiff_t hp, wp;       /* padded input extent actually read: (oh-1)*sh + kh, (ow-1)*sw + kw */
    int padded;             /* 1: copy each image into a zeroed (hp, wp, c) scratch first */
    ptrdiff_t row;          /* row stride (in pixels) of the image the offsets index */
} mg_geom;

static void mg_geom_init(mg_geom* g) {
    g->hp = (g->oh - 1) * g->sh + g->kh;
    g->wp = (g->ow - 1) * g->sw + g->kw;
    g->padded = g->ph != 0 || g->pw != 0 || g->hp > g->h || g->wp > g->w;
    g->row = g->padded ? g->wp : g->w;
}

/* Image `img` as the kernels read it, for output pixels [p0, p1): x itself, or (padded geometry) the
 * thread's zero-bordered scratch with the input rows those pixels' windows read copied in. */
static const float* mg_image(const float* x, const mg_geom* g, ptrdiff_t img, float* scratch,
                             ptrdiff_t p0, ptrdiff_t p1) {
    ptrdiff_t c = g->c, iy, y0, y1, x1;
    if (!g->padded)
        return x + img * g->h * g->w * c;
    /* padded rows [r0, r1) are read; they hold input rows r - ph, clipped to [0, h) */
    y0 = (p0 / g->ow) * g->sh - g->ph;
    y1 = ((p1 - 1) / g->ow) * g->sh + g->kh - g->ph;
    if (y0 < 0) y0 = 0;
    if (y1 > g->h) y1 = g->h;
    x1 = g->w;
    if (x1 + g->pw > g->wp) x1 = g->wp - g->pw;
    if (x1 > 0)
        for (iy = y0; iy < y1; iy++)
            memcpy(scratch + ((iy + g->ph) * g->wp + g->pw) * c,
                   x + ((img * g->h + iy) * g->w) * c, (size_t)(x1 * c) * sizeof(float));
    return scratch;
}

/* Work items for the dynamic schedule: each image in `parts` ranges of output pixels, enough items
 * (>= 8 per thread) that a thread sharing its core with another process just takes fewer of them. */
static ptrdiff_t mg_parts(const mg_geom* g, int nthreads) {
    ptrdiff_t parts = (8 * (ptrdiff_t)nthreads + g->n - 1) / g->n;
    if (parts > g->oh) parts = g->oh;
    return parts < 1 ? 1 : parts;
}

static float* mg_scratch(const mg_geom* g) {
    /* zeroed once: the border never changes, the interior is overwritten per image */
    return g->padded ? (float*)calloc((size_t)(g->hp * g->wp * g->c) + 8, sizeof(float)) : NULL;
}

/* ---------------------------------------------------------------------------------------- forward */

/* y rows for output pixels [p0, p1) of one image (cout % 8 == 0).  ximg: the image as read; off: kdim
 * offsets; w: (kdim, co) row-major. */
MG_CLONES
static void mg_fwd_tiles(const float* ximg, const mg_geom* g, const ptrdiff_t* off, ptrdiff_t kdim,
                         const float* w, const float* bias, int relu, float* yimg, ptrdiff_t p0, ptrdiff_t p1) {
    const ptrdiff_t co = g->co, ow = g->ow, c = g->c;
    ptrdiff_t p, i, k, jb;
    for (p = p0; p < p1; p += 6) {
        const float* xr[6];
        ptrdiff_t m = p1 - p < 6 ? p1 - p : 6;
        for (i = 0; i < 6; i++) {
            ptrdiff_t q = p + (i < m ? i : m - 1);
            xr[i] = ximg + ((q / ow) * g->sh * g->row + (q % ow) * g->sw) * c;
        }
        for (jb = 0; jb < co; jb += 16) {
            mg_v8 z = MG_BC(0);
            if (co - jb >= 16) {
                mg_v8 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z;
                mg_v8 a30 = z, a31 = z, a40 = z, a41 = z, a50 = z, a51 = z;
                const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3], *x4 = xr[4], *x5 = xr[5];
                const float* wk = w + jb;
                for (k = 0; k < kdim; k++, wk += co) {
                    mg_v8 w0 = MG_LD(wk), w1 = MG_LD(wk + 8), b;
                    ptrdiff_t o = off[k];
                    b = MG_BC(x0[o]); a00 += b * w0; a01 += b * w1;
                    b = MG_BC(x1[o]); a10 += b * w0; a11 += b * w1;
                    b = MG_BC(x2[o]); a20 += b * w0; a21 += b * w1;
                    b = MG_BC(x3[o]); a30 += b * w0; a31 += b * w1;
                    b = MG_BC(x4[o]); a40 += b * w0; a41 += b * w1;
                    b = MG_BC(x5[o]); a50 += b * w0; a51 += b * w1;
                }
                mg_v8 acc[12] = {a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51};
                mg_v8 b0 = bias ? MG_LD(bias + jb) : z, b1 = bias ? MG_LD(bias + jb + 8) : z;
                for (i = 0; i < m; i++) {
                    mg_v8 v0 = acc[2 * i] + b0, v1 = acc[2 * i + 1] + b1;
                    if (relu) {
                        v0 = MG_RELU(v0, z);
                        v1 = MG_RELU(v1, z);
                    }
                    MG_ST(yimg + (p + i) * co + jb, v0);
                    MG_ST(yimg + (p + i) * co + jb + 8, v1);
                }
            } else { /* 8 remaining channels */
                mg_v8 a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z;
                const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3], *x4 = xr[4], *x5 = xr[5];
                const float* wk = w + jb;
                for (k = 0; k < kdim; k++, wk += co) {
                    mg_v8 w0 = MG_LD(wk);
                    ptrdiff_t o = off[k];
                    a0 += MG_BC(x0[o]) * w0; a1 += MG_BC(x1[o]) * w0; a2 += MG_BC(x2[o]) * w0;
                    a3 += MG_BC(x3[o]) * w0; a4 += MG_BC(x4[o]) * w0; a5 += MG_BC(x5[o]) * w0;
                }
                mg_v8 acc[6] = {a0, a1, a2, a3, a4, a5};
                mg_v8 b0 = bias ? MG_LD(bias + jb) : z;
                for (i = 0; i < m; i++) {
                    mg_v8 v0 = acc[i] + b0;
                    if (relu) v0 = MG_RELU(v0, z);
                    MG_ST(yimg + (p + i) * co + jb, v0);
                }
            }
        }
    }
}

/* cout < 8, c % 8 == 0: vectors along cin.  voff: kdim/8 vector offsets; wt: (co, kdim) (transposed). */
MG_CLONES
static void mg_fwd_narrow(const float* ximg, const mg_geom* g, const ptrdiff_t* voff, ptrdiff_t nv,
                          const float* wt, const float* bias, int relu, float* yimg, ptrdiff_t p0, ptrdiff_t p1) {
    const ptrdiff_t co = g->co, ow = g->ow, c = g->c;
    ptrdiff_t p, i, q, j;
    for (p = p0; p < p1; p += 4) {
        const float* xr[4];
        ptrdiff_t m = p1 - p < 4 ? p1 - p : 4;
        for (i = 0; i < 4; i++) {
            ptrdiff_t r = p + (i < m ? i : m - 1);
            xr[i] = ximg + ((r / ow) * g->sh * g->row + (r % ow) * g->sw) * c;
        }
        for (j = 0; j < co; j++) {
            mg_v8 z = MG_BC(0), a0 = z, a1 = z, a2 = z, a3 = z;
            const float* wq = wt + j * nv * 8;
            const float *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
            for (q = 0; q < nv; q++) {
                mg_v8 wv = MG_LD(wq + 8 * q);
                ptrdiff_t o = voff[q];
                a0 += MG_LD(x0 + o) * wv; a1 += MG_LD(x1 + o) * wv;
                a2 += MG_LD(x2 + o) * wv; a3 += MG_LD(x3 + o) * wv;
            }
            mg_v8 acc[4] = {a0, a1, a2, a3};
            for (i = 0; i < m; i++) {
                mg_v8 v = acc[i];
                float s = ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
                if (bias) s += bias[j];
                if (relu && s <= 0) s = 0;  /* NaN stays NaN, like the vector form */
                yimg[(p + i) * co + j] = s;
            }
        }
    }
}

/* y (n, oh, ow, co) = conv of x (n, h, w, c) with w (kh, kw, c, co) (+ bias, relu).  Returns MG_CONV_*. */
static int mg_conv_fwd(const float* x, mg_geom g, const float* w, const float* bias, int relu, float* y,
                       int nthreads) {
    const ptrdiff_t c = g.c, co = g.co, kdim = g.kh * g.kw * g.c;
    const int narrow = co % 8 != 0;
    ptrdiff_t ky, kx, ci, k, nv = kdim / 8;
    ptrdiff_t* off;
    float* wt = NULL;
    int status = MG_CONV_OK;
    if (narrow && (co >= 8 || c % 8 != 0))
        return MG_CONV_UNSUPPORTED;
    mg_geom_init(&g);
    off = (ptrdiff_t*)malloc(sizeof(ptrdiff_t) * (size_t)kdim);
    if (!off)
        return MG_CONV_NOMEM;
    for (ky = 0, k = 0; ky < g.kh; ky++)
        for (kx = 0; kx < g.kw; kx++)
            for (ci = 0; ci < c; ci++)
                off[k++] = (ky * g.row + kx) * c + ci;
    if (narrow) {  /* vector offsets are every 8th offset; weights transposed to (co, kdim) */
        for (k = 0; k < nv; k++)
            off[k] = off[8 * k];
        wt = (float*)malloc(sizeof(float) * (size_t)(kdim * co));
        if (!wt) {
            free(off);
            return MG_CONV_NOMEM;
        }
        for (k = 0; k < kdim; k++)
            for (ci = 0; ci < co; ci++)
                wt[ci * kdim + k] = w[k * co + ci];
    }
    {
        const ptrdiff_t per_img = g.oh * g.ow, parts = mg_parts(&g, nthreads), items = g.n * parts;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
        {
            ptrdiff_t item;
            float* scratch = mg_scratch(&g);
            if (g.padded && !scratch) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                status = MG_CONV_NOMEM;
            }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (item = 0; item < items; item++) {
                ptrdiff_t img = item / parts, part = item % parts;
                ptrdiff_t p0 = per_img * part / parts, p1 = per_img * (part + 1) / parts;
                const float* ximg;
                if (p0 >= p1 || (g.padded && !scratch))
                    continue;
                ximg = mg_image(x, &g, img, scratch, p0, p1);
                if (narrow)
                    mg_fwd_narrow(ximg, &g, off, nv, wt, bias, relu, y + img * per_img * co, p0, p1);
                else
                    mg_fwd_tiles(ximg, &g, off, kdim, w, bias, relu, y + img * per_img * co, p0, p1);
            }
            free(scratch);
        }
    }
    free(off);
    free(wt);
    return status;
}

/* ------------------------------------------------------------------------------- kernel gradient */

/* dw (kdim, co) += partial sums over output pixels [p0, p1) of one image (cout % 8 == 0). */
MG_CLONES
static void mg_dw_tiles(const float* ximg, const mg_geom* g, const ptrdiff_t* off, ptrdiff_t kdim,
                        const float* dyimg, float* dw, ptrdiff_t p0, ptrdiff_t p1) {
    const ptrdiff_t co = g->co, ow = g->ow, c = g->c, sw = g->sw * c, rs = g->sh * g->row * c;
    ptrdiff_t r0, i, jb, p;
    for (r0 = 0; r0 < kdim; r0 += 6) {
        ptrdiff_t m = kdim - r0 < 6 ? kdim - r0 : 6;
        ptrdiff_t o[6];
        for (i = 0; i < 6; i++)
            o[i] = off[r0 + (i < m ? i : m - 1)];
        for (jb = 0; jb < co; jb += 16) {
            const int two = co - jb >= 16;
            mg_v8 z = MG_BC(0);
            mg_v8 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z;
            mg_v8 a30 = z, a31 = z, a40 = z, a41 = z, a50 = z, a51 = z;
            ptrdiff_t oy = p0 / ow, ox = p0 % ow;
            const float* xrow = ximg + oy * rs;
            const float* d = dyimg + p0 * co + jb;
            if (two) {
                for (p = p0; p < p1; p++, d += co) {
                    const float* b = xrow + ox * sw;
                    mg_v8 d0 = MG_LD(d), d1 = MG_LD(d + 8), v;
                    v = MG_BC(b[o[0]]); a00 += v * d0; a01 += v * d1;
                    v = MG_BC(b[o[1]]); a10 += v * d0; a11 += v * d1;
                    v = MG_BC(b[o[2]]); a20 += v * d0; a21 += v * d1;
                    v = MG_BC(b[o[3]]); a30 += v * d0; a31 += v * d1;
                    v = MG_BC(b[o[4]]); a40 += v * d0; a41 += v * d1;
                    v = MG_BC(b[o[5]]); a50 += v * d0; a51 += v * d1;
                    if (++ox == ow) { ox = 0; xrow += rs; }
                }
            } else {
                for (p = p0; p < p1; p++, d += co) {
                    const float* b = xrow + ox * sw;
                    mg_v8 d0 = MG_LD(d);
                    a00 += MG_BC(b[o[0]]) * d0; a10 += MG_BC(b[o[1]]) * d0; a20 += MG_BC(b[o[2]]) * d0;
                    a30 += MG_BC(b[o[3]]) * d0; a40 += MG_BC(b[o[4]]) * d0; a50 += MG_BC(b[o[5]]) * d0;
                    if (++ox == ow) { ox = 0; xrow += rs; }
                }
            }
            {
                mg_v8 acc[12] = {a00, a01, a10, a11, a20, a21, a30, a31, a40, a41, a50, a51};
                for (i = 0; i < m; i++) {
                    float* dst = dw + (r0 + i) * co + jb;
                    MG_ST(dst, MG_LD(dst) + acc[2 * i]);
                    if (two) MG_ST(dst + 8, MG_LD(dst + 8) + acc[2 * i + 1]);
                }
            }
        }
    }
}

/* cout < 8, c % 8 == 0: vectors along cin, up to 12 vector rows per pass over the pixels. */
MG_CLONES
static void mg_dw_narrow(const float* ximg, const mg_geom* g, const ptrdiff_t* voff, ptrdiff_t nv,
                         const float* dyimg, float* dw, ptrdiff_t p0, ptrdiff_t p1) {
    const ptrdiff_t co = g->co, ow = g->ow, c = g->c, sw = g->sw * c, rs = g->sh * g->row * c;
    ptrdiff_t q0, i, j, p, l;
    for (j = 0; j < co; j++) {
        for (q0 = 0; q0 < nv; q0 += 12) {
            ptrdiff_t m = nv - q0 < 12 ? nv - q0 : 12;
            mg_v8 acc[12];
            ptrdiff_t o[12];
            for (i = 0; i < 12; i++) {
                acc[i] = MG_BC(0);
                o[i] = voff[q0 + (i < m ? i : m - 1)];
            }
            {
                ptrdiff_t oy = p0 / ow, ox = p0 % ow;
                const float* xrow = ximg + oy * rs;
                const float* d = dyimg + p0 * co + j;
                if (m > 6) {
                    for (p = p0; p < p1; p++, d += co) {
                        const float* b = xrow + ox * sw;
                        mg_v8 v = MG_BC(*d);
                        for (i = 0; i < 12; i++)
                            acc[i] += MG_LD(b + o[i]) * v;
                        if (++ox == ow) { ox = 0; xrow += rs; }
                    }
                } else {
                    for (p = p0; p < p1; p++, d += co) {
                        const float* b = xrow + ox * sw;
                        mg_v8 v = MG_BC(*d);
                        for (i = 0; i < 6; i++)
                            acc[i] += MG_LD(b + o[i]) * v;
                        if (++ox == ow) { ox = 0; xrow += rs; }
                    }
                }
            }
            for (i = 0; i < m; i++)
                for (l = 0; l < 8; l++)
                    dw[(8 * (q0 + i) + l) * co + j] += acc[i][l];
        }
    }
}

/* dw (kh, kw, c, co) = sum over images and output pixels of x windows times dy (n, oh, ow, co). */
static int mg_conv_dw(const float* x, mg_geom g, const float* dy, float* dw, int nthreads) {
    const ptrdiff_t c = g.c, co = g.co, kdim = g.kh * g.kw * g.c;
    const int narrow = co % 8 != 0;
    ptrdiff_t ky, kx, ci, k, nv = kdim / 8;
    ptrdiff_t* off;
    int status = MG_CONV_OK;
    if (narrow && (co >= 8 || c % 8 != 0))
        return MG_CONV_UNSUPPORTED;
    mg_geom_init(&g);
    off = (ptrdiff_t*)malloc(sizeof(ptrdiff_t) * (size_t)kdim);
    if (!off)
        return MG_CONV_NOMEM;
    for (ky = 0, k = 0; ky < g.kh; ky++)
        for (kx = 0; kx < g.kw; kx++)
            for (ci = 0; ci < c; ci++)
                off[k++] = (ky * g.row + kx) * c + ci;
    if (narrow)
        for (k = 0; k < nv; k++)
            off[k] = off[8 * k];
    memset(dw, 0, sizeof(float) * (size_t)(kdim * co));
    {
        const ptrdiff_t per_img = g.oh * g.ow, parts = mg_parts(&g, nthreads), items = g.n * parts;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
        {
            ptrdiff_t item, e;
            int used = 0;
            float* part = (float*)calloc((size_t)(kdim * co) + 8, sizeof(float));
            float* scratch = part ? mg_scratch(&g) : NULL;
            const int ok = part && (!g.padded || scratch);
            if (!ok) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                status = MG_CONV_NOMEM;
            }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (item = 0; item < items; item++) {
                ptrdiff_t img = item / parts, pt = item % parts;
                ptrdiff_t p0 = per_img * pt / parts, p1 = per_img * (pt + 1) / parts;
                const float* ximg;
                if (p0 >= p1 || !ok)
                    continue;
                ximg = mg_image(x, &g, img, scratch, p0, p1);
                if (narrow)
                    mg_dw_narrow(ximg, &g, off, nv, dy + img * per_img * co, part, p0, p1);
                else
                    mg_dw_tiles(ximg, &g, off, kdim, dy + img * per_img * co, part, p0, p1);
                used = 1;
            }
            if (used) {
#ifdef _OPENMP
#pragma omp critical(mg_conv_dw_reduce)
#endif
                for (e = 0; e < kdim * co; e++)
                    dw[e] += part[e];
            }
            free(scratch);
            free(part);
        }
    }
    free(off);
    return status;
}

#endif
