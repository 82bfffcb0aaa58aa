/* Shared SIMD vocabulary of the C helpers (conv_direct.h, pool_simd.h): 8- and 16-float GCC vector types
 * and run-time dispatch.  Functions marked MG_CLONES are compiled twice, for x86-64-v3 (AVX2, FMA) and for
 * the baseline, and the loader picks one through an ifunc resolver: the default build runs anywhere and
 * needs no -march flag.  Use macros, not functions, for the helpers below: they expand inside each clone. */
#ifndef MINIGRAPH_MG_SIMD_H
#define MINIGRAPH_MG_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__)) && __GNUC__ >= 12  /* target_clones("arch=x86-64-v3") */
/* "arch=x86-64-v3" (AVX2, FMA, ...): its resolver tests the feature level.  Not "arch=haswell": that
 * resolver tests the CPU *model* (__builtin_cpu_is), so AMD CPUs with AVX2 would get the default clone. */
#define MG_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
/* x86-64-v4 (AVX-512 F/BW/CD/DQ/VL) for kernels that have a 16-lane instance; the caller checks the CPU */
#define MG_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#else
#define MG_CLONES
#endif

/* 1 when this CPU runs the 16-lane (x86-64-v4, AVX-512) instances; 0 where the compiler has no such target. */
static inline int mg_cpu_has_v4(void) {
#ifdef MG_TARGET_V4
    __builtin_cpu_init();
    return __builtin_cpu_supports("x86-64-v4");
#else
    return 0;
#endif
}

typedef float mg_v8 __attribute__((vector_size(32)));
typedef float mg_v16 __attribute__((vector_size(64)));
typedef float mg_v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define MG_LD(p) ((mg_v8)(*(const mg_v8u*)(p)))
#define MG_ST(p, v) (*(mg_v8u*)(p) = (v))
typedef int mg_v8i __attribute__((vector_size(32)));
#define MG_BC(s) __extension__({ float mg_s_ = (float)(s); (mg_v8){mg_s_, mg_s_, mg_s_, mg_s_, mg_s_, mg_s_, mg_s_, mg_s_}; })

#endif
