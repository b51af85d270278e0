// The calling core's measured fused multiply-add peak: independent accumulator chains, enough to cover the FMA
// latency × throughput of current x86 cores (4-5 cycles × 2 pipes), all held in registers, timed for a given
// duration. See include/cgemm.h. AVX-512 has 32 vector registers: 16 chains. AVX2 has 16: 12 chains plus the two
// operands (16 chains there spill accumulators to the stack and measured half the peak on a Zen 2, 52 of ~105).
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
#define CHAINS256 12
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
    __m256 acc[CHAINS256];
    for (int i = 0; i < CHAINS256; i++) acc[i] = _mm256_set1_ps((float)i * 1e-3f);
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    long iters = 0;
    double t0 = now(), t;
    do {
        for (int k = 0; k < INNER; k++)
            for (int i = 0; i < CHAINS256; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
        iters += INNER;
    } while ((t = now()) - t0 < seconds);
    __m256 s = acc[0];
    for (int i = 1; i < CHAINS256; i++) s = _mm256_add_ps(s, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    volatile float sink = lanes[0];
    (void)sink;
    return (double)iters * CHAINS256 * 8 * 2 / (t - t0) * 1e-9;
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
