/* The loops of the batch-normalisation kernels (csrc/batchnorm.h), written once for either element type.
 *
 * A template: batchnorm.h includes this file once per type, after defining
 *   MG_BN_T        the element type (float or double)
 *   MG_BN(name)    the instance's name for `name`
 * Every function works on a block of rows [r0, r1) of an (M, C) row-major array, so that the caller splits
 * the rows into blocks that depend only on the shape and combines the blocks' sums in block order.  The
 * loops run along the contiguous channel axis, in vectors (AVX2 clone chosen at run time, MG_CLONES).  The
 * sums run in the element type over runs of MG_BN_RUN rows, each run added to double sums (as accurate as a
 * double sum for any practical M, at the speed of the element type).  The macros are undefined again at
 * the end. */

typedef MG_BN_T MG_BN(v) __attribute__((vector_size(32)));
typedef MG_BN_T MG_BN(vu) __attribute__((vector_size(32), aligned(sizeof(MG_BN_T)), may_alias));
#define MG_BN_L ((ptrdiff_t)(32 / sizeof(MG_BN_T)))
#define MG_BN_LD(p) ((MG_BN(v))(*(const MG_BN(vu)*)(p)))

/* The two per-channel sums of the block's rows of term(i, c) (a macro of the flat index and the channel
 * that sets t1 and t2), for the NV channel vectors from c0: vector partial sums over runs of MG_BN_RUN rows
 * in the element type, each run added to double sums; rows in order. */
#define MG_BN_RUN 16
#define MG_BN_VECTOR_SUMS(NV, term)                                                                     \
    do {                                                                                               \
        double d1[4 * 8] = {0}, d2[4 * 8] = {0};                                                       \
        ptrdiff_t q, rr, l;                                                                            \
        int k;                                                                                         \
        for (q = r0; q < r1; q += MG_BN_RUN) {                                                         \
            const ptrdiff_t q1 = q + MG_BN_RUN < r1 ? q + MG_BN_RUN : r1;                              \
            MG_BN(v) a1[NV], a2[NV];                                                                   \
            for (k = 0; k < NV; k++)                                                                   \
                a1[k] = a2[k] = (MG_BN(v)){0};                                                         \
            for (rr = q; rr < q1; rr++)                                                                \
                for (k = 0; k < NV; k++) {                                                             \
                    const ptrdiff_t i = rr * C + c0 + k * MG_BN_L, c = c0 + k * MG_BN_L;               \
                    MG_BN(v) t1, t2;                                                                   \
                    term(i, c);                                                                        \
                    a1[k] += t1;                                                                       \
                    a2[k] += t2;                                                                       \
                }                                                                                      \
            for (k = 0; k < NV; k++)                                                                   \
                for (l = 0; l < MG_BN_L; l++) {                                                        \
                    d1[k * MG_BN_L + l] += a1[k][l];                                                   \
                    d2[k * MG_BN_L + l] += a2[k][l];                                                   \
                }                                                                                      \
        }                                                                                              \
        for (l = 0; l < NV * MG_BN_L; l++) {                                                           \
            s1[c0 + l] = d1[l];                                                                        \
            s2[c0 + l] = d2[l];                                                                        \
        }                                                                                              \
    } while (0)

/* Channels in blocks of 4, then 1 vector (partial sums in vectors, MG_BN_VECTOR_SUMS), then the rest one at a
 * time in double (scalar_term(i, c) sets u1, u2). */
#define MG_BN_SUMS(term, scalar_term)                                                                  \
    do {                                                                                               \
        ptrdiff_t c0 = 0, rs, cs;                                                                      \
        for (; c0 + 4 * MG_BN_L <= C; c0 += 4 * MG_BN_L)                                               \
            MG_BN_VECTOR_SUMS(4, term);                                                                \
        for (; c0 + MG_BN_L <= C; c0 += MG_BN_L)                                                       \
            MG_BN_VECTOR_SUMS(1, term);                                                                \
        for (cs = c0; cs < C; cs++)                                                                    \
            s1[cs] = s2[cs] = 0;                                                                       \
        for (rs = r0; rs < r1; rs++)                                                                   \
            for (cs = c0; cs < C; cs++) {                                                              \
                const ptrdiff_t i = rs * C + cs, c = cs;                                               \
                double u1, u2;                                                                         \
                scalar_term(i, c);                                                                     \
                s1[cs] += u1;                                                                          \
                s2[cs] += u2;                                                                          \
            }                                                                                          \
    } while (0)

/* s1[c] = sum (x - shift[c]), s2[c] = sum (x - shift[c])^2 over the block's rows (sums of data shifted by a
 * value near the mean: one pass, without the cancellation of plain sums of squares). */
#define MG_BN_STATS_TERM(i, c) (t1 = MG_BN_LD(x + (i)) - MG_BN_LD(shift + (c)), t2 = t1 * t1)
#define MG_BN_STATS_SCALAR(i, c) (u1 = (double)x[i] - (double)shift[c], u2 = u1 * u1)
MG_CLONES
static void MG_BN(stats)(const MG_BN_T* restrict x, ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t C,
                         const MG_BN_T* restrict shift, double* restrict s1, double* restrict s2) {
    MG_BN_SUMS(MG_BN_STATS_TERM, MG_BN_STATS_SCALAR);
}

/* y = (x - center[c]) * scale[c] + offset[c], then min(max(y, 0), cap) under relu (cap +inf for a plain
 * ReLU, 6 for relu6; NaN stays NaN, like np.maximum and np.minimum).  Centred first: y is exactly offset
 * where x is the mean, so the ReLU mask of a constant channel is exact. */
MG_CLONES
static void MG_BN(scale_shift)(const MG_BN_T* restrict x, MG_BN_T* restrict y, ptrdiff_t r0, ptrdiff_t r1,
                               ptrdiff_t C, const MG_BN_T* restrict center, const MG_BN_T* restrict scale,
                               const MG_BN_T* restrict offset, int relu, MG_BN_T cap) {
    ptrdiff_t r, c;
    for (r = r0; r < r1; r++) {
        const MG_BN_T* restrict xr = x + r * C;
        MG_BN_T* restrict yr = y + r * C;
        if (relu)
            for (c = 0; c < C; c++) {
                MG_BN_T v = (xr[c] - center[c]) * scale[c] + offset[c];
                v = v < 0 ? 0 : v;
                yr[c] = v > cap ? cap : v;
            }
        else
            for (c = 0; c < C; c++)
                yr[c] = (xr[c] - center[c]) * scale[c] + offset[c];
    }
}

/* The gradient through the optional ReLU, whose pre-activation y is recomputed from x exactly as
 * scale_shift computes it: dy * (0 < y <= cap), a product as TensorFlow's ReluGrad (a NaN gradient stays
 * NaN); at y == cap it passes, as the ReLU layer's own gradient (ops_activations.relu_general). */
#define MG_BN_PASSES(y) ((y) > 0 && (y) <= cap)
#define MG_BN_DY(i, c) (relu ? dy[i] * (MG_BN_T)MG_BN_PASSES((x[i] - center[c]) * scale[c] + offset[c]) : dy[i])
/* MG_BN_DY for a vector of channels from c under relu: GCC compiles the scalar form to a branch on the
 * mask, which the data mispredicts half the time; the vector form multiplies by the mask's 0 / 1 lanes. */
#define MG_BN_MASK_V(y) __builtin_convertvector(-(((y) > 0) & ((y) <= cap)), MG_BN(v))
#define MG_BN_DY_RELU_V(i, c)                                                                          \
    (MG_BN_LD(dy + (i)) * MG_BN_MASK_V((MG_BN_LD(x + (i)) - MG_BN_LD(center + (c)))                     \
        * MG_BN_LD(scale + (c)) + MG_BN_LD(offset + (c))))
#define MG_BN_ST(p, v) (*(MG_BN(vu)*)(p) = (v))

/* s1[c] = sum dy', s2[c] = sum dy' * x_hat over the block, x_hat = (x - mean) * inv_std, dy' the gradient
 * through the ReLU (the vector form of MG_BN_DY: the mask's lanes are all ones or zeros). */
#define MG_BN_GRAD_TERM(i, c)                                                                          \
    (t1 = MG_BN_LD(dy + (i)),                                                                          \
     t2 = MG_BN_LD(x + (i)) - MG_BN_LD(center + (c)),                                                  \
     t1 = relu ? t1 * MG_BN_MASK_V(t2 * MG_BN_LD(scale + (c)) + MG_BN_LD(offset + (c))) : t1,         \
     t2 = t1 * (t2 * MG_BN_LD(inv_std + (c))))
#define MG_BN_GRAD_SCALAR(i, c) (u1 = MG_BN_DY(i, c), u2 = u1 * (MG_BN_T)((x[i] - center[c]) * inv_std[c]))
MG_CLONES
static void MG_BN(grad_sums)(const MG_BN_T* restrict dy, const MG_BN_T* restrict x, ptrdiff_t r0, ptrdiff_t r1,
                             ptrdiff_t C, const MG_BN_T* restrict center, const MG_BN_T* restrict inv_std,
                             const MG_BN_T* restrict scale, const MG_BN_T* restrict offset, int relu,
                             MG_BN_T cap, double* restrict s1, double* restrict s2) {
    MG_BN_SUMS(MG_BN_GRAD_TERM, MG_BN_GRAD_SCALAR);
}

/* dx = k[c] * (dy' - m1[c] - x_hat * m2[c]), with k = gamma * inv_std, m1 = mean of dy', m2 = mean of
 * dy' * x_hat (the batch-norm input gradient); center = mean. */
MG_CLONES
static void MG_BN(grad_input)(const MG_BN_T* restrict dy, const MG_BN_T* restrict x, MG_BN_T* restrict dx,
                              ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t C, const MG_BN_T* restrict center,
                              const MG_BN_T* restrict inv_std, const MG_BN_T* restrict scale,
                              const MG_BN_T* restrict offset, int relu, MG_BN_T cap, const MG_BN_T* restrict k,
                              const MG_BN_T* restrict m1, const MG_BN_T* restrict m2) {
    ptrdiff_t r, c;
    for (r = r0; r < r1; r++) {
        const ptrdiff_t i0 = r * C;
        c = 0;
        if (relu)
            for (; c + MG_BN_L <= C; c += MG_BN_L) {
                const ptrdiff_t i = i0 + c;
                const MG_BN(v) xh = (MG_BN_LD(x + i) - MG_BN_LD(center + c)) * MG_BN_LD(inv_std + c);
                MG_BN_ST(dx + i, MG_BN_LD(k + c) * (MG_BN_DY_RELU_V(i, c) - MG_BN_LD(m1 + c) - xh * MG_BN_LD(m2 + c)));
            }
        for (; c < C; c++) {
            const ptrdiff_t i = i0 + c;
            dx[i] = k[c] * (MG_BN_DY(i, c) - m1[c] - (x[i] - center[c]) * inv_std[c] * m2[c]);
        }
    }
}

/* dx = dy' * scale[c] (the inference-mode gradient). */
MG_CLONES
static void MG_BN(grad_scale)(const MG_BN_T* restrict dy, const MG_BN_T* restrict x, MG_BN_T* restrict dx,
                              ptrdiff_t r0, ptrdiff_t r1, ptrdiff_t C, const MG_BN_T* restrict center,
                              const MG_BN_T* restrict scale, const MG_BN_T* restrict offset, int relu,
                              MG_BN_T cap) {
    ptrdiff_t r, c;
    for (r = r0; r < r1; r++) {
        const ptrdiff_t i0 = r * C;
        c = 0;
        if (relu)
            for (; c + MG_BN_L <= C; c += MG_BN_L)
                MG_BN_ST(dx + i0 + c, MG_BN_DY_RELU_V(i0 + c, c) * MG_BN_LD(scale + c));
        for (; c < C; c++)
            dx[i0 + c] = MG_BN_DY(i0 + c, c) * scale[c];
    }
}

#undef MG_BN_DY
#undef MG_BN_PASSES
#undef MG_BN_MASK_V
#undef MG_BN_DY_RELU_V
#undef MG_BN_ST
#undef MG_BN_L
#undef MG_BN_LD
#undef MG_BN_RUN
#undef MG_BN_VECTOR_SUMS
#undef MG_BN_SUMS
#undef MG_BN_STATS_TERM
#undef MG_BN_STATS_SCALAR
#undef MG_BN_GRAD_TERM
#undef MG_BN_GRAD_SCALAR
#undef MG_BN_T
#undef MG_BN
