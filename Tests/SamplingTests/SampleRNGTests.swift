import Testing
@testable import Sampling

@Suite struct SampleRNGTests {
    @Test func sameKeySameStreamDifferentKeyDifferent() {
        var a = SampleRNG(seed: 0, epoch: 3, index: 12345, stream: .augmentation)
        var b = SampleRNG(seed: 0, epoch: 3, index: 12345, stream: .augmentation)
        var c = SampleRNG(seed: 0, epoch: 3, index: 12346, stream: .augmentation)
        var d = SampleRNG(seed: 0, epoch: 3, index: 12345, stream: .stochasticDepth)
        let xa = (0 ..< 8).map { _ in a.next() }
        #expect(xa == (0 ..< 8).map { _ in b.next() })
        #expect(xa != (0 ..< 8).map { _ in c.next() })
        #expect(xa != (0 ..< 8).map { _ in d.next() })
    }

    @Test func uniformMomentsAndIntRange() {
        var r = SampleRNG(key: [42])
        let n = 200_000
        var sum = 0.0, sumSq = 0.0
        for _ in 0 ..< n { let u = r.uniform(); sum += u; sumSq += u * u; #expect(u >= 0 && u < 1) }
        let mean = sum / Double(n), variance = sumSq / Double(n) - mean * mean
        // Standard error of the mean is sqrt(1/12/n) ≈ 6.5e-4; allow 5 sigma.
        #expect(abs(mean - 0.5) < 3.3e-3, "mean \(mean)")
        #expect(abs(variance - 1.0 / 12) < 2e-3, "variance \(variance)")
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0 ..< 70_000 { counts[r.int(below: 7)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 500 }, "counts \(counts)")
        var ns = 0.0, ns2 = 0.0
        for _ in 0 ..< n { let z = r.normal(); ns += z; ns2 += z * z }
        #expect(abs(ns / Double(n)) < 0.012 && abs(ns2 / Double(n) - 1) < 0.02)
    }
}
