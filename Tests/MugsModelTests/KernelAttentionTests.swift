import Foundation
import Testing
@testable import MugsModel

/// Attention, patch embedding, position-embedding interpolation and residual kernels: forwards against direct
/// definitions or PyTorch's numbers, backwards against finite differences / the adjoint identity.
@Suite struct KernelAttentionTests {
    let pool = ComputePool(threads: 2)

    @Test func attentionMatchesNaiveAndFiniteDifferences() {
        let B = 2, T = 5, C = 8, H = 2, D = C / H
        var r = TestRandom(10)
        let qkv = r.array(B * T * 3 * C), wOut = r.array(B * T * C)
        func forward(_ qkv: [Float]) -> ([Float], [Float]) {
            var out = [Float](repeating: 0, count: B * T * C), probs = [Float](repeating: 0, count: B * H * T * T)
            attentionForward(out: &out, probs: &probs, qkv: qkv, B: B, T: T, C: C, H: H, pool: pool)
            return (out, probs)
        }
        let (out, probs) = forward(qkv)
        // Direct definition in Double.
        var naive = [Float](repeating: 0, count: B * T * C)
        for b in 0 ..< B { for h in 0 ..< H { for i in 0 ..< T {
            var s = [Double](repeating: 0, count: T)
            for j in 0 ..< T { for d in 0 ..< D {
                s[j] += Double(qkv[(b * T + i) * 3 * C + h * D + d]) * Double(qkv[(b * T + j) * 3 * C + C + h * D + d])
            } }
            s = s.map { $0 / Double(D).squareRoot() }
            let m = s.max()!, e = s.map { exp($0 - m) }, z = e.reduce(0, +)
            for d in 0 ..< D {
                var o = 0.0
                for j in 0 ..< T { o += e[j] / z * Double(qkv[(b * T + j) * 3 * C + 2 * C + h * D + d]) }
                naive[(b * T + i) * C + h * D + d] = Float(o)
            }
        } } }
        #expect(maxAbsDiff(out, naive) < 1e-6, "attention max diff \(maxAbsDiff(out, naive))")
        var scratch = [Float](repeating: 0, count: pool.threads * T * T)
        var dqkv = [Float](repeating: 0, count: qkv.count)
        attentionBackward(dQKV: &dqkv, scratch: &scratch, dOut: wOut, qkv: qkv, probs: probs, B: B, T: T, C: C, H: H,
                          pool: pool)
        let e = finiteDifferenceError(qkv, analytic: dqkv, samples: 120) { dot(forward($0).0, wOut) }
        print("attention fd rel err \(e)")
        #expect(e < Tol.finiteDifference)
    }

    @Test func patchEmbedIsAStridedConvAndBackwardMatchesFiniteDifferences() {
        let g = PatchGeometry(B: 2, Cin: 3, Hi: 6, Wi: 9, P: 3), C = 4
        var r = TestRandom(11)
        let images = r.array(g.B * 3 * 6 * 9), w = r.array(C * g.K), bias = r.array(C)
        let wOut = r.array(g.B * g.Np * C)
        func forward(_ images: [Float], _ w: [Float]) -> [Float] {
            var tokens = [Float](repeating: 0, count: g.B * g.Np * C)
            var cols = [Float](repeating: 0, count: g.B * g.Np * g.K)
            patchEmbedForward(tokens: &tokens, cols: &cols, images: images, weight: w, bias: bias, geometry: g, C: C,
                              pool: pool)
            return tokens
        }
        let tokens = forward(images, w)
        // Conv2d(kernel = stride = 3) by definition; token index = row-major patch position.
        var naive = [Float](repeating: 0, count: tokens.count)
        for b in 0 ..< g.B { for py in 0 ..< g.gh { for px in 0 ..< g.gw { for o in 0 ..< C {
            var s = bias[o]
            for ci in 0 ..< 3 { for ky in 0 ..< 3 { for kx in 0 ..< 3 {
                s += w[((o * 3 + ci) * 3 + ky) * 3 + kx] * images[((b * 3 + ci) * 6 + py * 3 + ky) * 9 + px * 3 + kx]
            } } }
            naive[((b * g.Np) + py * g.gw + px) * C + o] = s
        } } } }
        #expect(maxAbsDiff(tokens, naive) < Tol.float32)
        var cols = [Float](repeating: 0, count: g.B * g.Np * g.K), t2 = tokens
        patchEmbedForward(tokens: &t2, cols: &cols, images: images, weight: w, bias: bias, geometry: g, C: C,
                          pool: pool)
        var dImages = [Float](repeating: 0, count: images.count), dCols = cols
        var dW = [Float](repeating: 0, count: w.count), dB = [Float](repeating: 0, count: C)
        patchEmbedBackward(dImages: &dImages, dCols: &dCols, dWeight: &dW, dBias: &dB, dTokens: wOut, cols: cols,
                           weight: w, geometry: g, C: C, pool: pool)
        let ei = finiteDifferenceError(images, analytic: dImages, samples: 80) { dot(forward($0, w), wOut) }
        let ew = finiteDifferenceError(w, analytic: dW) { dot(forward(images, $0), wOut) }
        print("patch embed fd rel err: dImages \(ei) dWeight \(ew)")
        #expect(ei < Tol.finiteDifference && ew < Tol.finiteDifference)
    }

    /// Numbers from PyTorch 2.13 running the reference's `interpolate_pos_encoding` on pos_embed (1, 17, 2) with
    /// value[i] = sin(0.37·i + 0.1), patch 4: `F.interpolate(pos[:, 1:].reshape(1, 4, 4, 2).permute(0, 3, 1, 2),
    /// scale_factor=((Hi // 4 + 0.1) / 4, (Wi // 4 + 0.1) / 4), mode="bicubic")`, class entry prepended.
    @Test func positionInterpolationMatchesPyTorchBicubic() throws {
        let C = 2
        let pos = (0 ..< 17 * C).map { Float(sin(0.37 * Double($0) + 0.1)) }
        let cases: [(Int, Int, [Float])] = [
            (24, 12, [0.099833414, 0.45288628, 0.90706289, 1.1023475, 1.1390132, 0.9223209, 0.29057497, -0.12931727,
                      -0.020168098, -0.08467295, -0.17063971, -0.19041625, -0.15823583, -0.11495452, -0.62152731,
                      -0.80412763, -0.89830583, -0.76977175, -0.32218808, -0.0069460804, 0.35426262, 0.57851672,
                      0.80228561, 0.77815014, 0.48681125, 0.23932236, 0.24795306, 0.30893186, 0.32970604, 0.27357671,
                      0.098594233, -0.02047272, -0.41539431, -0.75706726, -1.1308683, -1.1347495, -0.76940942,
                      -0.43479732]),
            (8, 8, [0.099833414, 0.45288628, 0.011717578, -0.036267012, -0.13098636, -0.12935081, 0.42401049,
                    0.51451606, 0.3592265, 0.18761419]),
            (12, 20, [0.099833414, 0.45288628, 0.55241805, 0.69492078, 0.70279294, 0.71667159, 0.68970102, 0.53874075,
                      0.38451317, 0.13575658, 0.020038793, -0.24680841, -0.23564102, -0.25153661, -0.24233459,
                      -0.21373989, -0.1813423, -0.10528953, -0.04461655, 0.045778431, 0.084798314, 0.16354017,
                      -0.040956922, -0.19483244, -0.23551276, -0.34672749, -0.41142708, -0.43745413, -0.40969127,
                      -0.34107798, -0.29948574, -0.16769442]),
        ]
        var r = TestRandom(12)
        for (hi, wi, expected) in cases {
            let plan = try PosEmbedInterpolation(N: 16, Hi: hi, Wi: wi, P: 4)
            #expect(!plan.isIdentity && plan.tokens * C == expected.count)
            var out = [Float](repeating: 0, count: expected.count)
            plan.forward(out: &out, pos: pos, C: C)
            print("interp \(hi)x\(wi) max diff vs torch \(maxAbsDiff(out, expected))")
            #expect(maxAbsDiff(out, expected) < 2e-6)
            // Backward is the transpose: <resize(x), y> = <x, resizeᵀ(y)>.
            let y = r.array(expected.count)
            var dPos = [Float](repeating: 0, count: pos.count)
            plan.backward(dPos: &dPos, dOut: y, C: C)
            let lhs = dot(out, y), rhs = dot(pos, dPos)
            #expect(abs(lhs - rhs) < 1e-5 * max(1, abs(lhs)), "adjoint \(lhs) vs \(rhs)")
        }
        let same = try PosEmbedInterpolation(N: 16, Hi: 16, Wi: 16, P: 4)
        #expect(same.isIdentity)
        #expect(throws: ViTError.badPositionGrid(patches: 15)) { try PosEmbedInterpolation(N: 15, Hi: 8, Wi: 8, P: 4) }
        #expect(throws: ViTError.imageTooSmall(height: 3, width: 8, patch: 4)) {
            try PosEmbedInterpolation(N: 16, Hi: 3, Wi: 8, P: 4)
        }
    }

    @Test func residualAppliesPerSampleScalesAndTheBranchsBias() {
        let B = 3, T = 125, C = 40, R = T * C
        var r = TestRandom(13)
        let x = r.array(B * R), branch = r.array(B * R), bias = r.array(C), scale: [Float] = [0, 1.25, 1]
        var out = [Float](repeating: 0, count: B * R)
        residualBiasForward(out: &out, inp: x, branch: branch, bias: bias, sampleScale: scale, B: B, T: T, C: C,
                            pool: pool)
        let expected = (0 ..< B * R).map { x[$0] + scale[$0 / R] * (branch[$0] + bias[$0 % C]) }
        #expect(maxAbsDiff(out, expected) < 1e-6)
        // Without drop path: exactly inp + (branch + bias), as the unfused bias-then-add computed it.
        residualBiasForward(out: &out, inp: x, branch: branch, bias: bias, sampleScale: nil, B: B, T: T, C: C,
                            pool: pool)
        #expect(maxAbsDiff(out, (0 ..< B * R).map { x[$0] + (branch[$0] + bias[$0 % C]) }) == 0)
        var dBranch = [Float](repeating: 9, count: B * R)
        residualBranchBackward(dBranch: &dBranch, dOut: x, sampleScale: scale, B: B, R: R, pool: pool)
        #expect(maxAbsDiff(dBranch, (0 ..< B * R).map { scale[$0 / R] * x[$0] }) == 0)
    }
}
