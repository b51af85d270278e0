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

/// 1 when oneDNN is loaded, exports `dnnl_gemm_bf16bf16f32` and runs an ISA with native bf16 dot products
/// (avx512_core_bf16 or better); bf16 products are then available to `mugs_sgemm`'s mixed calls.
int mugs_onednn_bf16_available(void);

/// Row-major C(M,N) = alpha·op(A)·op(B) + beta·C with bf16 A and B, fp32 accumulation and fp32 C, through oneDNN's
/// `dnnl_gemm_bf16bf16f32` on `threads` OpenMP threads (as `mugs_onednn_sgemm`). Needs
/// `mugs_onednn_bf16_available()`. Returns dnnl_status_t.
int mugs_onednn_gemm_bf16(int threads, char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha,
                          const uint16_t *A, int64_t lda, const uint16_t *B, int64_t ldb, float beta, float *C,
                          int64_t ldc);

/// Converts n floats to bf16, rounding to nearest even as VCVTNE2PS2BF16 does: denormal inputs become ±0, NaN
/// stays NaN (quieted). With `vector` set and a CPU with AVX512_BF16 it uses that instruction; the scalar path
/// gives the same bits.
void mugs_bf16_convert(const float *src, uint16_t *dst, int64_t n, int vector);

/// A bf16 copy of an fp32 buffer (`count` floats at `base`), registered for a mixed-precision scope: an operand
/// inside [base, base + count) is read from `shadow` at the same offset instead of being converted per call.
typedef struct {
    const float *base;
    const uint16_t *shadow;
    int64_t count;
} mugs_bf16_shadow;

/// Converts n floats as `mugs_bf16_convert` does (with the vector path), e.g. split over a thread pool.
typedef void (*mugs_bf16_convert_fn)(void *context, const float *src, uint16_t *dst, int64_t n);

/// Turns the calling thread's mixed-precision scope on (with `count` shadows, which must stay valid and current
/// until the scope is turned off) or off. Only the calling thread's `mugs_sgemm` calls see it. `convert` (may be
/// NULL) converts the large contiguous operands that have no shadow, with `context`.
void mugs_bf16_scope_set(int on, const mugs_bf16_shadow *shadows, int count, mugs_bf16_convert_fn convert,
                         void *context);

/// Registers, for the calling thread's scope, a bf16 buffer of `count` values standing for the fp32 operand at `p`
/// (the caller fills it, e.g. with `mugs_bf16_convert_column_sums`, and must not change `p` while pinned), so
/// that several products read one conversion. Returns the buffer, or NULL when the scope is off, 4 are already
/// pinned, or allocation failed (the products then convert by themselves). Pins end with `mugs_bf16_unpin` (the
/// newest first) or when the scope is set.
uint16_t *mugs_bf16_pin(const float *p, int64_t count);
void mugs_bf16_unpin(void);

/// For columns lo..<hi of a row-major (rows, cols) matrix: dst = bf16(src) (as `mugs_bf16_convert`) and
/// sums[c] += Σ_r src[r, c], summed over the rows in order from 0 (the same bits as MugsModel's `columnSums`).
void mugs_bf16_convert_column_sums(const float *src, uint16_t *dst, float *sums, int64_t rows, int64_t cols,
                                   int64_t lo, int64_t hi);

/// 1 while the calling thread's scope is on.
int mugs_bf16_scope_active(void);

/// The engines `mugs_sgemm` dispatches to.
enum { MUGS_GEMM_OPENBLAS = 0, MUGS_GEMM_ONEDNN = 1 };

/// Row-major C(M,N) = alpha·op(A)·op(B) + beta·C on `engine` with `threads` threads (OpenBLAS: its process-wide
/// count, set by the caller; oneDNN: as `mugs_onednn_sgemm`). Counts 2·M·N·K flops and the call's wall time ×
/// threads (core-seconds) into the process's GEMM counters. Returns 0, oneDNN's failure status, or -2 when a
/// conversion buffer could not be allocated.
///
/// `mixed`: the product may run in bf16. It does when the calling thread's scope is on, the engine is oneDNN and
/// `mugs_onednn_bf16_available()`: A and B are rounded to bf16 (from a registered shadow, or converted into a
/// per-thread buffer), products accumulate in fp32, C stays fp32.
int mugs_sgemm(int engine, int threads, int transa, int transb, int M, int N, int K, float alpha, const float *A,
               int lda, const float *B, int ldb, float beta, float *C, int ldc, int mixed);

/// The GEMM counters since the process started: flops and core-seconds (call wall time × its threads).
void mugs_gemm_counters(double *flops, double *core_seconds);

/// One GEMM shape's totals in the shape profile.
typedef struct {
    int transa, transb, M, N, K, threads;
    int bf16;  ///< 1 for products that ran in bf16
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
