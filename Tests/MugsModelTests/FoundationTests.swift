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
