/// Residual connection with per-sample stochastic depth (timm `DropPath`): out = inp + s_b · branch, where
/// s_b = keep_b / keep_prob (0 for a dropped sample, 1/keep_prob for a kept one) or 1 without drop path.

/// out(B,T,C) = inp + scale(B) ⊙ (branch + bias(C)): the bias of the Linear that produced `branch` (computed
/// without it) folded into the residual add that consumes it. The branch buffer is left without the bias.
public func residualBiasForward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
                                branch: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                sampleScale: UnsafePointer<Float>?, B: Int, T: Int, C: Int, pool: ComputePool) {
    KernelProfile.measure(.residual) { pool.parallelFor(B * T, minChunk: max(1, 8192 / max(1, C))) { rows in
        for r in rows {
            let o = out + r * C, x = inp + r * C, y = branch + r * C
            if let sampleScale {
                let s = sampleScale[r / T]
                for c in 0 ..< C { o[c] = x[c].addingProduct(s, y[c] + bias[c]) }
            } else {
                for c in 0 ..< C { o[c] = x[c] + (y[c] + bias[c]) }
            }
        }
    } }
}

/// dBranch(B,R) = scale(B) ⊙ dOut(B,R) (overwrites); the identity path's gradient is dOut itself.
public func residualBranchBackward(dBranch: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                   sampleScale: UnsafePointer<Float>?, B: Int, R: Int, pool: ComputePool) {
    KernelProfile.measure(.residual) { pool.parallelFor(B * R, minChunk: 8192) { r in
        if let sampleScale {
            var i = r.lowerBound
            while i < r.upperBound {
                let b = i / R, end = min(r.upperBound, (b + 1) * R), s = sampleScale[b]
                for j in i ..< end { dBranch[j] = s * dOut[j] }
                i = end
            }
        } else {
            (dBranch + r.lowerBound).update(from: dOut + r.lowerBound, count: r.count)
        }
    } }
}

/// y(n) += x(n), split across threads.
public func addInPlace(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, pool: ComputePool) {
    KernelProfile.measure(.residual) {
        pool.parallelFor(count, minChunk: 8192) { r in
            for i in r { y[i] += x[i] }
        }
    }
}
