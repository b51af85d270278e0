// CGemm: the C side of mugs' GEMM engine layer (MugsModel/Gemm.swift is the Swift side).
//
// * CPU features from cpuid, with the OS's XSAVE state checked (a feature the kernel does not save is absent).
// * oneDNN (Debian libdnnl2) loaded at run time with dlopen: a host without it falls back to OpenBLAS, and the
//   OpenMP settings oneDNN's libgomp reads at load time (thread count, wait policy) are set by mugs first.
// * The measured FMA peak of this core (for `mugs bench gemm`'s "fraction of peak").
#ifndef MUGS_CGEMM_H
#define MUGS_CGEMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CPU features the engine choice reads (all 0 on a non-x86 build).
typedef struct {
    int x86;          ///< built for x86-64
    int avx2, fma;    ///< AVX2 and FMA3, with YMM state enabled by the OS
    int avx512f, avx512bw, avx512vl, avx512dq;  ///< with ZMM/opmask state enabled by the OS
    int avx512_bf16;  ///< AVX512_BF16 (vdpbf16ps)
    int amx_tile, amx_bf16;  ///< AMX, with tile state enabled by the OS (Linux: arch_prctl permission aside)
    char vendor[13];  ///< "GenuineIntel", "AuthenticAMD", ...
    char brand[49];   ///< the processor brand string
    int family, model;  ///< display family and model (informational: never used to choose an engine)
} mugs_cpu_features;

/// Reads the features of the CPU this runs on.
void mugs_cpu_features_read(mugs_cpu_features *out);

/// Loads oneDNN once (thread-safe). Before loading, sets OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads block,
/// never spin: mugs runs its own compute, loader and I/O threads beside them) and OMP_NUM_THREADS=`threads`,
/// each only if the environment does not already set it. Returns 0 on success, else -1 with a message in
/// `error` (at most `error_len` bytes, NUL-terminated).
int mugs_onednn_load(int threads, char *error, int error_len);

/// 1 once `mugs_onednn_load` has succeeded.
int mugs_onednn_loaded(void);

/// oneDNN's version (major, minor, patch) and its effective ISA (dnnl_cpu_isa_t value); 0s before loading.
void mugs_onednn_version(int *major, int *minor, int *patch);
unsigned mugs_onednn_isa(void);

/// Row-major C(M,N) = alpha·op(A)·op(B) + beta·C through dnnl_sgemm, on `threads` OpenMP threads for the calling
/// thread (the OpenMP thread-count setting is per calling thread; it is changed only when it differs from the
/// last value this thread used). Returns dnnl_status_t (0 = success).
int mugs_onednn_sgemm(int threads, char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/// The engines `mugs_sgemm` dispatches to.
enum { MUGS_GEMM_OPENBLAS = 0, MUGS_GEMM_ONEDNN = 1 };

/// Row-major C(M,N) = alpha·op(A)·op(B) + beta·C on `engine` with `threads` threads (OpenBLAS: its process-wide
/// count, set by the caller; oneDNN: as `mugs_onednn_sgemm`). Counts 2·M·N·K flops and the call's wall time ×
/// threads (core-seconds) into the process's GEMM counters. Returns 0, or oneDNN's failure status.
int mugs_sgemm(int engine, int threads, int transa, int transb, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc);

/// The GEMM counters since the process started: flops and core-seconds (call wall time × its threads).
void mugs_gemm_counters(double *flops, double *core_seconds);

/// One GEMM shape's totals in the shape profile.
typedef struct {
    int transa, transb, M, N, K, threads;
    uint64_t calls;
    double flops, core_seconds;
} mugs_gemm_shape;

/// Starts (1) or stops (0) the shape profile: while on, every `mugs_sgemm` call also adds to its shape's totals
/// (a short critical section per call, so it is off unless asked for). Starting clears the totals.
void mugs_gemm_profile_enable(int on);

/// Copies up to `max` shapes of the profile into `out`, in first-seen order; returns how many there are (shapes
/// past the table's 512 are summed into one entry with M = N = K = 0).
int mugs_gemm_profile_read(mugs_gemm_shape *out, int max);

/// The measured peak of fused multiply-adds on the calling thread, GFLOP/s (2 flops per lane per FMA), with
/// 512-bit vectors when `width` is 512 (needs AVX-512F) or 256-bit when 256 (needs AVX2+FMA); 0 when not
/// available. Runs for about `seconds`.
double mugs_fma_peak_gflops(int width, double seconds);

#ifdef __cplusplus
}
#endif
#endif
