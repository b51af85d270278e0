/// InfoNCE with a queue of negatives (Mugs instance and local-group losses; reference: `InfoNCELoss` in sail-sg/mugs
/// `src/loss.py`). For student row s = S[v,i], teacher target u = U[t,i] and queue Q [K, D] (all unit rows):
///
///     term(t,v,i) = −log( e^{s·u/τ} / (e^{s·u/τ} + Σ_k e^{s·Q_k/τ}) )
///     ℓ_i = Σ_{t,v} ω(t,v) · term(t,v,i)                  (ω from `CropPairs`)
///     ∂term/∂s = ((p₀ − 1)·u + Σ_k p_k·Q_k) / τ            (p the softmax over [positive; negatives])
///
/// Negatives are the queue only, so ℓ_i depends on image i alone. The K negative logits of a student row are
/// computed once (one sgemm) and shared by its pairs; their gradient is one more sgemm.
public final class InfoNCELoss {
    /// Maximum images per slice b, local crops L, queue length K, feature width D.
    public let maxImages: Int, L: Int, K: Int, D: Int
    /// Negative logits s·Q/τ, then their unnormalised softmax weights e^{l − max} (rows × K).
    private let neg: ScratchBuffer
    /// Per student row: the coefficient of its negatives' gradient, its weighted loss.
    private let negCoef: ScratchBuffer
    private var rowLoss: [Double]

    public init(maxImages: Int, localCrops L: Int, K: Int, D: Int) {
        precondition(L >= 1, "the Mugs losses need at least one local crop")
        self.maxImages = maxImages; self.L = L; self.K = K; self.D = D
        let maxRows = (CropPairs.globalCrops + L) * maxImages
        neg = ScratchBuffer(maxRows * K)
        negCoef = ScratchBuffer(maxRows)
        rowLoss = [Double](repeating: 0, count: maxRows)
    }

    /// Computes ℓ_i for the b images of a slice into `sampleLoss` (b values) and, if `dStudent` is given, adds
    /// `gradScale · ∂ℓ_i/∂S` to it (summed over i).
    ///
    /// - student: S, rows (2+L)·b × D, crop-major (row v·b + i); teacher: U, rows 2·b × D; queue: K × D.
    public func forwardBackward(sampleLoss: UnsafeMutablePointer<Double>, dStudent: UnsafeMutablePointer<Float>?,
                                student: UnsafePointer<Float>, teacher: UnsafePointer<Float>,
                                queue: UnsafePointer<Float>, temperature tau: Float, gradScale: Float,
                                b: Int, pool: ComputePool) {
        let L = L, nS = CropPairs.globalCrops + L, rows = nS * b, K = K, D = D
        precondition(b <= maxImages, "InfoNCE: \(b) images > planned \(maxImages)")
        let invTau = 1 / tau
        // neg(rows,K) = S(rows,D) · Qᵀ(D,K) / τ
        BLAS.sgemm(transB: true, M: rows, N: K, K: D, alpha: invTau, A: student, lda: D, B: queue, ldb: D,
                   C: neg.p, ldc: K)
        let negP = neg.p, coef = negCoef.p
        rowLoss.withUnsafeMutableBufferPointer { rl in
            let rowLoss = rl.baseAddress!
            pool.parallelFor(rows, minChunk: 8) { range in
                for r in range {
                    let v = r / b, i = r % b
                    let s = student + r * D, l = negP + r * K
                    var mx = -Float.infinity
                    for k in 0 ..< K { mx = max(mx, l[k]) }
                    var sum: Double = 0
                    for k in 0 ..< K { let e = fastExp(l[k] - mx); l[k] = e; sum += Double(e) }
                    var loss: Double = 0, cNeg: Double = 0
                    let ds = dStudent.map { $0 + r * D }
                    for t in 0 ..< CropPairs.teacherCrops {
                        let w = CropPairs.weight(teacher: t, student: v, localCrops: L)
                        if w == 0 { continue }
                        let u = teacher + (t * b + i) * D
                        var dot: Float = 0
                        for c in 0 ..< D { dot = dot.addingProduct(s[c], u[c]) }
                        let pos = Double(dot * invTau), m = max(Double(mx), pos)
                        let scaleNeg = Foundation.exp(Double(mx) - m), ePos = Foundation.exp(pos - m)
                        let Z = sum * scaleNeg + ePos
                        loss += Double(w) * (Foundation.log(Z) + m - pos)
                        cNeg += Double(w) * scaleNeg / Z
                        if let ds {
                            // positive part: gradScale · ω · (p₀ − 1) · u / τ
                            let a = gradScale * w * Float(ePos / Z - 1) * invTau
                            for c in 0 ..< D { ds[c] = ds[c].addingProduct(a, u[c]) }
                        }
                    }
                    rowLoss[r] = loss
                    coef[r] = gradScale * Float(cNeg) * invTau
                }
            }
        }
        for i in 0 ..< b {
            var s: Double = 0
            for v in 0 ..< nS { s += rowLoss[v * b + i] }
            sampleLoss[i] = s
        }
        guard let dStudent else { return }
        // negatives: dS(rows,D) += diag(coef) · E(rows,K) · Q(K,D)
        pool.parallelFor(rows, minChunk: 8) { range in
            for r in range {
                let l = negP + r * K, c = coef[r]
                for k in 0 ..< K { l[k] *= c }
            }
        }
        BLAS.sgemm(M: rows, N: D, K: K, A: negP, lda: K, B: queue, ldb: D, beta: 1, C: dStudent, ldc: D)
    }
}

import Foundation
