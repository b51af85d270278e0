/// Multi-head self-attention core (timm `Attention` between its qkv and proj Linears), per sample and head:
/// S = scale · Q·Kᵀ, P = softmax(S) (rows), O = P·V, with scale = D^−½ and D = C/H.
///
/// Layout as timm reshapes it: qkv (B, T, 3, H, D) — row t of sample b holds [q | k | v], each [H, D]; the
/// output O is written as (B, T, H, D) = (B, T, C), ready for the proj Linear. The probabilities P (B, H, T, T)
/// are kept for the backward.
///
/// The (b, h) pairs are split across the pool's threads, each running single-threaded sgemms on strided views
/// (lda = 3C), so no packing copies are made. OpenBLAS is switched to one thread for the duration and back to
/// `pool.threads` afterwards (the two pool threads already keep both cores busy).

/// out(B,T,C) = attention(qkv(B,T,3C)); probs(B,H,T,T) saved.
public func attentionForward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                             qkv: UnsafePointer<Float>, B: Int, T: Int, C: Int, H: Int, pool: ComputePool) {
    let D = C / H, ld = 3 * C
    let scale = 1 / Float(D).squareRoot()
    forEachSampleHead(B * H, pool: pool) { bh, _, gemm in
        let b = bh / H, h = bh % H
        let q = qkv + b * T * ld + h * D, k = q + C, v = q + 2 * C
        let p = probs + bh * T * T
        gemm {
            // S(T,T) = scale · Q(T,D) · Kᵀ(D,T)
            BLAS.sgemm(transB: true, M: T, N: T, K: D, alpha: scale, A: q, lda: ld, B: k, ldb: ld, C: p, ldc: T)
        }
        for t in 0 ..< T { softmaxRow(p + t * T, count: T) }
        gemm {
            // O(T,D) = P(T,T) · V(T,D), written into out(b, ·, h·D ..< (h+1)·D)
            BLAS.sgemm(M: T, N: D, K: T, A: p, lda: T, B: v, ldb: ld, C: out + b * T * C + h * D, ldc: C)
        }
    }
}

/// Backward of `attentionForward`; accumulates into dQKV(B,T,3C) (overwrites it when `accumulate` is false).
/// `scratch` holds pool.threads × T·T floats.
///
/// dP = dO·Vᵀ, dV += Pᵀ·dO, dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale, dQ += dS·K, dK += dSᵀ·Q.
public func attentionBackward(dQKV: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                              dOut: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                              B: Int, T: Int, C: Int, H: Int, accumulate: Bool = true, pool: ComputePool) {
    let D = C / H, ld = 3 * C
    let beta: Float = accumulate ? 1 : 0
    let scale = 1 / Float(D).squareRoot()
    forEachSampleHead(B * H, pool: pool) { bh, thread, gemm in
        let b = bh / H, h = bh % H
        let q = qkv + b * T * ld + h * D, k = q + C, v = q + 2 * C
        let dq = dQKV + b * T * ld + h * D, dk = dq + C, dv = dq + 2 * C
        let p = probs + bh * T * T
        let dO = dOut + b * T * C + h * D
        let dS = scratch + thread * T * T
        gemm {
            // dP(T,T) = dO(T,D) · Vᵀ(D,T)
            BLAS.sgemm(transB: true, M: T, N: T, K: D, A: dO, lda: C, B: v, ldb: ld, C: dS, ldc: T)
            // dV(T,D) += Pᵀ(T,T) · dO(T,D)
            BLAS.sgemm(transA: true, M: T, N: D, K: T, A: p, lda: T, B: dO, ldb: C, beta: beta, C: dv, ldc: ld)
        }
        for t in 0 ..< T { softmaxBackwardRow(dS + t * T, probs: p + t * T, count: T, scale: scale) }
        gemm {
            // dQ(T,D) += dS(T,T) · K(T,D)
            BLAS.sgemm(M: T, N: D, K: T, A: dS, lda: T, B: k, ldb: ld, beta: beta, C: dq, ldc: ld)
            // dK(T,D) += dSᵀ(T,T) · Q(T,D)
            BLAS.sgemm(transA: true, M: T, N: D, K: T, A: dS, lda: T, B: q, ldb: ld, beta: beta, C: dk, ldc: ld)
        }
    }
}

/// Runs `body(item, thread, gemm)` for items 0..<count, split into pool.threads contiguous runs, with OpenBLAS on
/// one thread meanwhile. `thread` indexes per-thread scratch; the body wraps its sgemm calls in `gemm { }`.
///
/// Profiling (KernelProfile.enabled): the region's wall time is split between sgemm and softmax in the proportion
/// thread 0 measured for itself (all threads do the same work).
@inline(__always)
private func forEachSampleHead(_ count: Int, pool: ComputePool,
                               _ body: (Int, Int, (() -> Void) -> Void) -> Void) {
    let threads = min(pool.threads, count)
    let profiling = KernelProfile.enabled
    let t0 = profiling ? KernelProfile.now() : 0
    var gemmSeconds0 = 0.0, totalSeconds0 = 0.0
    if threads > 1 { BLAS.setThreads(1) }
    pool.parallelFor(threads) { r in
        for thread in r {
            let timed = profiling && thread == 0
            let start = timed ? KernelProfile.now() : 0
            for item in count * thread / threads ..< count * (thread + 1) / threads {
                body(item, thread) { gemm in
                    if timed {
                        let g0 = KernelProfile.now()
                        gemm()
                        gemmSeconds0 += KernelProfile.now() - g0
                    } else {
                        gemm()
                    }
                }
            }
            if timed { totalSeconds0 = KernelProfile.now() - start }
        }
    }
    if threads > 1 { BLAS.setThreads(pool.threads) }
    if profiling {
        let wall = KernelProfile.now() - t0, share = totalSeconds0 > 0 ? gemmSeconds0 / totalSeconds0 : 1
        KernelProfile.add(.attentionGemm, wall * share)
        KernelProfile.add(.softmax, wall * (1 - share))
    }
}

/// In place: x ← softmax(x), subtracting the row maximum first.
///
/// The max and sum reductions use 16-lane accumulators (a scalar running sum would keep the exp loop from
/// vectorising); the order of the sums is fixed by `count` alone, whatever the thread count.
@inline(__always)
func softmaxRow(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let m = rowMax(x, count: count)
    for i in 0 ..< count { x[i] = fastExp(x[i] - m) }
    let inv = 1 / rowSum(x, count: count)
    for i in 0 ..< count { x[i] *= inv }
}

/// In place: g ← scale · p ⊙ (g − Σ g⊙p), the softmax backward folded with the score scale.
@inline(__always)
func softmaxBackwardRow(_ g: UnsafeMutablePointer<Float>, probs p: UnsafePointer<Float>, count: Int, scale: Float) {
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= count {
        let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
        let pv = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
        acc = acc.addingProduct(gv, pv)
        i += 16
    }
    var s = acc.sum()
    while i < count { s = s.addingProduct(g[i], p[i]); i += 1 }
    for i in 0 ..< count { g[i] = scale * p[i] * (g[i] - s) }
}

@inline(__always)
private func rowMax(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var mv = SIMD16<Float>(repeating: -.greatestFiniteMagnitude)
    var i = 0
    while i + 16 <= count {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
        mv.replace(with: v, where: v .> mv)
        i += 16
    }
    var m = mv.max()
    while i < count { m = max(m, x[i]); i += 1 }
    return m
}

@inline(__always)
private func rowSum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    while i + 16 <= count { acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
    var s = acc.sum()
    while i < count { s += x[i]; i += 1 }
    return s
}
