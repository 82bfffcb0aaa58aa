/* The machine's float32 multiply-add roof: 12 independent chains of vector FMAs per thread, on registers
 * only (no memory traffic), for as many OpenMP threads as OMP_NUM_THREADS gives.  bench_blas.py --candidates
 * compiles it with -march=native and prints the best of five runs in GFLOP/s. */
#include <stdio.h>
#include <omp.h>

typedef float vec __attribute__((vector_size(64)));  /* 16 lanes: one zmm, or two ymm on AVX2 */

int main(void) {
    const long steps = 20000000;
    double best = 0;
    float sink = 0;
    for (int run = 0; run < 5; run++) {
        double t0 = omp_get_wtime();
        #pragma omp parallel reduction(+:sink)
        {
            vec acc[12], mul = {0}, add = {0};
            for (int i = 0; i < 16; i++) { mul[i] = 0.9999f; add[i] = 1e-4f; }
            for (int j = 0; j < 12; j++) acc[j] = add * (float)j;
            for (long s = 0; s < steps; s++)
                for (int j = 0; j < 12; j++)
                    acc[j] = acc[j] * mul + add;
            for (int j = 0; j < 12; j++) sink += acc[j][0];
        }
        double seconds = omp_get_wtime() - t0;
        double rate = (double)steps * 12 * 16 * 2 * omp_get_max_threads() / seconds / 1e9;
        if (rate > best) best = rate;
    }
    printf("%.1f %d %g\n", best, omp_get_max_threads(), sink);
    return 0;
}
