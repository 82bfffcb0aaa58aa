/* The loops of the batch-normalisation kernels (csrc/batchnorm.h), written once for either element type.
 *
 * A template: batchnorm.h includes this file once per type, after defining
 *   MG_BN_T        the element type (float or double)
 *   MG_BN(name)    the instance's name for `name`
 * Every function works on a block of rows [r0, r1) of an (M, C) row-major array, so that the caller splits
 * the rows into blocks that depend only on the shape and combines the blocks' sums in block order.  The
 * loops run along the contiguous channel axis and vectorise in the AVX2 clone (MG_CLONES).  Sums are
 * accumulated in double for either type.  The macros are undefined again at the end. */

/* s1[c] = sum (x - shift[c]), s2[c] = sum (x - shift[c])^2 over the block's rows (sums of data shifted by a
 * value near the mean: one pass, without the cancellation of plain sums of squares). */
MG_CLONES
static void MG_BN(stats)(const MG_BN_T* restrict x, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t C,
                         const MG_BN_T* restrict shift, double* restrict s1, double* restrict s2) {
    ptrdiff_t r, c;
    for (c = 0; c < C; c++)
        s1[c] = s2[c] = 0;
    for (r = r0; r < r1; r++) {
        const MG_BN_T* restrict xr = x + r * C;
        for (c = 0; c < C; c++) {
            double d = (double)xr[c] - (double)shift[c];
            s1[c] += d;
            s2[c] += d * d;
        }
    }
}

/* y = (x - center[c]) * scale[c] + offset[c], then max(y, 0) under relu (NaN stays NaN, like np.maximum).
 * Centred first: y is exactly offset where x is the mean, so the ReLU mask of a constant channel is exact. */
MG_CLONES
static void MG_BN(scale_shift)(const MG_BN_T* restrict x, MG_BN_T* restrict y, ptrdiff_t r0, ptrdiff_t r1,
                               ptrdiff_t C, const MG_BN_T* restrict center, const MG_BN_T* restrict scale,
                               const MG_BN_T* restrict offset, int relu) {
    ptrdiff_t r, c;
    for (r = r0; r < r1; r++) {
        const MG_BN_T* restrict xr = x + r * C;
        MG_BN_T* restrict yr = y + r * C;
        if (relu)
            for (c = 0; c < C; c++) {
                MG_BN_T v = (xr[c] - center[c]) * scale[c] + offset[c];
                yr[c] = v < 0 ? 0 : v;
            }
        else
            for (c = 0; c < C; c++)
                yr[c] = (xr[c] - center[c]) * scale[c] + offset[c];
    }
}

/* The gradient through the optional ReLU, whose output y is recomputed from x exactly as scale_shift
 * computes it: dy * (y > 0), a product as TensorFlow's ReluGrad (a NaN gradient stays NaN). */
#define MG_BN_DY(i, c) (relu ? dy[i] * (MG_BN_T)((x[i] - center[c]) * scale[c] + offset[c] > 0) : dy[i])

/* s1[c] = sum dy', s2[c] = sum dy' * x_hat over the block, x_hat = (x - mean) * inv_std, dy' the gradient
 * through the ReLU. */
MG_CLONES
static void MG_BN(grad_sums)(const MG_BN_T* restrict dy, const MG_BN_T* restrict x, ptrdiff_t r0, ptrdiff_t r1,
                             ptrdiff_t C, const MG_BN_T* restrict center, const MG_BN_T* restrict inv_std,
                             const MG_BN_T* restrict scale, const MG_BN_T* restrict offset, int relu,
                             double* restrict s1, double* restrict s2) {
    ptrdiff_t r, c;
    for (c = 0; c < C; c++)
        s1[c] = s2[c] = 0;
    for (r = r0; r < r1; r++) {
        const ptrdiff_t i0 = r * C;
        for (c = 0; c < C; c++) {
            const ptrdiff_t i = i0 + c;
            MG_BN_T g = MG_BN_DY(i, c);
            MG_BN_T xh = (x[i] - center[c]) * inv_std[c];
            s1[c] += g;
            s2[c] += (double)g * xh;
        }
    }
}

/* dx = k[c] * (dy' - m1[c] - x_hat * m2[c]), with k = gamma * inv_std, m1 = mean of dy', m2 = mean of
 * dy' * x_hat (the batch-norm input gradient); center = mean. */
MG_CLONES
static void MG_BN(grad_input)(const MG_BN_T* restrict dy, const MG_BN_T* restrict x, MG_BN_T* restrict dx,
                              ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t C, const MG_BN_T* restrict center,
                              const MG_BN_T* restrict inv_std, const MG_BN_T* restrict scale,
                              const MG_BN_T* restrict offset, int relu, const MG_BN_T* restrict k,
                              const MG_BN_T* restrict m1, const MG_BN_T* restrict m2) {
    ptrdiff_t r, c;
    for (r = r0; r < r1; r++) {
        const ptrdiff_t i0 = r * C;
        for (c = 0; c < C; c++) {
            const ptrdiff_t i = i0 + c;
            MG_BN_T g = MG_BN_DY(i, c);
            MG_BN_T xh = (x[i] - center[c]) * inv_std[c];
            dx[i] = k[c] * (g - m1[c] - xh * m2[c]);
        }
    }
}

/* dx = dy' * scale[c] (the inference-mode gradient). */
MG_CLONES
static void MG_BN(grad_scale)(const MG_BN_T* restrict dy, const MG_BN_T* restrict x, MG_BN_T* restrict dx,
                              ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t C, const MG_BN_T* restrict center,
                              const MG_BN_T* restrict scale, const MG_BN_T* restrict offset, int relu) {
    ptrdiff_t r, c;
    for (r = r0; r < r1; r++) {
        const ptrdiff_t i0 = r * C;
        for (c = 0; c < C; c++) {
            const ptrdiff_t i = i0 + c;
            dx[i] = MG_BN_DY(i, c) * scale[c];
        }
    }
}

#undef MG_BN_DY
#undef MG_BN_T
#undef MG_BN
