/// Patch embedding: PyTorch `Conv2d(Cin, C, kernel_size=P, stride=P)` followed by `flatten(2).transpose(1, 2)`.
///
/// Computed as im2col + one sgemm: cols(B·Np, K) with K = Cin·P·P in the weight's (cin, ky, kx) order, then
/// tokens(B·Np, C) = cols · Wᵀ + b. Patches are numbered row-major over the (gh, gw) = (Hi/P, Wi/P) grid, as
/// `flatten(2)` does; rows/columns of pixels beyond gh·P / gw·P are ignored, as the strided conv ignores them.

/// Shapes of one patch-embedding call.
public struct PatchGeometry: Sendable, Equatable {
    public let B: Int, Cin: Int, Hi: Int, Wi: Int, P: Int
    public var gh: Int { Hi / P }
    public var gw: Int { Wi / P }
    /// Patches per image.
    public var Np: Int { gh * gw }
    /// Values per patch: Cin·P·P.
    public var K: Int { Cin * P * P }
    public init(B: Int, Cin: Int, Hi: Int, Wi: Int, P: Int) {
        self.B = B; self.Cin = Cin; self.Hi = Hi; self.Wi = Wi; self.P = P
    }
}

/// tokens(B·Np, C) = im2col(images(B, Cin, Hi, Wi)) · weight(C, K)ᵀ + bias(C); `cols` (B·Np, K) is kept for the
/// backward.
public func patchEmbedForward(tokens: UnsafeMutablePointer<Float>, cols: UnsafeMutablePointer<Float>,
                              images: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                              geometry g: PatchGeometry, C: Int, pool: ComputePool) {
    let P = g.P, gw = g.gw, Np = g.Np, K = g.K
    KernelProfile.measure(.embedding) {
        pool.parallelFor(g.B * Np, minChunk: 8) { r in
            for row in r {
                let b = row / Np, i = row % Np
                let py = i / gw, px = i % gw
                let dst = cols + row * K
                for cin in 0 ..< g.Cin {
                    let plane = images + (b * g.Cin + cin) * g.Hi * g.Wi
                    for ky in 0 ..< P {
                        (dst + (cin * P + ky) * P).update(from: plane + (py * P + ky) * g.Wi + px * P, count: P)
                    }
                }
            }
        }
    }
    // tokens(B·Np, C) = cols(B·Np, K) · Wᵀ(K, C) + b
    linearForward(out: tokens, inp: cols, weight: weight, bias: bias, N: g.B * Np, C: K, OC: C, pool: pool)
}

/// Backward of `patchEmbedForward`; accumulates into dWeight(C, K), dBias(C) and, if given, dImages(B, Cin, Hi, Wi).
/// `dCols` (B·Np, K) is scratch, needed only when dImages is requested.
public func patchEmbedBackward(dImages: UnsafeMutablePointer<Float>?, dCols: UnsafeMutablePointer<Float>?,
                               dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>,
                               dTokens: UnsafePointer<Float>, cols: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, geometry g: PatchGeometry, C: Int, pool: ComputePool) {
    let P = g.P, gw = g.gw, Np = g.Np, K = g.K
    linearBackward(dInp: nil, dWeight: dWeight, dBias: dBias, dOut: dTokens, inp: cols, weight: weight,
                   N: g.B * Np, C: K, OC: C, pool: pool)
    guard let dImages, let dCols else { return }
    KernelProfile.measure(.linearGemm) {
        // dCols(B·Np, K) = dTokens(B·Np, C) · W(C, K)
        BLAS.sgemm(M: g.B * Np, N: K, K: C, A: dTokens, lda: C, B: weight, ldb: K, C: dCols, ldc: K)
    }
    // Patches do not overlap (stride = kernel), so each image pixel receives at most one value: rows split freely.
    KernelProfile.measure(.embedding) { pool.parallelFor(g.B * Np, minChunk: 8) { r in
        for row in r {
            let b = row / Np, i = row % Np
            let py = i / gw, px = i % gw
            let src = dCols + row * K
            for cin in 0 ..< g.Cin {
                let plane = dImages + (b * g.Cin + cin) * g.Hi * g.Wi
                for ky in 0 ..< P {
                    let d = plane + (py * P + ky) * g.Wi + px * P, s = src + (cin * P + ky) * P
                    for kx in 0 ..< P { d[kx] += s[kx] }
                }
            }
        }
    } }
}
