import Foundation

/// The reference's `interpolate_pos_encoding` (DINO/Mugs `vision_transformer.py`): the learned position embedding
/// (1 + N, C) on an n×n grid (n = √N) is resized bicubically to the input's (gh, gw) patch grid, the class
/// token's entry kept as is. Identity when gh·gw = N and the image is square (the reference's `npatch == N and
/// w == h`).
///
/// The reference calls `F.interpolate(mode="bicubic", scale_factor=((gh + 0.1)/n, (gw + 0.1)/n))`,
/// align_corners false. With a scale factor given, PyTorch takes the output size floor(n·s) but maps coordinates
/// with the GIVEN scale: src = (dst + 0.5)/s − 0.5 in Float (not n/out), base index min(⌊src⌋, n−1), fraction t
/// clamped to [0, 1], Keys' cubic with A = −0.75 and the four taps' indices clamped to the border. The backward
/// is the transpose: the same weights scatter-added.
public struct PosEmbedInterpolation: Sendable {
    /// Source grid side n = √N, output grid (gh, gw).
    public let n: Int, gh: Int, gw: Int
    public let isIdentity: Bool
    /// Per output row / column: four source indices and weights.
    private let rowIndex: [Int], rowWeight: [Float], colIndex: [Int], colWeight: [Float]

    /// Plans the resize of an n×n position grid (N = n² patches) for an image of Hi×Wi pixels with patch size P.
    public init(N: Int, Hi: Int, Wi: Int, P: Int) throws(ViTError) {
        let n = Int(Double(N).squareRoot().rounded())
        guard n * n == N, n > 0 else { throw ViTError.badPositionGrid(patches: N) }
        self.n = n
        gh = Hi / P
        gw = Wi / P
        guard gh > 0, gw > 0 else { throw ViTError.imageTooSmall(height: Hi, width: Wi, patch: P) }
        isIdentity = gh * gw == N && Hi == Wi
        // Python: scale_factor = (gh + 0.1) / math.sqrt(N), in double; output size floor(n · scale).
        let sr = (Double(gh) + 0.1) / Double(N).squareRoot(), sc = (Double(gw) + 0.1) / Double(N).squareRoot()
        guard Int((Double(n) * sr).rounded(.down)) == gh, Int((Double(n) * sc).rounded(.down)) == gw else {
            throw ViTError.badPositionGrid(patches: N)
        }
        (rowIndex, rowWeight) = Self.axis(inSize: n, outSize: gh, scale: sr)
        (colIndex, colWeight) = Self.axis(inSize: n, outSize: gw, scale: sc)
    }

    private static func axis(inSize: Int, outSize: Int, scale: Double) -> ([Int], [Float]) {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }          // |x| ≤ 1
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }     // 1 < |x| < 2
        let inv = Float(1.0 / scale)
        var index = [Int](), weight = [Float]()
        for dst in 0 ..< outSize {
            let src = inv * (Float(dst) + 0.5) - 0.5
            let i0 = min(Int(src.rounded(.down)), inSize - 1)
            let t = min(max(src - Float(i0), 0), 1)
            weight += [far(t + 1), near(t), near(1 - t), far(2 - t)]
            for j in 0 ..< 4 { index.append(min(max(i0 - 1 + j, 0), inSize - 1)) }
        }
        return (index, weight)
    }

    /// Tokens of the resized embedding: 1 + gh·gw.
    public var tokens: Int { 1 + gh * gw }

    /// out(1 + gh·gw, C) = resize(pos(1 + N, C)).
    public func forward(out: UnsafeMutablePointer<Float>, pos: UnsafePointer<Float>, C: Int) {
        if isIdentity { out.update(from: pos, count: (1 + n * n) * C); return }
        out.update(from: pos, count: C)
        for oy in 0 ..< gh {
            for ox in 0 ..< gw {
                let dst = out + (1 + oy * gw + ox) * C
                dst.update(repeating: 0, count: C)
                for a in 0 ..< 4 {
                    for b in 0 ..< 4 {
                        let w = rowWeight[oy * 4 + a] * colWeight[ox * 4 + b]
                        let src = pos + (1 + rowIndex[oy * 4 + a] * n + colIndex[ox * 4 + b]) * C
                        for c in 0 ..< C { dst[c] = dst[c].addingProduct(w, src[c]) }
                    }
                }
            }
        }
    }

    /// dPos(1 + N, C) += resizeᵀ(dOut(1 + gh·gw, C)). Sequential, so the sum order is fixed.
    public func backward(dPos: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, C: Int) {
        if isIdentity {
            for i in 0 ..< (1 + n * n) * C { dPos[i] += dOut[i] }
            return
        }
        for c in 0 ..< C { dPos[c] += dOut[c] }
        for oy in 0 ..< gh {
            for ox in 0 ..< gw {
                let src = dOut + (1 + oy * gw + ox) * C
                for a in 0 ..< 4 {
                    for b in 0 ..< 4 {
                        let w = rowWeight[oy * 4 + a] * colWeight[ox * 4 + b]
                        let dst = dPos + (1 + rowIndex[oy * 4 + a] * n + colIndex[ox * 4 + b]) * C
                        for c in 0 ..< C { dst[c] = dst[c].addingProduct(w, src[c]) }
                    }
                }
            }
        }
    }
}
