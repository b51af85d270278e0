// CGemm: CPU features (cpuid + XGETBV) and oneDNN loaded at run time. See include/cgemm.h.
#include "cgemm.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

void mugs_cpu_features_read(mugs_cpu_features *f) {
    memset(f, 0, sizeof *f);
    f->x86 = 1;
    unsigned a, b, c, d, maxLeaf;
    if (!__get_cpuid(0, &maxLeaf, &b, &c, &d)) return;
    memcpy(f->vendor, &b, 4); memcpy(f->vendor + 4, &d, 4); memcpy(f->vendor + 8, &c, 4);
    __get_cpuid(1, &a, &b, &c, &d);
    unsigned family = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
    if (family == 0xf) family += (a >> 20) & 0xff;
    if (family == 0x6 || family >= 0xf) model |= ((a >> 16) & 0xf) << 4;
    f->family = (int)family; f->model = (int)model;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    int ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6, tiles = (xcr0 & 0x60000) == 0x60000;
    if (maxLeaf >= 7) {
        unsigned a7, b7, c7, d7;
        __cpuid_count(7, 0, a7, b7, c7, d7);
        f->avx2 = ymm && avx && ((b7 >> 5) & 1);
        f->fma = ymm && avx && fma;
        f->avx512f = zmm && ((b7 >> 16) & 1);
        f->avx512dq = f->avx512f && ((b7 >> 17) & 1);
        f->avx512bw = f->avx512f && ((b7 >> 30) & 1);
        f->avx512vl = f->avx512f && ((b7 >> 31) & 1);
        f->amx_tile = tiles && ((d7 >> 24) & 1);
        f->amx_bf16 = f->amx_tile && ((d7 >> 22) & 1);
        if (a7 >= 1) {
            unsigned a71, b71, c71, d71;
            __cpuid_count(7, 1, a71, b71, c71, d71);
            f->avx512_bf16 = f->avx512f && ((a71 >> 5) & 1);
        }
    }
    unsigned ext;
    __get_cpuid(0x80000000, &ext, &b, &c, &d);
    if (ext >= 0x80000004) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++) __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(f->brand, r, 48);
        f->brand[48] = 0;
        char *s = f->brand;  // trim the leading blanks some CPUs pad the brand string with
        while (*s == ' ') s++;
        memmove(f->brand, s, strlen(s) + 1);
    }
}
#else
void mugs_cpu_features_read(mugs_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

// MARK: oneDNN, loaded once

typedef int (*sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *,
                        int64_t, float, float *, int64_t);
typedef struct { int major, minor, patch; const char *hash; unsigned cpu_runtime, gpu_runtime; } dnnl_version_abi;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_threads = 1;
static char load_error[512];
static sgemm_fn dnnl_sgemm_p;
typedef int (*gemm_bf16_fn)(char, char, int64_t, int64_t, int64_t, float, const uint16_t *, int64_t, const uint16_t *,
                            int64_t, float, float *, int64_t);
static gemm_bf16_fn dnnl_gemm_bf16_p;  // NULL when this libdnnl does not export it
static void (*omp_set_num_threads_p)(int);
static int version[3];
static unsigned isa;
static __thread int thread_omp_threads;  // the last OpenMP thread count this thread set (0: never)

static void load(void) {
    char n[16];
    snprintf(n, sizeof n, "%d", load_threads);
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0);  // 0: a user's own setting wins
    setenv("OMP_NUM_THREADS", n, 0);
    void *dnnl = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!dnnl) {
        snprintf(load_error, sizeof load_error, "cannot load libdnnl.so.2 (%s); install Debian's libdnnl2",
                 dlerror());
        return;
    }
    // Debian's oneDNN uses GNU OpenMP; the library is already loaded as its dependency, this only finds it.
    void *gomp = dlopen("libgomp.so.1", RTLD_NOW | RTLD_LOCAL);
    sgemm_fn sgemm = (sgemm_fn)dlsym(dnnl, "dnnl_sgemm");
    const dnnl_version_abi *(*ver)(void) = (const dnnl_version_abi *(*)(void))dlsym(dnnl, "dnnl_version");
    unsigned (*get_isa)(void) = (unsigned (*)(void))dlsym(dnnl, "dnnl_get_effective_cpu_isa");
    void (*set_threads)(int) = gomp ? (void (*)(int))dlsym(gomp, "omp_set_num_threads") : NULL;
    if (!sgemm || !ver || !get_isa || !set_threads) {
        snprintf(load_error, sizeof load_error, "libdnnl.so.2 lacks dnnl_sgemm/dnnl_version/"
                 "dnnl_get_effective_cpu_isa or its OpenMP runtime (libgomp.so.1) lacks omp_set_num_threads");
        return;
    }
    const dnnl_version_abi *v = ver();
    version[0] = v->major; version[1] = v->minor; version[2] = v->patch;
    isa = get_isa();
    omp_set_num_threads_p = set_threads;
    // Exported by oneDNN 2.x beside dnnl_sgemm (row-major, the same argument order) though 2.6's dnnl.h does not
    // declare it; BF16ComputeTests check its results against a float64 product of the same bf16 inputs.
    dnnl_gemm_bf16_p = (gemm_bf16_fn)dlsym(dnnl, "dnnl_gemm_bf16bf16f32");
    dnnl_sgemm_p = sgemm;  // last: a non-null pointer means loaded
}

int mugs_onednn_load(int threads, char *error, int error_len) {
    load_threads = threads > 0 ? threads : 1;
    pthread_once(&load_once, load);
    if (dnnl_sgemm_p) return 0;
    if (error && error_len > 0) snprintf(error, (size_t)error_len, "%s", load_error);
    return -1;
}

int mugs_onednn_loaded(void) { return dnnl_sgemm_p != NULL; }

void mugs_onednn_version(int *major, int *minor, int *patch) {
    *major = version[0]; *minor = version[1]; *patch = version[2];
}

unsigned mugs_onednn_isa(void) { return isa; }

int mugs_onednn_sgemm(int threads, char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (thread_omp_threads != threads) {
        omp_set_num_threads_p(threads);
        thread_omp_threads = threads;
    }
    return dnnl_sgemm_p(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// MARK: bf16

int mugs_onednn_bf16_available(void) {
    // The ISA oneDNN runs must include avx512_core_bf16 (bit 0x80 over avx512_core 0x27): below it oneDNN would
    // emulate bf16, slower than fp32 (a DNNL_MAX_CPU_ISA cap lowers it too).
    return dnnl_sgemm_p && dnnl_gemm_bf16_p && (isa & 0x80) && (isa & 0x27) == 0x27;
}

// Round to nearest even, as VCVTNE2PS2BF16 does, including its treatment of denormal inputs as zero (the vector
// and scalar paths must agree bit for bit) and of NaN (quieted, sign and top payload kept).
static inline uint16_t bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);       // ±0 and denormals → ±0
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);  // NaN → quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static void bf16_convert_avx512(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)v);
    }
    for (; i < n; i++) dst[i] = bf16_round(src[i]);
}
#endif

static pthread_once_t features_once = PTHREAD_ONCE_INIT;
static int has_avx512_bf16;
static void read_features(void) {
    mugs_cpu_features f;
    mugs_cpu_features_read(&f);
    has_avx512_bf16 = f.avx512_bf16 && f.avx512bw;
}

void mugs_bf16_convert(const float *src, uint16_t *dst, int64_t n, int vector) {
    pthread_once(&features_once, read_features);
#if defined(__x86_64__)
    if (vector && has_avx512_bf16) {
        bf16_convert_avx512(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_round(src[i]);
}

// The calling thread's mixed-precision scope: off, or on with the parameter shadows registered for it.
static __thread const mugs_bf16_shadow *scope_shadows;
static __thread int scope_count, scope_on;
static __thread mugs_bf16_convert_fn scope_convert;
static __thread void *scope_context;
// Per-thread conversion buffers for the two operands, grown to the largest call (so no allocation after the
// first step: a step's shapes repeat).
static __thread uint16_t *scratch[2];
static __thread size_t scratch_cap[2];
// Operands converted once by the caller for several products (`mugs_bf16_pin`), a small stack.
#define PINS 4
static __thread mugs_bf16_shadow pins[PINS];
static __thread uint16_t *pin_buffer[PINS];
static __thread size_t pin_cap[PINS];
static __thread int pin_count;

uint16_t *mugs_bf16_pin(const float *p, int64_t count) {
    if (!scope_on || pin_count == PINS || count <= 0) return NULL;
    int i = pin_count;
    if ((size_t)count > pin_cap[i]) {
        uint16_t *grown = realloc(pin_buffer[i], (size_t)count * sizeof(uint16_t));
        if (!grown) return NULL;
        pin_buffer[i] = grown;
        pin_cap[i] = (size_t)count;
    }
    pins[i] = (mugs_bf16_shadow){p, pin_buffer[i], count};
    pin_count = i + 1;
    return pin_buffer[i];
}

void mugs_bf16_unpin(void) {
    if (pin_count > 0) pin_count--;
}

#if defined(__x86_64__)
// Sweeps the rows in order, each row's columns lo..<hi at once (contiguous reads), into per-column accumulators
// that live in L1: every column is still summed over the rows in order from 0, so the bits match `columnSums`.
__attribute__((target("avx512f,avx512bw,avx512bf16")))
static void convert_column_sums_avx512(const float *src, uint16_t *dst, float *sums, int64_t rows, int64_t cols,
                                       int64_t lo, int64_t hi) {
    enum { W = 2048 };
    float acc[W] __attribute__((aligned(64)));
    for (int64_t c0 = lo; c0 < hi; c0 += W) {
        int64_t w = hi - c0 < W ? hi - c0 : W, v = w & ~(int64_t)31;
        memset(acc, 0, (size_t)w * sizeof(float));
        for (int64_t r = 0; r < rows; r++) {
            const float *x = src + r * cols + c0;
            uint16_t *y = dst + r * cols + c0;
            for (int64_t c = 0; c < v; c += 32) {
                __m512 a = _mm512_loadu_ps(x + c), b = _mm512_loadu_ps(x + c + 16);
                _mm512_store_ps(acc + c, _mm512_add_ps(_mm512_load_ps(acc + c), a));
                _mm512_store_ps(acc + c + 16, _mm512_add_ps(_mm512_load_ps(acc + c + 16), b));
                _mm512_storeu_si512((void *)(y + c), (__m512i)_mm512_cvtne2ps_pbh(b, a));
            }
            for (int64_t c = v; c < w; c++) {
                acc[c] += x[c];
                y[c] = bf16_round(x[c]);
            }
        }
        for (int64_t c = 0; c < w; c++) sums[c0 + c] += acc[c];
    }
}
#endif

void mugs_bf16_convert_column_sums(const float *src, uint16_t *dst, float *sums, int64_t rows, int64_t cols,
                                   int64_t lo, int64_t hi) {
    pthread_once(&features_once, read_features);
#if defined(__x86_64__)
    if (has_avx512_bf16) {
        convert_column_sums_avx512(src, dst, sums, rows, cols, lo, hi);
        return;
    }
#endif
    for (int64_t c = lo; c < hi; c++) {
        float s = 0;
        for (int64_t r = 0; r < rows; r++) {
            s += src[r * cols + c];
            dst[r * cols + c] = bf16_round(src[r * cols + c]);
        }
        sums[c] += s;
    }
}

void mugs_bf16_scope_set(int on, const mugs_bf16_shadow *shadows, int count, mugs_bf16_convert_fn convert,
                         void *context) {
    scope_on = on;
    scope_shadows = on ? shadows : NULL;
    scope_count = on ? count : 0;
    scope_convert = on ? convert : NULL;
    scope_context = on ? context : NULL;
    pin_count = 0;
}

int mugs_bf16_scope_active(void) { return scope_on; }

// The bf16 form of a stored operand of `rows` rows of `cols` values at row stride `ld`: the registered shadow when
// the operand lies inside one (same offsets, same stride), else converted into the thread's buffer `slot` (stride
// `cols`). NULL when a buffer cannot be grown.
static const uint16_t *bf16_operand(const float *p, int64_t rows, int64_t cols, int64_t ld, int slot, int64_t *ld_out) {
    for (int i = -pin_count; i < scope_count; i++) {  // the pins first (newest last), then the shadows
        const mugs_bf16_shadow *s = i < 0 ? &pins[pin_count + i] : &scope_shadows[i];
        uintptr_t at = (uintptr_t)p, base = (uintptr_t)s->base;
        if (at < base || (at - base) % sizeof(float) != 0) continue;
        int64_t offset = (int64_t)((at - base) / sizeof(float));
        if (offset + (rows - 1) * ld + cols <= s->count) {
            *ld_out = ld;
            return s->shadow + offset;
        }
    }
    size_t need = (size_t)rows * (size_t)cols;
    if (need > scratch_cap[slot]) {
        uint16_t *grown = realloc(scratch[slot], need * sizeof(uint16_t));
        if (!grown) return NULL;
        scratch[slot] = grown;
        scratch_cap[slot] = need;
    }
    uint16_t *out = scratch[slot];
    if (ld == cols && scope_convert && rows * cols >= (1 << 16)) scope_convert(scope_context, p, out, rows * cols);
    else if (ld == cols) mugs_bf16_convert(p, out, rows * cols, 1);
    else for (int64_t r = 0; r < rows; r++) mugs_bf16_convert(p + r * ld, out + r * cols, cols, 1);
    *ld_out = cols;
    return out;
}

int mugs_onednn_gemm_bf16(int threads, char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                          const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C,
                          int64_t ldc) {
    if (thread_omp_threads != threads) {
        omp_set_num_threads_p(threads);
        thread_omp_threads = threads;
    }
    return dnnl_gemm_bf16_p(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// MARK: dispatch and counters

#include <cblas.h>
#include <stdatomic.h>
#include <time.h>

static _Atomic uint64_t gemm_flops, gemm_core_ns;

static inline uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#define PROFILE_SHAPES 512
static atomic_int profile_on;
static pthread_mutex_t profile_lock = PTHREAD_MUTEX_INITIALIZER;
static mugs_gemm_shape profile[PROFILE_SHAPES + 1];  // the last entry collects shapes past the table
static int profile_count;

void mugs_gemm_profile_enable(int on) {
    pthread_mutex_lock(&profile_lock);
    if (on) {
        memset(profile, 0, sizeof profile);
        profile_count = 0;
    }
    atomic_store(&profile_on, on);
    pthread_mutex_unlock(&profile_lock);
}

static void profile_add(int transa, int transb, int M, int N, int K, int threads, int bf16, double flops,
                        double core_s) {
    pthread_mutex_lock(&profile_lock);
    mugs_gemm_shape *e = NULL;
    for (int i = 0; i < profile_count; i++) {
        mugs_gemm_shape *x = &profile[i];
        if (x->transa == transa && x->transb == transb && x->M == M && x->N == N && x->K == K && x->threads == threads
            && x->bf16 == bf16) {
            e = x;
            break;
        }
    }
    if (!e && profile_count < PROFILE_SHAPES) {
        e = &profile[profile_count++];
        *e = (mugs_gemm_shape){transa, transb, M, N, K, threads, bf16, 0, 0, 0};
    }
    if (!e) e = &profile[PROFILE_SHAPES];
    e->calls += 1;
    e->flops += flops;
    e->core_seconds += core_s;
    pthread_mutex_unlock(&profile_lock);
}

int mugs_gemm_profile_read(mugs_gemm_shape *out, int max) {
    pthread_mutex_lock(&profile_lock);
    int n = profile_count + (profile[PROFILE_SHAPES].calls > 0 ? 1 : 0);
    for (int i = 0; i < n && i < max; i++) out[i] = i < profile_count ? profile[i] : profile[PROFILE_SHAPES];
    pthread_mutex_unlock(&profile_lock);
    return n;
}

int mugs_sgemm(int engine, int threads, int transa, int transb, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc, int mixed) {
    uint64_t t0 = now_ns();
    int status = 0, bf16 = 0;
    if (mixed && scope_on && engine == MUGS_GEMM_ONEDNN && K > 0 && M > 0 && N > 0 && mugs_onednn_bf16_available()) {
        // op(A) is (M,K): stored (M,K) or, transposed, (K,M); op(B) is (K,N): stored (K,N) or (N,K).
        int64_t lda16, ldb16;
        const uint16_t *A16 = bf16_operand(A, transa ? K : M, transa ? M : K, lda, 0, &lda16);
        const uint16_t *B16 = bf16_operand(B, transb ? N : K, transb ? K : N, ldb, 1, &ldb16);
        if (!A16 || !B16) return -2;
        status = mugs_onednn_gemm_bf16(threads, transa ? 'T' : 'N', transb ? 'T' : 'N', M, N, K, alpha, A16, lda16,
                                       B16, ldb16, beta, C, ldc);
        bf16 = 1;
    } else if (engine == MUGS_GEMM_ONEDNN && K > 0 && dnnl_sgemm_p) {
        status = mugs_onednn_sgemm(threads, transa ? 'T' : 'N', transb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb,
                                   beta, C, ldc);
    } else {
        cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans, M, N, K,
                    alpha, A, lda, B, ldb, beta, C, ldc);
    }
    uint64_t dt = now_ns() - t0;
    atomic_fetch_add_explicit(&gemm_flops, 2u * (uint64_t)M * (uint64_t)N * (uint64_t)K, memory_order_relaxed);
    atomic_fetch_add_explicit(&gemm_core_ns, dt * (uint64_t)(threads > 0 ? threads : 1), memory_order_relaxed);
    if (atomic_load_explicit(&profile_on, memory_order_relaxed))
        profile_add(transa, transb, M, N, K, threads, bf16, 2.0 * M * N * K, dt * 1e-9 * (threads > 0 ? threads : 1));
    return status;
}

void mugs_gemm_counters(double *flops, double *core_seconds) {
    *flops = (double)atomic_load_explicit(&gemm_flops, memory_order_relaxed);
    *core_seconds = (double)atomic_load_explicit(&gemm_core_ns, memory_order_relaxed) * 1e-9;
}
