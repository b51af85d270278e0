import Foundation
import Testing
@testable import MugsModel

/// Finite-difference checks of the shared kernels (Linear, GELU, LayerNorm) and a direct check of their forwards.
@Suite struct KernelLayerTests {
    let pool = ComputePool(threads: 2)

    @Test func linearForwardMatchesNaiveAndBackwardMatchesFiniteDifferences() {
        let N = 7, C = 5, OC = 6
        var r = TestRandom(1)
        let x = r.array(N * C), w = r.array(OC * C), b = r.array(OC), wOut = r.array(N * OC)
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: N * OC)
            linearForward(out: &out, inp: x, weight: w, bias: b, N: N, C: C, OC: OC)
            return out
        }
        let out = forward(x, w, b)
        var naive = [Float](repeating: 0, count: N * OC)
        for n in 0 ..< N { for o in 0 ..< OC {
            var s = b[o]; for c in 0 ..< C { s += x[n * C + c] * w[o * C + c] }; naive[n * OC + o] = s } }
        #expect(maxAbsDiff(out, naive) < Tol.float32)
        // Backward accumulates: start from 1s and subtract them afterwards.
        var dx = [Float](repeating: 1, count: N * C), dw = [Float](repeating: 1, count: OC * C)
        var db = [Float](repeating: 1, count: OC)
        linearBackward(dInp: &dx, dWeight: &dw, dBias: &db, dOut: wOut, inp: x, weight: w, N: N, C: C, OC: OC,
                       pool: pool)
        dx = dx.map { $0 - 1 }; dw = dw.map { $0 - 1 }; db = db.map { $0 - 1 }
        let ex = finiteDifferenceError(x, analytic: dx) { dot(forward($0, w, b), wOut) }
        let ew = finiteDifferenceError(w, analytic: dw) { dot(forward(x, $0, b), wOut) }
        let eb = finiteDifferenceError(b, analytic: db) { dot(forward(x, w, $0), wOut) }
        print("linear fd rel err: dInp \(ex) dWeight \(ew) dBias \(eb)")
        #expect(ex < Tol.finiteDifference && ew < Tol.finiteDifference && eb < Tol.finiteDifference)
    }

    @Test func geluForwardIsExactErfAndBackwardMatchesFiniteDifferences() {
        var r = TestRandom(2)
        let x = r.array(9000, scale: 4), wOut = r.array(9000)
        func forward(_ x: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: x.count)
            geluForward(out: &out, inp: x, count: x.count, pool: pool)
            return out
        }
        let y = forward(x)
        let exact = x.map { v in Float(Double(v) * 0.5 * (1 + erf(Double(v) / 2.0.squareRoot()))) }
        #expect(maxAbsDiff(y, exact) < 4e-6, "gelu max diff \(maxAbsDiff(y, exact))")
        var dx = [Float](repeating: 0, count: x.count)
        geluBackward(dInp: &dx, dOut: wOut, inp: x, count: x.count, pool: pool)
        let e = finiteDifferenceError(x, analytic: dx, h: 1e-3) { dot(forward($0), wOut) }
        print("gelu fd rel err \(e)")
        #expect(e < Tol.finiteDifference)
    }

    @Test func biasGELUEqualsTheBiasThenTheGELUBitForBit() {
        let N = 70, F = 96
        var r = TestRandom(21)
        let x = r.array(N * F, scale: 4), bias = r.array(F)
        var pre = x, out = [Float](repeating: 0, count: N * F)
        biasGELUForward(out: &out, preAct: &pre, bias: bias, N: N, F: F, pool: pool)
        let biased = (0 ..< N * F).map { x[$0] + bias[$0 % F] }
        var expected = [Float](repeating: 0, count: N * F)
        geluForward(out: &expected, inp: biased, count: N * F, pool: pool)
        #expect(pre == biased, "the pre-activation keeps the biased values the backward needs")
        #expect(maxAbsDiff(out, expected) == 0, "fused differs by \(maxAbsDiff(out, expected))")
    }

    @Test func layerNormBackwardMatchesFiniteDifferencesAndIsThreadCountInvariant() {
        let N = 37, C = 24
        var r = TestRandom(3)
        let x = r.array(N * C, scale: 2), w = r.array(C), b = r.array(C), wOut = r.array(N * C)
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: N * C)
            var mean = [Float](repeating: 0, count: N), rstd = mean
            layerNormForward(out: &out, mean: &mean, rstd: &rstd, inp: x, weight: w, bias: b, N: N, C: C,
                             eps: 1e-6, pool: pool)
            return out
        }
        // Forward against the definition, in Double.
        let y = forward(x, w, b)
        var naive = [Float](repeating: 0, count: N * C)
        for n in 0 ..< N {
            let row = x[n * C ..< (n + 1) * C].map(Double.init)
            let m = row.reduce(0, +) / Double(C)
            let v = row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(C)
            for c in 0 ..< C { naive[n * C + c] = Float((row[c] - m) / (v + 1e-6).squareRoot() * Double(w[c])) + b[c] }
        }
        #expect(maxAbsDiff(y, naive) < 1e-5)
        var mean = [Float](repeating: 0, count: N), rstd = mean, out = y
        layerNormForward(out: &out, mean: &mean, rstd: &rstd, inp: x, weight: w, bias: b, N: N, C: C, eps: 1e-6,
                         pool: pool)
        func grads(_ p: ComputePool) -> ([Float], [Float], [Float]) {
            var dx = [Float](repeating: 0, count: N * C), dw = [Float](repeating: 0, count: C), db = dw
            layerNormBackward(dInp: &dx, dWeight: &dw, dBias: &db, dOut: wOut, inp: x, weight: w, mean: mean,
                              rstd: rstd, N: N, C: C, pool: p)
            return (dx, dw, db)
        }
        let (dx, dw, db) = grads(pool)
        let (dx1, dw1, db1) = grads(ComputePool(threads: 1))
        #expect(dx == dx1 && dw == dw1 && db == db1)
        let ex = finiteDifferenceError(x, analytic: dx) { dot(forward($0, w, b), wOut) }
        let ew = finiteDifferenceError(w, analytic: dw) { dot(forward(x, $0, b), wOut) }
        let eb = finiteDifferenceError(b, analytic: db) { dot(forward(x, w, $0), wOut) }
        print("layernorm fd rel err: dInp \(ex) dWeight \(ew) dBias \(eb)")
        #expect(ex < Tol.finiteDifference && ew < Tol.finiteDifference && eb < Tol.finiteDifference)
    }
}
