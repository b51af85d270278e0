import CGemm

/// Fully connected layer in PyTorch's layout: weight [OC, C], bias [OC].
///
/// out(N,OC) = inp(N,C) · weight(OC,C)ᵀ + bias(OC)        (bias optional)
///
/// The bias is written first and the product accumulated onto it (beta = 1), so the output is touched once
/// by Swift and once by sgemm; with a `pool` the rows are written by its threads. Its products are `mixed`: bf16
/// inside a mixed-precision scope (`Precision`). Where the next kernel can add the bias in its own pass, call this
/// without it (`biasGELUForward`, `residualBiasForward`).
public func linearForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                          weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?, N: Int, C: Int, OC: Int,
                          pool: ComputePool? = nil) {
    if let bias {
        KernelProfile.measure(.bias) {
            let fill = { (rows: Range<Int>) in for n in rows { (out + n * OC).update(from: bias, count: OC) } }
            if let pool { pool.parallelFor(N, minChunk: max(1, 16384 / max(1, OC)), fill) } else { fill(0 ..< N) }
        }
    }
    KernelProfile.measure(.linearGemm) {
        // out(N,OC) = inp(N,C) · Wᵀ(C,OC) [+ out]
        BLAS.sgemm(transB: true, M: N, N: OC, K: C, A: inp, lda: C, B: weight, ldb: C,
                   beta: bias == nil ? 0 : 1, C: out, ldc: OC, mixed: true)
    }
}

/// Backward of `linearForward`. Accumulates into every gradient given; any may be nil (not needed).
///
/// dInp(N,C) += dOut(N,OC) · weight(OC,C);  dWeight(OC,C) += dOut(N,OC)ᵀ · inp(N,C);  dBias(OC) += Σₙ dOut(n,·)
///
/// The bias reduction splits columns (not rows) across threads and sums rows in order, so its result does not
/// depend on the thread count.
public func linearBackward(dInp: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                           dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                           inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, N: Int, C: Int, OC: Int,
                           pool: ComputePool) {
    linearBackward(dInp: dInp, dWeight: dWeight, dBias: dBias, dOut: dOut, inp: inp, weight: weight, N: N, C: C,
                   OC: OC, accumulateInput: true, pool: pool)
}

/// `linearBackward` that overwrites dInp instead of accumulating when `accumulateInput` is false (saves zeroing
/// a fresh buffer). dWeight and dBias always accumulate.
func linearBackward(dInp: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
                    dBias: UnsafeMutablePointer<Float>?, dOut: UnsafePointer<Float>,
                    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, N: Int, C: Int, OC: Int,
                    accumulateInput: Bool, pool: ComputePool) {
    // bf16 scope: dOut is rounded once for both products, in the same pass that sums its columns for dBias.
    let pinned = mugs_bf16_scope_active() != 0 && (dInp != nil || dWeight != nil)
        ? mugs_bf16_pin(dOut, Int64(N * OC)) : nil
    defer { if pinned != nil { mugs_bf16_unpin() } }
    if let pinned {
        KernelProfile.measure(.bias) {
            guard let dBias else { return BF16Shadow.convert(dOut, pinned, count: N * OC, pool: pool) }
            // Threads own disjoint 32-column tiles, as in `columnSums`.
            pool.parallelFor((OC + 31) / 32, minChunk: 1) { tiles in
                let lo = tiles.lowerBound * 32, hi = min(OC, tiles.upperBound * 32)
                mugs_bf16_convert_column_sums(dOut, pinned, dBias, Int64(N), Int64(OC), Int64(lo), Int64(hi))
            }
        }
    }
    KernelProfile.measure(.linearGemm) {
        if let dInp {
            // dInp(N,C) (+)= dOut(N,OC) · W(OC,C)
            BLAS.sgemm(M: N, N: C, K: OC, A: dOut, lda: OC, B: weight, ldb: C, beta: accumulateInput ? 1 : 0,
                       C: dInp, ldc: C, mixed: true)
        }
        if let dWeight {
            // dW(OC,C) += dOutᵀ(OC,N) · inp(N,C)
            BLAS.sgemm(transA: true, M: OC, N: C, K: N, A: dOut, lda: OC, B: inp, ldb: C, beta: 1, C: dWeight,
                       ldc: C, mixed: true)
        }
    }
    if let dBias, pinned == nil {
        KernelProfile.measure(.bias) { columnSums(into: dBias, rows: dOut, N: N, C: OC, pool: pool) }
    }
}

/// sums(C) += Σₙ rows(n, ·) over N rows of width C. Threads own disjoint 32-column tiles, each summed over the
/// rows in order in registers, so the result is the same for any thread count.
func columnSums(into sums: UnsafeMutablePointer<Float>, rows: UnsafePointer<Float>, N: Int, C: Int,
                pool: ComputePool) {
    typealias V = SIMD8<Float>
    pool.parallelFor((C + 31) / 32, minChunk: 1) { tiles in
        for tile in tiles {
            let lo = tile * 32
            if lo + 32 <= C {
                var a0 = V(), a1 = V(), a2 = V(), a3 = V()
                for n in 0 ..< N {
                    let p = UnsafeRawPointer(rows + n * C + lo)
                    a0 += p.loadUnaligned(as: V.self)
                    a1 += p.loadUnaligned(fromByteOffset: 32, as: V.self)
                    a2 += p.loadUnaligned(fromByteOffset: 64, as: V.self)
                    a3 += p.loadUnaligned(fromByteOffset: 96, as: V.self)
                }
                for i in 0 ..< 8 {
                    sums[lo + i] += a0[i]; sums[lo + 8 + i] += a1[i]
                    sums[lo + 16 + i] += a2[i]; sums[lo + 24 + i] += a3[i]
                }
            } else {
                for c in lo ..< C {
                    var s: Float = 0
                    for n in 0 ..< N { s += rows[n * C + c] }
                    sums[c] += s
                }
            }
        }
    }
}
