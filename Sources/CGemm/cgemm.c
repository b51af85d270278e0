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

static void profile_add(int transa, int transb, int M, int N, int K, int threads, double flops, double core_s) {
    pthread_mutex_lock(&profile_lock);
    mugs_gemm_shape *e = NULL;
    for (int i = 0; i < profile_count; i++) {
        mugs_gemm_shape *x = &profile[i];
        if (x->transa == transa && x->transb == transb && x->M == M && x->N == N && x->K == K && x->threads == threads) {
            e = x;
            break;
        }
    }
    if (!e && profile_count < PROFILE_SHAPES) {
        e = &profile[profile_count++];
        *e = (mugs_gemm_shape){transa, transb, M, N, K, threads, 0, 0, 0};
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
               int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    uint64_t t0 = now_ns();
    int status = 0;
    if (engine == MUGS_GEMM_ONEDNN && K > 0 && dnnl_sgemm_p) {
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
        profile_add(transa, transb, M, N, K, threads, 2.0 * M * N * K, dt * 1e-9 * (threads > 0 ? threads : 1));
    return status;
}

void mugs_gemm_counters(double *flops, double *core_seconds) {
    *flops = (double)atomic_load_explicit(&gemm_flops, memory_order_relaxed);
    *core_seconds = (double)atomic_load_explicit(&gemm_core_ns, memory_order_relaxed) * 1e-9;
}
