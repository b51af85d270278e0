/// Row-wise L2 normalisation as PyTorch's `F.normalize(x, dim=-1)`: y = x / max(‖x‖₂, eps), eps = 1e-12.

/// The `eps` of `F.normalize`.
public let l2NormalizeEps: Float = 1e-12

/// out(N,C) = inp / max(‖inp‖, eps) row by row; norms(N) keeps max(‖inp‖, eps) for the backward.
public func l2NormalizeForward(out: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>,
                               inp: UnsafePointer<Float>, N: Int, C: Int, pool: ComputePool) {
    pool.parallelFor(N, minChunk: 64) { rows in
        for n in rows {
            let x = inp + n * C, y = out + n * C
            var s: Float = 0
            for c in 0 ..< C { s = s.addingProduct(x[c], x[c]) }
            let d = max(s.squareRoot(), l2NormalizeEps)
            let inv = 1 / d
            for c in 0 ..< C { y[c] = x[c] * inv }
            norms[n] = d
        }
    }
}

/// dInp(N,C) += ∂/∂inp of `l2NormalizeForward`, given its output and saved norms:
/// dInp += (dOut − out·(out·dOut)) / ‖inp‖ when ‖inp‖ > eps, else dOut / eps (the clamp is constant).
public func l2NormalizeBackward(dInp: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                                out: UnsafePointer<Float>, norms: UnsafePointer<Float>, N: Int, C: Int,
                                pool: ComputePool) {
    pool.parallelFor(N, minChunk: 64) { rows in
        for n in rows {
            let y = out + n * C, dy = dOut + n * C, dx = dInp + n * C
            let inv = 1 / norms[n]
            if norms[n] <= l2NormalizeEps {
                for c in 0 ..< C { dx[c] = dx[c].addingProduct(dy[c], inv) }
                continue
            }
            var dot: Float = 0
            for c in 0 ..< C { dot = dot.addingProduct(y[c], dy[c]) }
            for c in 0 ..< C { dx[c] = dx[c].addingProduct(dy[c].addingProduct(-y[c], dot), inv) }
        }
    }
}
