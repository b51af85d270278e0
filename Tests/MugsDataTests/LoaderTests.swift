import Foundation
import MugsModel
import Testing
@testable import MugsData

@Suite("Multi-crop determinism and the batch loader")
struct LoaderTests {
    /// All floats of image b's crops.
    func crops(_ batch: CropBatch, _ b: Int) -> [Float] {
        var out: [Float] = []
        for c in 0 ..< 2 {
            out += Array(UnsafeBufferPointer(start: batch.teacherGlobal(c) + b * batch.globalCropFloats, count: batch.globalCropFloats))
            out += Array(UnsafeBufferPointer(start: batch.studentGlobal(c) + b * batch.globalCropFloats, count: batch.globalCropFloats))
        }
        for c in 0 ..< batch.L {
            out += Array(UnsafeBufferPointer(start: batch.studentLocal(c) + b * batch.localCropFloats, count: batch.localCropFloats))
        }
        return out
    }

    @Test func cropsDependOnlyOnSeedEpochIndex() throws {
        let ds = try DatasetSpec.open("fashion-mnist:train")
        let aug = try MultiCropAugmenter(config: .cpuFashionMNIST)
        let img = RGBImage()
        var buf: [UInt8] = []
        let batch = CropBatch(batchSize: 4, config: .cpuFashionMNIST)
        func fill(_ pos: Int, index: Int, epoch: Int, seed: UInt64) throws {
            try ds.load(index, into: img, minimumArea: 0, buffer: &buf)
            BatchLoader.augment(img, index: index, epoch: epoch, seed: seed, into: batch, position: pos,
                                label: ds.label(index), augmenter: aug)
        }
        try fill(0, index: 17, epoch: 2, seed: 7)
        try fill(1, index: 99, epoch: 2, seed: 7) // different work in between
        try fill(2, index: 17, epoch: 2, seed: 7)
        try fill(3, index: 17, epoch: 3, seed: 7)
        #expect(crops(batch, 0) == crops(batch, 2), "same (seed, epoch, index) must give identical crops")
        #expect(batch.dropPathSeed[0] == batch.dropPathSeed[2] && batch.weak[0] == batch.weak[2])
        #expect(crops(batch, 0) != crops(batch, 1), "different index must give different crops")
        #expect(crops(batch, 0) != crops(batch, 3), "different epoch must give different crops")
        #expect(batch.dropPathSeed[0] != batch.dropPathSeed[3])
        #expect(crops(batch, 0).allSatisfy { $0.isFinite })
        // A teacher crop is never the student's (the reference re-augments, it does not copy).
        let g = batch.globalCropFloats
        #expect(Array(UnsafeBufferPointer(start: batch.teacherGlobal(0), count: g))
                != Array(UnsafeBufferPointer(start: batch.studentGlobal(0), count: g)))
    }

    @Test func loaderMatchesSynchronousAndIsSplitInvariant() throws {
        let ds = try DatasetSpec.open("fashion-mnist:test")
        let config = MultiCropConfig.cpuFashionMNIST
        let indices = [5, 900, 31, 4242, 77, 8, 1234, 9999]
        // Reference: one synchronous pass.
        let ref = CropBatch(batchSize: indices.count, config: config)
        let aug = try MultiCropAugmenter(config: config)
        let img = RGBImage()
        var buf: [UInt8] = []
        for (b, i) in indices.enumerated() {
            try ds.load(i, into: img, minimumArea: 0, buffer: &buf)
            BatchLoader.augment(img, index: i, epoch: 1, seed: 42, into: ref, position: b, label: ds.label(i), augmenter: aug)
        }
        // Two loaders splitting the batch differently (as 1 worker vs 2 workers would), 2 threads each.
        let whole = try BatchLoader(dataset: ds, config: config, batchSize: 8, seed: 42, threads: 2, depth: 2)
        let halves = try BatchLoader(dataset: ds, config: config, batchSize: 4, seed: 42, threads: 2, depth: 2)
        defer { whole.shutdown(); halves.shutdown() }
        try whole.submit(epoch: 1, indices: indices, tag: 10)
        try halves.submit(epoch: 1, indices: Array(indices[0 ..< 4]))
        try halves.submit(epoch: 1, indices: Array(indices[4 ..< 8]))
        let w = try whole.next()
        #expect(w.tag == 10 && w.epoch == 1 && w.count == 8)
        for b in 0 ..< 8 {
            #expect(crops(w, b) == crops(ref, b), "image \(indices[b]) differs between loader and direct call")
            #expect(w.labels[b] == Int32(ds.label(indices[b])) && w.sampleIndex[b] == Int64(indices[b]))
        }
        for half in 0 ..< 2 {
            let h = try halves.next()
            for b in 0 ..< 4 { #expect(crops(h, b) == crops(ref, half * 4 + b)) }
            halves.recycle(h)
        }
        whole.recycle(w)
    }

    @Test func backPressureRecycleAndShutdown() throws {
        let ds = try DatasetSpec.open("fashion-mnist:test")
        let loader = try BatchLoader(dataset: ds, config: .cpuFashionMNIST, batchSize: 16, seed: 0, threads: 1, depth: 2)
        // Two submits fit; a third would block until a batch is recycled — run it on another thread.
        try loader.submit(epoch: 0, indices: Array(0 ..< 16), tag: 0)
        try loader.submit(epoch: 0, indices: Array(16 ..< 32), tag: 1)
        let third = DispatchSemaphore(value: 0)
        let submitter = Thread {
            try? loader.submit(epoch: 0, indices: Array(32 ..< 48), tag: 2)
            third.signal()
        }
        submitter.start()
        let first = try loader.next()
        #expect(first.tag == 0)
        let second = try loader.next()
        #expect(second.tag == 1)
        #expect(third.wait(timeout: .now() + 0.2) == .timedOut, "submit must block while both slots are held")
        loader.recycle(first)
        #expect(third.wait(timeout: .now() + 10) == .success, "recycling a batch must unblock submit")
        let last = try loader.next()
        #expect(last.tag == 2 && last === first) // the ring reuses the preallocated batch
        // Weak flags are a fair coin per image (prob 0.5): 48 images, loose bounds.
        var weak = 0
        for b in [first, second] { for i in 0 ..< 16 { weak += Int(b.weak[i]) } }
        #expect(weak > 4 && weak < 28, "\(weak) weak of 32")
        loader.recycle(second); loader.recycle(last)
        loader.shutdown()
        loader.shutdown() // idempotent
        #expect(throws: DataError.self) { try loader.submit(epoch: 0, indices: [0]) }
        #expect(throws: DataError.self) { try loader.next() }
    }

    @Test func badLoaderArguments() throws {
        let ds = try DatasetSpec.open("fashion-mnist:test")
        #expect(throws: DataError.self) {
            _ = try BatchLoader(dataset: ds, config: .cpuFashionMNIST, batchSize: 0, seed: 0, threads: 1)
        }
        let loader = try BatchLoader(dataset: ds, config: .cpuFashionMNIST, batchSize: 2, seed: 0, threads: 1)
        defer { loader.shutdown() }
        #expect(throws: DataError.self) { try loader.submit(epoch: 0, indices: [1, 2, 3]) }
        #expect(throws: DataError.self) { try loader.submit(epoch: 0, indices: [10000]) }
        var config = MultiCropConfig.cpuFashionMNIST
        config.randAugment = "auto-v0"
        #expect(throws: DataError.self) { _ = try MultiCropAugmenter(config: config) }
    }

    @Test func evalBatches() throws {
        let ds = try DatasetSpec.open("fashion-mnist:test")
        var seen = 0, shapes: [[Int]] = []
        let bad = try EvalBatches.forEach(dataset: ds, size: 32, batchSize: 16, threads: 2, limit: 40) { t, labels, first in
            shapes.append(t.shape)
            #expect(labels == (first ..< first + labels.count).map(ds.label))
            #expect(t.data.allSatisfy { $0.isFinite })
            seen += labels.count
        }
        #expect(bad.isEmpty && seen == 40 && shapes == [[16, 3, 32, 32], [16, 3, 32, 32], [8, 3, 32, 32]])
    }
}
