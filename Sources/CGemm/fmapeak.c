// The calling core's measured fused multiply-add peak: 16 independent accumulator chains (enough to cover the FMA
// latency × throughput of current x86 cores), timed for a given duration. See include/cgemm.h.
#include "cgemm.h"

#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define CHAINS 16
#define INNER 1024

__attribute__((target("avx512f"))) static double run512(double seconds) {
    __m512 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    long iters = 0;
    double t0 = now(), t;
    do {
        for (int k = 0; k < INNER; k++)
            for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
        iters += INNER;
    } while ((t = now()) - t0 < seconds);
    __m512 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return (double)iters * CHAINS * 16 * 2 / (t - t0) * 1e-9;
}

__attribute__((target("avx2,fma"))) static double run256(double seconds) {
    __m256 acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i * 1e-3f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    long iters = 0;
    double t0 = now(), t;
    do {
        for (int k = 0; k < INNER; k++)
            for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        iters += INNER;
    } while ((t = now()) - t0 < seconds);
    __m256 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    volatile float sink = lanes[0];
    (void)sink;
    return (double)iters * CHAINS * 8 * 2 / (t - t0) * 1e-9;
}

double mugs_fma_peak_gflops(int width, double seconds) {
    mugs_cpu_features f;
    mugs_cpu_features_read(&f);
    if (width == 512 && f.avx512f) return run512(seconds);
    if (width == 256 && f.avx2 && f.fma) return run256(seconds);
    return 0;
}
#else
double mugs_fma_peak_gflops(int width, double seconds) { (void)width; (void)seconds; (void)now; return 0; }
#endif
