import Testing
@testable import MugsModel

@Suite struct ParameterLayoutTests {
    @Test func offsetsAreAlignedAndDisjoint() {
        var layout = ParameterLayout()
        layout.add("cls_token", [1, 1, 5])
        layout.add("patch_embed.proj.weight", [5, 3, 2, 2])
        layout.add("norm.bias", [5])
        #expect(layout.offsets == [0, 16, 16 + 64])
        #expect(layout.count == 16 + 64 + 5)
        #expect(layout.parameterCount == 5 + 60 + 5)
        #expect(layout.range(of: "patch_embed.proj.weight") == 16 ..< 76)
        #expect(layout.range(of: "missing") == nil)
        let buf = ParameterBuffer(layout: layout)
        #expect(Int(bitPattern: buf.base) % 64 == 0)
        buf["norm.bias"][4] = 7
        #expect(buf.all[16 + 64 + 4] == 7)
        #expect(buf.all.reduce(0, +) == 7)
    }
}

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

@Suite struct ComputePoolTests {
    /// Every index is visited exactly once, whatever the thread count and chunk size, including when several threads
    /// enter regions at once (the second caller runs its chunks itself).
    @Test func visitsEveryIndexOnceUnderConcurrentCallers() async {
        await withTaskGroup(of: Bool.self) { group in
            for caller in 0 ..< 4 {
                group.addTask {
                    var ok = true
                    for threads in 1 ... 4 {
                        let pool = ComputePool(threads: threads)
                        for n in [0, 1, 2, 7, 1000, 4097] {
                            let counts = UnsafeMutablePointer<Int32>.allocate(capacity: max(n, 1))
                            counts.initialize(repeating: 0, count: max(n, 1))
                            pool.parallelFor(n, minChunk: 1 + caller) { r in for i in r { counts[i] += 1 } }
                            ok = ok && (0 ..< n).allSatisfy { counts[$0] == 1 }
                            counts.deallocate()
                        }
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
