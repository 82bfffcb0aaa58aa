/* Winograd F(2x2, 3x3) for the float32 3x3 stride-1 convolutions of csrc/conv_direct.h, NHWC: the forward
 * (and so the input gradient and the transpose's forward, which run on it) and the kernel gradient.
 *
 * Lavin and Gray (2016), "Fast Algorithms for Convolutional Neural Networks": a 2x2 block of outputs of a
 * 3x3 filter is Y = A^T [ (G g G^T) .* (B^T d B) ] A over the 4x4 input patch d, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * Summed over the input channels, the elementwise products become 16 independent products
 * M[xi] (tiles, co) = V[xi] (tiles, c) @ U[xi] (c, co), one per position xi of the 4x4 transform: 16
 * multiply-adds per channel pair for 4 outputs instead of 36, 2.25x fewer, for four memory-bound passes
 * (the transforms) that stay in L2.
 *
 * Work: the output's 2x2 tiles of all images in one run, cut into blocks of MG_WINO_TILES tiles; a thread
 * takes a block (dynamic schedule), transforms its inputs into its own V, runs the 16 products on the
 * direct kernels' register tiles (a 1x1 convolution of a `tiles`-pixel image, fwd_tiles) into its own M,
 * and transforms M into the outputs, adding the bias and the ReLU.  Each output is computed the same way
 * whichever thread takes its block: results do not depend on the thread count.
 * Input pixels outside the image (padding, or past the last row or column of a tile that hangs over the
 * edge) read as zero; outputs past the edge are not written.  The transforms run on 8-lane vectors along
 * the channels (c % 8 == 0, co % 8 == 0), in the AVX2 clone where the CPU has it.
 */
#ifndef MINIGRAPH_CONV_WINOGRAD_H
#define MINIGRAPH_CONV_WINOGRAD_H

/* tiles per block: a multiple of both register tiles' heights (6 and 12) */
#define MG_WINO_TILES 36
/* the largest transformed filter of one position (c x co floats) Winograd takes */
#define MG_WINO_FILTER_BYTES (256 * 1024)

/* The 2x2 output tiles of all images of a call. */
static ptrdiff_t mg_wino_tiles(const mg_geom* g) {
    return g->n * ((g->oh + 1) / 2) * ((g->ow + 1) / 2);
}

/* Whether Winograd takes this geometry: a 3x3 stride-1 window, channel counts the 8-lane transforms cover,
 * enough channels that the products, not the transforms, dominate (the products save 5 c co multiply-adds
 * a pixel, the transforms cost about as many adds as c + co: with 16 channels in and out they cost more
 * than they save, measured in bench/RESULTS.md), each position's transformed filter (c x co) small enough
 * to stay in L2 while a block's tiles stream past it, and enough tiles (four blocks) to pay for
 * transforming the filter. */
static int mg_wino_covers(const mg_geom* g) {
    const ptrdiff_t tiles = mg_wino_tiles(g);
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->c % 8 == 0 && g->co % 8 == 0
           && g->c >= 16 && g->co >= 16 && g->c + g->co >= 48
           && g->c * g->co * sizeof(float) <= MG_WINO_FILTER_BYTES && tiles >= 4 * MG_WINO_TILES;
}

/* U (16, c, co) = G g G^T for each (ci, j), w (3, 3, c, co). */
MG_CLONES
static void mg_wino_filter(const float* w, ptrdiff_t c, ptrdiff_t co, float* u) {
    const ptrdiff_t plane = c * co;
    ptrdiff_t ci, j, r, i;
    for (ci = 0; ci < c; ci++)
        for (j = 0; j < co; j += 8) {
            mg_v8 gk[3][3], t[4][3];
            for (r = 0; r < 3; r++)
                for (i = 0; i < 3; i++)
                    gk[r][i] = MG_LD(w + ((r * 3 + i) * c + ci) * co + j);
            for (i = 0; i < 3; i++) {  /* t = G g: rows of G over the filter's rows */
                t[0][i] = gk[0][i];
                t[1][i] = (gk[0][i] + gk[1][i] + gk[2][i]) * MG_BC(0.5f);
                t[2][i] = (gk[0][i] - gk[1][i] + gk[2][i]) * MG_BC(0.5f);
                t[3][i] = gk[2][i];
            }
            for (r = 0; r < 4; r++) {  /* (G g) G^T: the same over the columns */
                float* dst = u + (r * 4) * plane + ci * co + j;
                MG_ST(dst, t[r][0]);
                MG_ST(dst + plane, (t[r][0] + t[r][1] + t[r][2]) * MG_BC(0.5f));
                MG_ST(dst + 2 * plane, (t[r][0] - t[r][1] + t[r][2]) * MG_BC(0.5f));
                MG_ST(dst + 3 * plane, t[r][2]);
            }
        }
}

/* V[xi][t] (16, nt, c) = B^T d B for the nt tiles from tile index t0 on (all images' tiles in a row). */
MG_CLONES
static void mg_wino_input(const float* x, const mg_geom* g, ptrdiff_t tiles_w, ptrdiff_t tiles_img,
                          ptrdiff_t t0, ptrdiff_t nt, float* v) {
    const ptrdiff_t c = g->c, plane = nt * c;
    ptrdiff_t t, r, i, ch;
    for (t = 0; t < nt; t++) {
        const ptrdiff_t tile = t0 + t, img = tile / tiles_img, in_img = tile % tiles_img;
        const ptrdiff_t y0 = (in_img / tiles_w) * 2 - g->ph, x0 = (in_img % tiles_w) * 2 - g->pw;
        const float* ximg = x + img * g->h * g->w * c;
        const float* src[4][4];
        int inside = y0 >= 0 && x0 >= 0 && y0 + 4 <= g->h && x0 + 4 <= g->w;
        for (r = 0; r < 4; r++)
            for (i = 0; i < 4; i++) {
                const ptrdiff_t yy = y0 + r, xx = x0 + i;
                src[r][i] = inside || (yy >= 0 && yy < g->h && xx >= 0 && xx < g->w)
                                ? ximg + (yy * g->w + xx) * c : NULL;
            }
        for (ch = 0; ch < c; ch += 8) {
            mg_v8 d[4][4], s[4][4];
            for (r = 0; r < 4; r++)
                for (i = 0; i < 4; i++)
                    d[r][i] = src[r][i] ? MG_LD(src[r][i] + ch) : MG_BC(0.0f);
            for (i = 0; i < 4; i++) {  /* B^T d */
                s[0][i] = d[0][i] - d[2][i];
                s[1][i] = d[1][i] + d[2][i];
                s[2][i] = d[2][i] - d[1][i];
                s[3][i] = d[1][i] - d[3][i];
            }
            for (r = 0; r < 4; r++) {  /* (B^T d) B */
                float* dst = v + (r * 4) * plane + t * c + ch;
                MG_ST(dst, s[r][0] - s[r][2]);
                MG_ST(dst + plane, s[r][1] + s[r][2]);
                MG_ST(dst + 2 * plane, s[r][2] - s[r][1]);
                MG_ST(dst + 3 * plane, s[r][1] - s[r][3]);
            }
        }
    }
}

/* The outputs of the nt tiles from t0 on: A^T M A (+ bias, ReLU), M (16, nt, co); outputs past the edge
 * are dropped. */
MG_CLONES
static void mg_wino_output(const float* m, const mg_geom* g, ptrdiff_t tiles_w, ptrdiff_t tiles_img,
                           ptrdiff_t t0, ptrdiff_t nt, const float* bias, int relu, float* y) {
    const ptrdiff_t co = g->co, plane = nt * co;
    ptrdiff_t t, r, j, a, b;
    for (t = 0; t < nt; t++) {
        const ptrdiff_t tile = t0 + t, img = tile / tiles_img, in_img = tile % tiles_img;
        const ptrdiff_t oy = (in_img / tiles_w) * 2, ox = (in_img % tiles_w) * 2;
        float* yimg = y + img * g->oh * g->ow * co;
        for (j = 0; j < co; j += 8) {
            mg_v8 s[4][2], out[2][2];
            for (r = 0; r < 4; r++) {  /* M A: the columns */
                const float* src = m + (r * 4) * plane + t * co + j;
                const mg_v8 m0 = MG_LD(src), m1 = MG_LD(src + plane), m2 = MG_LD(src + 2 * plane),
                            m3 = MG_LD(src + 3 * plane);
                s[r][0] = m0 + m1 + m2;
                s[r][1] = m1 - m2 - m3;
            }
            for (b = 0; b < 2; b++) {  /* A^T (M A): the rows */
                out[0][b] = s[0][b] + s[1][b] + s[2][b];
                out[1][b] = s[1][b] - s[2][b] - s[3][b];
            }
            for (a = 0; a < 2; a++)
                for (b = 0; b < 2; b++) {
                    mg_v8 o = out[a][b];
                    if (oy + a >= g->oh || ox + b >= g->ow)
                        continue;
                    if (bias)
                        o += MG_LD(bias + j);
                    if (relu)  /* max(o, 0) keeping NaN, as the direct tiles */
                        o = (mg_v8)((__typeof__(o <= o))o & ~(o <= MG_BC(0.0f)));
                    MG_ST(yimg + ((oy + a) * g->ow + ox + b) * co + j, o);
                }
        }
    }
}

/* The identity offsets 0..c-1 the 16 products read their rows through (a 1x1 window); NULL when out of
 * memory. */
static ptrdiff_t* mg_wino_identity(ptrdiff_t c) {
    ptrdiff_t k, *ident = (ptrdiff_t*)malloc(sizeof(ptrdiff_t) * (size_t)c);
    if (ident)
        for (k = 0; k < c; k++)
            ident[k] = k;
    return ident;
}

/* A thread's transformed tiles and products for blocks of up to `tiles` tiles: (16, tiles, c) then
 * (16, tiles, co) floats; NULL (and *status MG_CONV_NOMEM) when out of memory. */
static float* mg_wino_scratch(ptrdiff_t tiles, ptrdiff_t c, ptrdiff_t co, int* status) {
    float* v = (float*)malloc(sizeof(float) * (size_t)(16 * tiles * (c + co)));
    if (!v) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
        *status = MG_CONV_NOMEM;
    }
    return v;
}

/* The geometry of one of a block's products: a 1x1 convolution of an image of nt pixels of c channels. */
static mg_geom mg_wino_product_geom(ptrdiff_t nt, ptrdiff_t c, ptrdiff_t co) {
    mg_geom pg;
    memset(&pg, 0, sizeof pg);
    pg.n = 1, pg.h = nt, pg.w = 1, pg.c = c, pg.oh = nt, pg.ow = 1, pg.co = co;
    pg.kh = pg.kw = pg.sh = pg.sw = 1;
    mg_geom_init(&pg);
    return pg;
}

/* y (n, oh, ow, co) = conv of x (n, h, w, c) with w (3, 3, c, co) (+ bias, relu), for a geometry
 * mg_wino_covers takes; returns MG_CONV_*. */
static int mg_conv_wino(const float* x, const mg_geom* g, const float* w, const float* bias, int relu, float* y,
                        int nthreads, int wide) {
    const ptrdiff_t c = g->c, co = g->co, tiles_w = (g->ow + 1) / 2, tiles_img = ((g->oh + 1) / 2) * tiles_w;
    const ptrdiff_t tiles = g->n * tiles_img, blocks = (tiles + MG_WINO_TILES - 1) / MG_WINO_TILES;
    ptrdiff_t* ident = mg_wino_identity(c);
    float* u = (float*)malloc(sizeof(float) * (size_t)(16 * c * co));
    int status = MG_CONV_OK;
    if (!ident || !u) {
        free(ident);
        free(u);
        return MG_CONV_NOMEM;
    }
    mg_wino_filter(w, c, co, u);
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
        float* v = mg_wino_scratch(MG_WINO_TILES, c, co, &status);
        ptrdiff_t block, xi;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (block = 0; block < blocks; block++) {
            const ptrdiff_t t0 = block * MG_WINO_TILES;
            const ptrdiff_t nt = tiles - t0 < MG_WINO_TILES ? tiles - t0 : MG_WINO_TILES;
            float* m = v + 16 * nt * c;
            mg_geom pg;
            if (!v)
                continue;
            pg = mg_wino_product_geom(nt, c, co);
            mg_wino_input(x, g, tiles_w, tiles_img, t0, nt, v);
            for (xi = 0; xi < 16; xi++)
                MG_TILES(fwd_tiles, wide)(v + xi * nt * c, &pg, ident, c, u + xi * c * co, NULL, 0,
                                          m + xi * nt * co, 0, nt);
            mg_wino_output(m, g, tiles_w, tiles_img, t0, nt, bias, relu, y);
        }
        free(v);
    }
    free(ident);
    free(u);
    return status;
}

/* ---------------------------------------------------------------------------- kernel gradient */

/* The kernel gradient through the same transforms: dU[xi] (c, co) = sum over tiles of V[xi]^T dM[xi], with
 * dM = A dY A^T the transpose of the output transform on each tile's 2x2 block of dy (zero past the edge),
 * then dw = G^T dU G.  The blocks of tiles are cut into MG_WINO_SLOTS runs (fewer when the partials would
 * pass MG_DW_BUDGET), each summed in block order into its own partial dU by whichever thread takes it;
 * the partials are added in slot order.  The counts depend only on the geometry: the same bits on any
 * thread count. */
#define MG_WINO_SLOTS 4
/* tiles per block of the kernel gradient: the products sum over them, so longer runs than the forward's */
#define MG_WINO_DW_TILES 72

/* The slots mg_conv_wino_dw would use; below 2 (huge channel counts), the direct kernels do better. */
static ptrdiff_t mg_wino_dw_slots(const mg_geom* g) {
    const ptrdiff_t tiles = mg_wino_tiles(g);
    const ptrdiff_t blocks = (tiles + MG_WINO_DW_TILES - 1) / MG_WINO_DW_TILES;
    ptrdiff_t slots = (ptrdiff_t)(MG_DW_BUDGET / (16.0 * g->c * g->co * sizeof(float)));
    if (slots > MG_WINO_SLOTS) slots = MG_WINO_SLOTS;
    if (slots > blocks) slots = blocks;
    return slots;
}

/* Whether Winograd takes the kernel gradient of this geometry: as mg_wino_covers, with at least 32 channels
 * on both sides (it transforms the tiles of both x and dy, so a side of 16 channels already makes it slower
 * than the direct sums), and at least two slots of blocks. */
static int mg_wino_dw_covers(const mg_geom* g) {
    return mg_wino_covers(g) && g->c >= 32 && g->co >= 32 && mg_wino_dw_slots(g) >= 2;
}

/* dM[xi][t] (16, nt, co) = A dY A^T for the nt tiles from t0 on, dy (n, oh, ow, co). */
MG_CLONES
static void mg_wino_dy(const float* dy, const mg_geom* g, ptrdiff_t tiles_w, ptrdiff_t tiles_img,
                       ptrdiff_t t0, ptrdiff_t nt, float* dm) {
    const ptrdiff_t co = g->co, plane = nt * co;
    ptrdiff_t t, j, a, b, r;
    for (t = 0; t < nt; t++) {
        const ptrdiff_t tile = t0 + t, img = tile / tiles_img, in_img = tile % tiles_img;
        const ptrdiff_t oy = (in_img / tiles_w) * 2, ox = (in_img % tiles_w) * 2;
        const float* src[2][2];
        for (a = 0; a < 2; a++)
            for (b = 0; b < 2; b++)
                src[a][b] = oy + a < g->oh && ox + b < g->ow ? dy + ((img * g->oh + oy + a) * g->ow + ox + b) * co
                                                             : NULL;
        for (j = 0; j < co; j += 8) {
            mg_v8 d[2][2], s[4][2];
            for (a = 0; a < 2; a++)
                for (b = 0; b < 2; b++)
                    d[a][b] = src[a][b] ? MG_LD(src[a][b] + j) : MG_BC(0.0f);
            for (b = 0; b < 2; b++) {  /* A dY: the rows */
                s[0][b] = d[0][b];
                s[1][b] = d[0][b] + d[1][b];
                s[2][b] = d[0][b] - d[1][b];
                s[3][b] = -d[1][b];
            }
            for (r = 0; r < 4; r++) {  /* (A dY) A^T: the columns */
                float* dst = dm + (r * 4) * plane + t * co + j;
                MG_ST(dst, s[r][0]);
                MG_ST(dst + plane, s[r][0] + s[r][1]);
                MG_ST(dst + 2 * plane, s[r][0] - s[r][1]);
                MG_ST(dst + 3 * plane, -s[r][1]);
            }
        }
    }
}

/* dw (3, 3, c, co) = G^T dU G for the channel pairs (ci, j..j+7), dU = the slots' partials added in order. */
MG_CLONES
static void mg_wino_filter_grad(const float* partial, ptrdiff_t slots, ptrdiff_t c, ptrdiff_t co, ptrdiff_t ci,
                                ptrdiff_t j, float* dw) {
    const ptrdiff_t plane = c * co, slot_floats = 16 * plane;
    mg_v8 u[4][4], t[3][4];
    ptrdiff_t r, i, sl;
    for (r = 0; r < 4; r++)
        for (i = 0; i < 4; i++) {
            const float* src = partial + (r * 4 + i) * plane + ci * co + j;
            mg_v8 sum = MG_LD(src);
            for (sl = 1; sl < slots; sl++)
                sum += MG_LD(src + sl * slot_floats);
            u[r][i] = sum;
        }
    for (i = 0; i < 4; i++) {  /* G^T dU: the rows */
        t[0][i] = u[0][i] + (u[1][i] + u[2][i]) * MG_BC(0.5f);
        t[1][i] = (u[1][i] - u[2][i]) * MG_BC(0.5f);
        t[2][i] = (u[1][i] + u[2][i]) * MG_BC(0.5f) + u[3][i];
    }
    for (r = 0; r < 3; r++) {  /* (G^T dU) G: the columns */
        float* dst = dw + (r * 3) * plane + ci * co + j;
        MG_ST(dst, t[r][0] + (t[r][1] + t[r][2]) * MG_BC(0.5f));
        MG_ST(dst + plane, (t[r][1] - t[r][2]) * MG_BC(0.5f));
        MG_ST(dst + 2 * plane, (t[r][1] + t[r][2]) * MG_BC(0.5f) + t[r][3]);
    }
}

/* dw (3, 3, c, co) of the convolution of x with geometry g (mg_wino_dw_covers) and
 * output gradient dy; returns MG_CONV_*. */
static int mg_conv_wino_dw(const float* x, const mg_geom* g, const float* dy, float* dw, int nthreads, int wide) {
    const ptrdiff_t c = g->c, co = g->co, tiles_w = (g->ow + 1) / 2, tiles_img = ((g->oh + 1) / 2) * tiles_w;
    const ptrdiff_t tiles = g->n * tiles_img, blocks = (tiles + MG_WINO_DW_TILES - 1) / MG_WINO_DW_TILES;
    const ptrdiff_t slots = mg_wino_dw_slots(g), slot_floats = 16 * c * co, pairs = c * (co / 8);
    ptrdiff_t* ident = mg_wino_identity(c);
    float* partial = (float*)calloc((size_t)(slots * slot_floats), sizeof(float));
    int status = MG_CONV_OK;
    if (!ident || !partial) {
        free(ident);
        free(partial);
        return MG_CONV_NOMEM;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
        float* v = mg_wino_scratch(MG_WINO_DW_TILES, c, co, &status);
        ptrdiff_t slot, pair;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (slot = 0; slot < slots; slot++) {
            ptrdiff_t block, xi;
            if (!v)
                continue;
            for (block = blocks * slot / slots; block < blocks * (slot + 1) / slots; block++) {
                const ptrdiff_t t0 = block * MG_WINO_DW_TILES;
                const ptrdiff_t nt = tiles - t0 < MG_WINO_DW_TILES ? tiles - t0 : MG_WINO_DW_TILES;
                const mg_geom pg = mg_wino_product_geom(nt, c, co);  /* the kernel gradient of a 1x1 conv */
                float* dm = v + 16 * nt * c;
                mg_wino_input(x, g, tiles_w, tiles_img, t0, nt, v);
                mg_wino_dy(dy, g, tiles_w, tiles_img, t0, nt, dm);
                for (xi = 0; xi < 16; xi++)
                    MG_TILES(dw_tiles, wide)(v + xi * nt * c, &pg, ident, c, dm + xi * nt * co,
                                             partial + slot * slot_floats + xi * c * co, 0, nt);
            }
        }
        free(v);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (pair = 0; pair < pairs; pair++)
            mg_wino_filter_grad(partial, slots, c, co, pair / (co / 8), (pair % (co / 8)) * 8, dw);
    }
    free(ident);
    free(partial);
    return status;
}

#endif
