/// Mugs group loss, DINO's clustering loss (reference: `ClusteringLoss` in sail-sg/mugs `src/loss.py`). With the
/// centre c [P] as it was before the step, student temperature τs and teacher temperature τt:
///
///     q_t  = softmax((T[t,i] − c) / τt)                                  teacher, constant
///     term(t,v,i) = −Σ_p q_t[p] · log softmax(S[v,i] / τs)[p]
///     ℓ_i = Σ_{t,v} ω(t,v) · term(t,v,i)                                (ω from `CropPairs`)
///     ∂ℓ_i/∂S[v,i] = ( (Σ_t ω(t,v)) · softmax(S[v,i]/τs) − Σ_t ω(t,v)·q_t ) / τs
///
/// ℓ_i depends on image i alone (the centre is state; its update is the APPLY part's).
public final class ClusteringLoss {
    /// Maximum images per slice b, local crops L, prototypes P.
    public let maxImages: Int, L: Int, P: Int
    private let teacherProbs: ScratchBuffer
    private var rowLoss: [Double]

    public init(maxImages: Int, localCrops L: Int, P: Int) {
        precondition(L >= 1, "the Mugs losses need at least one local crop")
        self.maxImages = maxImages; self.L = L; self.P = P
        teacherProbs = ScratchBuffer(CropPairs.teacherCrops * maxImages * P)
        rowLoss = [Double](repeating: 0, count: (CropPairs.globalCrops + L) * maxImages)
    }

    /// Computes ℓ_i for the b images of a slice into `sampleLoss` (b values) and, if `dStudent` is given, adds
    /// `gradScale · ∂ℓ_i/∂S` to it.
    ///
    /// - student: S, rows (2+L)·b × P, crop-major; teacher: T, rows 2·b × P (raw logits); center: P values.
    public func forwardBackward(sampleLoss: UnsafeMutablePointer<Double>, dStudent: UnsafeMutablePointer<Float>?,
                                student: UnsafePointer<Float>, teacher: UnsafePointer<Float>,
                                center: UnsafePointer<Float>, studentTemperature tauS: Float,
                                teacherTemperature tauT: Float, gradScale: Float, b: Int, pool: ComputePool) {
        let L = L, nS = CropPairs.globalCrops + L, rows = nS * b, tRows = CropPairs.teacherCrops * b, P = P
        precondition(b <= maxImages, "clustering loss: \(b) images > planned \(maxImages)")
        let q = teacherProbs.p
        let invTauT = 1 / tauT, invTauS = 1 / tauS
        // q = softmax((T − c)/τt), row by row
        pool.parallelFor(tRows, minChunk: 8) { range in
            for r in range {
                let x = teacher + r * P, y = q + r * P
                var mx = -Float.infinity
                for p in 0 ..< P { let z = (x[p] - center[p]) * invTauT; y[p] = z; mx = max(mx, z) }
                var sum: Double = 0
                for p in 0 ..< P { let e = fastExp(y[p] - mx); y[p] = e; sum += Double(e) }
                let inv = Float(1 / sum)
                for p in 0 ..< P { y[p] *= inv }
            }
        }
        rowLoss.withUnsafeMutableBufferPointer { rl in
            let rowLoss = rl.baseAddress!
            pool.parallelFor(rows, minChunk: 8) { range in
                for r in range {
                    let v = r / b, i = r % b
                    let s = student + r * P
                    var mx = -Float.infinity
                    for p in 0 ..< P { mx = max(mx, s[p] * invTauS) }
                    var sum: Double = 0
                    for p in 0 ..< P { sum += Double(fastExp(s[p] * invTauS - mx)) }
                    let logZ = Float(Foundation.log(sum)) + mx          // log Σ e^{s/τs}
                    var loss: Double = 0
                    var wSum: Float = 0
                    for t in 0 ..< CropPairs.teacherCrops {
                        let w = CropPairs.weight(teacher: t, student: v, localCrops: L)
                        if w == 0 { continue }
                        wSum += w
                        let qt = q + (t * b + i) * P
                        var dot: Double = 0                              // Σ q·log p = Σ q·(s/τs) − logZ·Σq
                        var qSum: Double = 0
                        for p in 0 ..< P { dot += Double(qt[p] * (s[p] * invTauS)); qSum += Double(qt[p]) }
                        loss += Double(w) * (Double(logZ) * qSum - dot)
                    }
                    rowLoss[r] = loss
                    guard let dStudent else { continue }
                    let ds = dStudent + r * P
                    let a = gradScale * invTauS
                    let aw = a * wSum
                    for p in 0 ..< P { ds[p] = ds[p].addingProduct(aw, fastExp(s[p] * invTauS - logZ)) }
                    for t in 0 ..< CropPairs.teacherCrops {
                        let w = CropPairs.weight(teacher: t, student: v, localCrops: L)
                        if w == 0 { continue }
                        let qt = q + (t * b + i) * P, aq = -a * w
                        for p in 0 ..< P { ds[p] = ds[p].addingProduct(aq, qt[p]) }
                    }
                }
            }
        }
        for i in 0 ..< b {
            var s: Double = 0
            for v in 0 ..< nS { s += rowLoss[v * b + i] }
            sampleLoss[i] = s
        }
    }
}

import Foundation
