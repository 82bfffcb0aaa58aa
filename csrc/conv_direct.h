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
 *   cout % 8 == 0      rows of output pixels (forward) or of taps (kernel gradient) x two vectors of
 *                      channels, vectors along cout, the other operand broadcast (csrc/conv_tiles.h):
 *                      6 x 16 with 8-lane vectors, 12 x 32 with 16-lane ones (AVX-512, cout % 16 == 0).
 *   cout < 8, c % 8 == 0   vectors along cin (the contiguous part of k), horizontal sums at the end:
 *                      for one-channel outputs, where vectors along cout would waste 7/8 of each lane.
 * Other shapes return MG_CONV_UNSUPPORTED and conv.pyx uses its im2col + BLAS path.
 *
 * SIMD: plain C with GCC vector extensions.  The 8-lane code is compiled twice through target_clones (AVX2+FMA
 * "x86-64-v3" and the x86-64 baseline; the loader picks the clone), the 16-lane tiles once for x86-64-v4,
 * called only when the CPU reports that level: the default build runs anywhere.  Every tile sums each
 * output in the same order, so the instances agree bit for bit.
 * No -ffast-math: a * b + c contracts to FMA only (GCC's default -ffp-contract=fast for GNU C).
 *
 * Threads: one OpenMP parallel region per call, a dynamic schedule over (image, pixel range) items (a
 * thread whose core is busy with another process takes fewer items instead of holding up the rest);
 * each thread has its own padded-image scratch.  The kernel gradient sums into a fixed number of slot
 * partials added in slot order, so every result is the same bit for bit for any thread count and from run
 * to run.  Nothing is shared between calls, so concurrent calls from several Python threads are safe.
 * No BLAS is called here.
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

/* Work items for the dynamic schedule: each image cut into runs of `chunk` output pixels, enough items
 * (>= 8 per thread) that a thread sharing its core with another process just takes fewer of them.  A run
 * is a whole number of 12-pixel tiles (the taller tile) and at least two of them, so the last tile of a
 * run is rarely a partial one: a dense layer (one image of n pixels) splits as well as a batch of images. */
typedef struct {
    ptrdiff_t per_img, chunk, parts, items;
} mg_split;

static mg_split mg_split_work(const mg_geom* g, int nthreads) {
    mg_split s;
    ptrdiff_t parts = (8 * (ptrdiff_t)nthreads + g->n - 1) / g->n;
    s.per_img = g->oh * g->ow;
    if (parts < 1) parts = 1;
    s.chunk = (s.per_img + parts - 1) / parts;
    s.chunk = s.chunk < 24 ? 24 : (s.chunk + 11) / 12 * 12;
    s.parts = (s.per_img + s.chunk - 1) / s.chunk;
    if (s.parts < 1) s.parts = 1;
    s.items = g->n * s.parts;
    return s;
}

/* Image and output pixels [p0, p1) of work item `item`; 0 when the range is empty. */
static int mg_item(const mg_split* s, ptrdiff_t item, ptrdiff_t* img, ptrdiff_t* p0, ptrdiff_t* p1) {
    *img = item / s->parts;
    *p0 = (item % s->parts) * s->chunk;
    *p1 = *p0 + s->chunk < s->per_img ? *p0 + s->chunk : s->per_img;
    return *p0 < *p1;
}

/* Work items of the kernel gradient (mg_conv_dw): at most this many slots, and about this many items in
 * all (8 per thread on 2 cores for the dynamic schedule); constants, so that the result does not depend on
 * the thread count.  The slots' partial sums take at most MG_DW_BUDGET bytes. */
#define MG_DW_SLOTS 16
#define MG_DW_BUDGET (8.0 * 1024 * 1024)
/* dy (and a padded x) up to this many bytes stays in L2 while the row groups re-read it */
#define MG_DW_GROUPS_FIRST_DY (256.0 * 1024)

static float* mg_scratch(const mg_geom* g) {
    /* zeroed once: the border never changes, the interior is overwritten per image */
    return g->padded ? (float*)calloc((size_t)(g->hp * g->wp * g->c) + 8, sizeof(float)) : NULL;
}

/* A thread's scratch inside a parallel region; *ok is 0 (and *status MG_CONV_NOMEM) if it could not be had. */
static float* mg_thread_scratch(const mg_geom* g, int* status, int* ok) {
    float* scratch = mg_scratch(g);
    *ok = !g->padded || scratch;
    if (!*ok) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
        *status = MG_CONV_NOMEM;
    }
    return scratch;
}

/* The tap offsets off[k] = (ky * row + kx) * c + ci (after mg_geom_init), or, narrow, the kdim / 8 vector
 * offsets (every 8th); NULL when out of memory. */
static ptrdiff_t* mg_offsets(const mg_geom* g, int narrow) {
    const ptrdiff_t kdim = g->kh * g->kw * g->c;
    ptrdiff_t ky, kx, ci, k = 0;
    ptrdiff_t* off = (ptrdiff_t*)malloc(sizeof(ptrdiff_t) * (size_t)kdim);
    if (!off)
        return NULL;
    for (ky = 0; ky < g->kh; ky++)
        for (kx = 0; kx < g->kw; kx++)
            for (ci = 0; ci < g->c; ci++)
                off[k++] = (ky * g->row + kx) * g->c + ci;
    if (narrow)
        for (k = 0; k < kdim / 8; k++)
            off[k] = off[8 * k];
    return off;
}

/* ---------------------------------------------------------------------------------------- forward */

/* The register tiles (csrc/conv_tiles.h), instanced per instruction set: 8-lane vectors in 6-row tiles
 * (x86-64-v3 clone with AVX2 and FMA: 12 of its 16 vector registers hold accumulators; and the baseline),
 * and, where the compiler can target it, 16-lane vectors in 12-row tiles for x86-64-v4 (AVX-512: 24 of
 * its 32 registers), chosen per call by mg_wide_tiles. */
#define MG_TV mg_v8
#define MG_TL 8
#define MG_TP 6
#define MG_T(name) mg_##name##_v8
#define MG_TATTR MG_CLONES
#include "conv_tiles.h"
#ifdef MG_TARGET_V4
#define MG_TV mg_v16
#define MG_TL 16
#define MG_TP 12
#define MG_T(name) mg_##name##_v16
#define MG_TATTR MG_TARGET_V4
#include "conv_tiles.h"
#endif

/* 1: run the 16-lane tiles (allowed by the caller, co % 16 == 0 and the CPU has x86-64-v4). */
static int mg_wide_tiles(const mg_geom* g, int allow_wide) {
#ifdef MG_TARGET_V4
    if (allow_wide && g->co % 16 == 0)
        return mg_cpu_has_v4();
#endif
    (void)g;
    (void)allow_wide;
    return 0;
}
#ifdef MG_TARGET_V4
#define MG_TILES(name, wide) ((wide) ? mg_##name##_v16 : mg_##name##_v8)
#else
#define MG_TILES(name, wide) mg_##name##_v8
#endif

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

#include "conv_winograd.h"

/* Every tile of pixels streams all of the weights (BLAS blocks for cache, the tiles do not): from this
 * many bytes of weights on they come from L3 or memory, and BLAS's im2col path is faster (up to several
 * times: ResNet50's 3x3 512 -> 512 convolution). */
#define MG_FWD_WEIGHT_BYTES (1024.0 * 1024)

/* y (n, oh, ow, co) = conv of x (n, h, w, c) with w (kh, kw, c, co) (+ bias, relu), by Winograd's
 * F(2x2, 3x3) where allowed and mg_wino_covers takes the geometry, else directly; with limit_weights,
 * weights of MG_FWD_WEIGHT_BYTES or more are declined (MG_CONV_UNSUPPORTED: the caller's BLAS path).  dense
 * applies its own limit.  Returns MG_CONV_*. */
static int mg_conv_fwd(const float* x, mg_geom g, const float* w, const float* bias, int relu, float* y,
                       int nthreads, int allow_wide, int allow_winograd, int limit_weights) {
    const ptrdiff_t c = g.c, co = g.co, kdim = g.kh * g.kw * g.c, nv = kdim / 8;
    const int narrow = co % 8 != 0;
    ptrdiff_t k, j;
    ptrdiff_t* off;
    float* wt = NULL;
    int status = MG_CONV_OK;
    if (narrow && (co >= 8 || c % 8 != 0))
        return MG_CONV_UNSUPPORTED;
    const int wide = !narrow && mg_wide_tiles(&g, allow_wide);
    if (allow_winograd && !narrow && mg_wino_covers(&g))
        return mg_conv_wino(x, &g, w, bias, relu, y, nthreads, wide);
    if (limit_weights && (double)kdim * co * sizeof(float) >= MG_FWD_WEIGHT_BYTES)
        return MG_CONV_UNSUPPORTED;
    mg_geom_init(&g);
    off = mg_offsets(&g, narrow);
    if (narrow && off) {  /* weights transposed to (co, kdim): vectors along cin */
        wt = (float*)malloc(sizeof(float) * (size_t)(kdim * co));
        if (wt)
            for (k = 0; k < kdim; k++)
                for (j = 0; j < co; j++)
                    wt[j * kdim + k] = w[k * co + j];
    }
    if (!off || (narrow && !wt)) {
        free(off);
        free(wt);
        return MG_CONV_NOMEM;
    }
    {
        const mg_split split = mg_split_work(&g, nthreads);
        const ptrdiff_t per_img = split.per_img, items = split.items;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
        {
            ptrdiff_t item;
            int ok;
            float* scratch = mg_thread_scratch(&g, &status, &ok);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (item = 0; item < items; item++) {
                ptrdiff_t img, p0, p1;
                const float* ximg;
                if (!ok || !mg_item(&split, item, &img, &p0, &p1))
                    continue;
                ximg = mg_image(x, &g, img, scratch, p0, p1);
                if (narrow)
                    mg_fwd_narrow(ximg, &g, off, nv, wt, bias, relu, y + img * per_img * co, p0, p1);
                else
                    MG_TILES(fwd_tiles, wide)(ximg, &g, off, kdim, w, bias, relu, y + img * per_img * co, p0, p1);
            }
            free(scratch);
        }
    }
    free(off);
    free(wt);
    return status;
}

/* ------------------------------------------------------------------------------- kernel gradient */

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

/* dw (kh, kw, c, co) = sum over images and output pixels of x windows times dy (n, oh, ow, co), by
 * Winograd's F(2x2, 3x3) where allowed and it takes the geometry (conv_winograd.h), else directly.
 *
 * Work: the pixels (all images, in order) are cut into `slots` runs, each with its own partial dw summed in
 * pixel order, and dw's rows into `groups` of whole 12-row tiles; an item is one (slot, group) pair, taken
 * dynamically by the threads.  The slots are added in slot order at the end.  Both counts depend only on
 * the geometry, so the result is the same bit for bit for any thread count and from run to run.  Slots
 * stop at MG_DW_BUDGET bytes of partials and at one per 48 pixels; row groups come first when dy is small
 * (dense layers, small images), and make up the parallelism when there are few slots (big kernels). */
static int mg_conv_dw(const float* x, mg_geom g, const float* dy, float* dw, int nthreads, int allow_wide,
                      int allow_winograd) {
    const ptrdiff_t c = g.c, co = g.co, kdim = g.kh * g.kw * g.c, kc = kdim * co;
    const int narrow = co % 8 != 0;
    int status = MG_CONV_OK;
    if (narrow && (co >= 8 || c % 8 != 0))
        return MG_CONV_UNSUPPORTED;
    const int wide = !narrow && mg_wide_tiles(&g, allow_wide);
    if (allow_winograd && !narrow && mg_wino_dw_covers(&g))
        return mg_conv_wino_dw(x, &g, dy, dw, nthreads, wide);
    mg_geom_init(&g);
    {
        const ptrdiff_t per_img = g.oh * g.ow, pixels = g.n * per_img;
        /* rows as the tiles walk them: taps-and-channels, or (narrow) vectors of 8 of them */
        const ptrdiff_t rows = narrow ? kdim / 8 : kdim, row_floats = narrow ? 8 * co : co;
        const ptrdiff_t tiles = rows > 12 ? (rows + 11) / 12 : 1;  /* >= 1: never a division by 0 */
        /* a row group re-reads its slot's dy (and copies its padded images again), a slot costs a partial
         * dw to clear and add: small dy (and x, when padded), groups first; otherwise slots first */
        const int groups_first = (double)pixels * co * sizeof(float) <= MG_DW_GROUPS_FIRST_DY
                                 && (!g.padded || (double)g.n * g.h * g.w * c * sizeof(float) <= MG_DW_GROUPS_FIRST_DY);
        ptrdiff_t slots_max = (ptrdiff_t)(MG_DW_BUDGET / ((double)kc * sizeof(float))), slots, groups, items, item, e;
        ptrdiff_t* off = mg_offsets(&g, narrow);
        float* partial;
        if (slots_max > pixels / 48) slots_max = pixels / 48;
        if (slots_max > MG_DW_SLOTS) slots_max = MG_DW_SLOTS;
        if (slots_max < 1) slots_max = 1;
        if (groups_first) {
            groups = tiles < MG_DW_SLOTS ? tiles : MG_DW_SLOTS;
            slots = (MG_DW_SLOTS + groups - 1) / groups;
            if (slots > slots_max) slots = slots_max;
        } else {
            slots = slots_max;
            groups = (MG_DW_SLOTS + slots - 1) / slots;
            if (groups > tiles) groups = tiles;
        }
        items = slots * groups;
        partial = slots == 1 ? dw : (float*)malloc(sizeof(float) * (size_t)(slots * kc));
        if (!off || !partial) {
            free(off);
            if (partial != dw) free(partial);
            return MG_CONV_NOMEM;
        }
        memset(partial, 0, sizeof(float) * (size_t)(slots * kc));
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
        {
            int ok;
            float* scratch = mg_thread_scratch(&g, &status, &ok);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (item = 0; item < items; item++) {
                const ptrdiff_t slot = item / groups, grp = item % groups;
                const ptrdiff_t r0 = 12 * (tiles * grp / groups);
                const ptrdiff_t r1 = 12 * (tiles * (grp + 1) / groups) < rows ? 12 * (tiles * (grp + 1) / groups) : rows;
                const ptrdiff_t q1 = pixels * (slot + 1) / slots;
                float* part = partial + slot * kc + r0 * row_floats;
                ptrdiff_t q = pixels * slot / slots;
                while (ok && q < q1) {  /* the slot's pixels, one call per image they touch */
                    const ptrdiff_t img = q / per_img, p0 = q % per_img;
                    const ptrdiff_t p1 = q1 - img * per_img < per_img ? q1 - img * per_img : per_img;
                    const float* ximg = mg_image(x, &g, img, scratch, p0, p1);
                    const float* dyimg = dy + img * per_img * co;
                    if (narrow)
                        mg_dw_narrow(ximg, &g, off + r0, r1 - r0, dyimg, part, p0, p1);
                    else
                        MG_TILES(dw_tiles, wide)(ximg, &g, off + r0, r1 - r0, dyimg, part, p0, p1);
                    q = img * per_img + p1;
                }
            }
            if (slots > 1) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (e = 0; e < kc; e += 512) {  /* blocks of dw, each summed slot by slot (vectorised along e) */
                    const ptrdiff_t e1 = kc - e < 512 ? kc : e + 512;
                    ptrdiff_t sl, i;
                    memcpy(dw + e, partial + e, sizeof(float) * (size_t)(e1 - e));
                    for (sl = 1; sl < slots; sl++)
                        for (i = e; i < e1; i++)
                            dw[i] += partial[sl * kc + i];
                }
            }
            free(scratch);
        }
        free(off);
        if (partial != dw)
            free(partial);
    }
    return status;
}

#endif
