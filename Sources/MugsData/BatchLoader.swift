import Foundation
import MugsModel
import Sampling

/// Background decoding + multi-crop augmentation into a ring of preallocated `CropBatch`es.
///
///     let loader = try BatchLoader(dataset: ds, config: .paper, batchSize: 64, seed: 0, threads: 1, depth: 2)
///     try loader.submit(epoch: 0, indices: plan(step: 0))     // returns at once while a slot is free
///     try loader.submit(epoch: 0, indices: plan(step: 1))     // prefetch the next step
///     let batch = try loader.next()                           // blocks until step 0's batch is complete
///     train(batch); loader.recycle(batch)
///
/// `threads` worker threads (never more) take one image at a time from the oldest unfinished batch; they
/// block on a condition variable when there is nothing to do (no spinning). `submit` blocks while all
/// `depth` slots are queued or held by the caller (back-pressure). The batches are allocated once, so the
/// training step never allocates for data. Crops depend only on (seed, epoch, sample index).
///
/// An image that cannot be read is recorded in `badFiles` and replaced by the next readable index
/// (index+1, index+2, … mod N), so the batch stays full and the choice stays deterministic.
public final class BatchLoader: @unchecked Sendable {
    public let dataset: ImageDataset
    public let config: MultiCropConfig
    public let batchSize: Int
    public let seed: UInt64
    public let threadCount: Int
    /// Replacement attempts before a batch fails with `.tooManyBadFiles`.
    public static let maxReplacements = 32

    /// A file that could not be decoded, with the reason (the decoder's words, e.g. `empty file`).
    public struct BadFile: Sendable, Equatable {
        public var index: Int
        public var name: String
        public var reason: String
    }

    enum SlotState { case free, filling, ready, held }
    final class Slot {
        let batch: CropBatch
        var state = SlotState.free
        var indices: [Int] = []
        var nextPosition = 0
        var remaining = 0
        var error: DataError?
        init(_ batch: CropBatch) { self.batch = batch }
    }

    private let cond = NSCondition()
    private var slots: [Slot]
    private var fifo: [Int] = [] // slot numbers in submission order (filling or ready)
    private var stopping = false
    private var liveThreads = 0
    private var bad: [BadFile] = []
    private var badSet = Set<Int>()

    public init(dataset: ImageDataset, config: MultiCropConfig, batchSize: Int, seed: UInt64, threads: Int,
                depth: Int = 2) throws {
        guard batchSize > 0, threads > 0, depth > 0 else {
            throw DataError(.badConfig, "loader batch \(batchSize), threads \(threads), depth \(depth)",
                            hint: "all must be positive")
        }
        guard dataset.count > 0 else { throw DataError(.emptyDataset, dataset.spec, hint: "no images") }
        self.dataset = dataset
        self.config = config
        self.batchSize = batchSize
        self.seed = seed
        threadCount = threads
        slots = (0 ..< depth).map { _ in Slot(CropBatch(batchSize: batchSize, config: config)) }
        _ = try MultiCropAugmenter(config: config) // validate the config before starting threads
        fifo.reserveCapacity(depth)
        liveThreads = threads
        for t in 0 ..< threads {
            let thread = Thread { [unowned self] in self.work() }
            thread.name = "mugs-data-\(t)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit { shutdown() }

    /// Images that failed to decode so far (each reported once).
    public var badFiles: [BadFile] {
        cond.lock(); defer { cond.unlock() }
        return bad
    }

    /// Queues a batch of dataset indices (1 ... batchSize of them); blocks while no slot is free.
    public func submit(epoch: Int, indices: [Int], tag: Int = 0) throws {
        guard !indices.isEmpty, indices.count <= batchSize else {
            throw DataError(.badConfig, "batch of \(indices.count) indices", hint: "expected 1...\(batchSize)")
        }
        if let badIndex = indices.first(where: { $0 < 0 || $0 >= dataset.count }) {
            throw DataError(.badConfig, "sample index \(badIndex)", hint: "outside 0..<\(dataset.count)")
        }
        cond.lock(); defer { cond.unlock() }
        while !stopping && !slots.contains(where: { $0.state == .free }) { cond.wait() }
        if stopping { throw DataError(.loaderStopped, dataset.spec, hint: "submit after shutdown") }
        let s = slots.firstIndex(where: { $0.state == .free })!
        let slot = slots[s]
        slot.state = .filling
        slot.indices = indices
        slot.nextPosition = 0
        slot.remaining = indices.count
        slot.error = nil
        slot.batch.epoch = epoch
        slot.batch.tag = tag
        slot.batch.count = indices.count
        fifo.append(s)
        cond.broadcast()
    }

    /// The oldest submitted batch, once complete. Throws if nothing was submitted or the batch failed.
    public func next() throws -> CropBatch {
        cond.lock(); defer { cond.unlock() }
        guard let s = fifo.first else {
            throw DataError(.loaderStopped, dataset.spec, hint: "next() without a submitted batch")
        }
        while !stopping && slots[s].state != .ready { cond.wait() }
        if stopping { throw DataError(.loaderStopped, dataset.spec, hint: "shut down while waiting") }
        fifo.removeFirst()
        let slot = slots[s]
        if let e = slot.error {
            slot.state = .free
            cond.broadcast()
            throw e
        }
        slot.state = .held
        return slot.batch
    }

    /// Returns a batch from `next()` to the ring.
    public func recycle(_ batch: CropBatch) {
        cond.lock(); defer { cond.unlock() }
        if let slot = slots.first(where: { $0.batch === batch }), slot.state == .held {
            slot.state = .free
            cond.broadcast()
        }
    }

    /// Stops the threads after the image each is working on; waits for them. Idempotent.
    public func shutdown() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while liveThreads > 0 { cond.wait() }
        cond.unlock()
    }

    private func work() {
        var augmenter: MultiCropAugmenter! = try? MultiCropAugmenter(config: config)
        let image = RGBImage()
        var buffer: [UInt8] = []
        cond.lock()
        while true {
            var job: (Slot, Int)?
            while !stopping {
                if let s = fifo.first(where: { slots[$0].state == .filling && slots[$0].nextPosition < slots[$0].indices.count }) {
                    let slot = slots[s]
                    job = (slot, slot.nextPosition)
                    slot.nextPosition += 1
                    break
                }
                cond.wait()
            }
            guard let (slot, b) = job, !stopping else { break }
            let index = slot.indices[b], epoch = slot.batch.epoch
            cond.unlock()
            let failure = fill(slot.batch, position: b, index: index, epoch: epoch, augmenter: &augmenter,
                               image: image, buffer: &buffer)
            cond.lock()
            if let failure { slot.error = slot.error ?? failure }
            slot.remaining -= 1
            if slot.remaining == 0 {
                slot.state = .ready
                cond.broadcast()
            }
        }
        liveThreads -= 1
        cond.broadcast()
        cond.unlock()
    }

    /// Decodes and augments one image into position `b` (called without the lock).
    private func fill(_ batch: CropBatch, position b: Int, index: Int, epoch: Int, augmenter: inout MultiCropAugmenter!,
                      image: RGBImage, buffer: inout [UInt8]) -> DataError? {
        let minimumArea = config.dctScaling ? config.decodeMinimumArea : 0
        var used = index
        var attempt = 0
        while true {
            do {
                try dataset.load(used, into: image, minimumArea: minimumArea, buffer: &buffer)
                break
            } catch {
                var reason = (error as? DataError)?.hint ?? "\(error)"
                if reason.hasSuffix("; it was skipped") { reason.removeLast("; it was skipped".count) }
                record(BadFile(index: used, name: dataset.name(used), reason: reason))
                attempt += 1
                if attempt >= BatchLoader.maxReplacements {
                    return DataError(.tooManyBadFiles, dataset.name(index),
                                     hint: "\(attempt) consecutive images from index \(index) are unreadable")
                }
                used = (index + attempt) % dataset.count
            }
        }
        BatchLoader.augment(image, index: used, epoch: epoch, seed: seed, into: batch, position: b,
                            label: dataset.label(used), augmenter: augmenter)
        return nil
    }

    /// The whole per-image computation, shared with synchronous callers (tests, benchmarks).
    public static func augment(_ image: RGBImage, index: Int, epoch: Int, seed: UInt64, into batch: CropBatch,
                               position b: Int, label: Int, augmenter: MultiCropAugmenter) {
        var rng = SampleRNG(seed: seed, epoch: UInt64(epoch), index: UInt64(index), stream: .augmentation)
        let weak = augmenter.augment(image, rng: &rng, into: batch.destinations(sample: b))
        var depth = SampleRNG(seed: seed, epoch: UInt64(epoch), index: UInt64(index), stream: .stochasticDepth)
        batch.weak[b] = weak ? 1 : 0
        batch.labels[b] = Int32(label)
        batch.sampleIndex[b] = Int64(index)
        batch.dropPathSeed[b] = depth.seed()
    }

    private func record(_ f: BadFile) {
        cond.lock(); defer { cond.unlock() }
        if badSet.insert(f.index).inserted { bad.append(f) }
    }
}
