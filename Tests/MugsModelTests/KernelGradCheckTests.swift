import Foundation
import Sampling
import Testing
@testable import MugsModel

/// Shared helpers for the kernel and ViT tests: seeded random arrays, named tolerances, finite differences.
enum Tol {
    /// Central differences in Float with step 1e-2 on O(1) inputs: truncation O(h²·f‴) ≈ 1e-4 plus rounding
    /// ε·|L|/h ≈ 1e-5·|L|; relative to the largest gradient component this stays below 5e-3.
    static let finiteDifference: Float = 5e-3
    /// Two Float computations of the same value in different summation orders (sgemm blocking, our loops).
    static let float32: Float = 1e-5
}

struct TestRandom {
    var rng: SampleRNG
    init(_ seed: UInt64) { rng = SampleRNG(key: [0xBAC, seed]) }
    mutating func array(_ n: Int, scale: Float = 1) -> [Float] {
        (0 ..< n).map { _ in Float(rng.uniform(-1, 1)) * scale }
    }
}

/// Largest |a − b| over all elements.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "count \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in a.indices { m = max(m, abs(a[i] - b[i])) }
    return m
}

/// Relative finite-difference error of an analytic gradient: max |analytic − numeric| / max(|numeric|, 1e-3),
/// checking up to `samples` coordinates of `x` (spread evenly). `loss` is evaluated in Double.
func finiteDifferenceError(_ x: [Float], analytic: [Float], samples: Int = 40, h: Float = 1e-2,
                           loss: ([Float]) -> Double) -> Float {
    precondition(x.count == analytic.count)
    var worst: Float = 0, scale: Float = 1e-3
    let step = max(1, x.count / samples)
    var numeric: [(Int, Float)] = []
    var i = 0
    while i < x.count {
        var xp = x, xm = x
        xp[i] += h; xm[i] -= h
        let g = Float((loss(xp) - loss(xm)) / Double(2 * h))
        numeric.append((i, g))
        scale = max(scale, abs(g))
        i += step
    }
    for (i, g) in numeric { worst = max(worst, abs(analytic[i] - g)) }
    return worst / scale
}

/// Σ out·w in Double: the scalar "loss" whose gradient w.r.t. out is w.
func dot(_ a: [Float], _ w: [Float]) -> Double {
    var s = 0.0
    for i in a.indices { s += Double(a[i]) * Double(w[i]) }
    return s
}

@Suite struct KernelMathTests {
    @Test func fastErfAndExpMatchLibm() {
        var worstErf: Float = 0, worstExp: Float = 0
        var x: Float = -6
        while x <= 6 {
            worstErf = max(worstErf, abs(fastErf(x) - Float(erf(Double(x)))))
            x += 0.000_37
        }
        x = -80
        while x <= 80 {
            let e = exp(Double(x))
            worstExp = max(worstExp, Float(abs(Double(fastExp(x)) - e) / e))
            x += 0.0123
        }
        print("fastErf max abs err \(worstErf), fastExp max rel err \(worstExp)")
        #expect(worstErf < 1e-6)
        #expect(worstExp < 4e-7)
        #expect(fastExp(-200) >= 0 && fastExp(-200) < 1e-37)
    }
}
