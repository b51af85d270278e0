import JobCommon
import MugsModel
import Sampling
import Transport
import Wire

/// The coordinator's copy of one step's reduced fused buffer, assembled from the chunk each rank owns after
/// reduce-scatter (`Ring.ownedRange`), and every rank's entries. Complete ranks are reported to the machine as
/// `.chunkReceived`; when all are, the step can be applied. Buffers are reused across steps.
public final class StepAssembly {
    public private(set) var generation = -1
    public private(set) var step = -1
    public private(set) var worldSize = 0
    public let fused: ParameterBuffer
    public private(set) var entries: [StepEntries] = []
    private var received: [Int] = []
    private var hasEntries: [Bool] = []
    private var reported: [Bool] = []
    private let config: MugsConfig

    public init(layout: ParameterLayout, config: MugsConfig) {
        fused = ParameterBuffer(layout: layout)
        self.config = config
    }

    /// Prepares for (generation, step) with `worldSize` ranks (keeps entry buffers when the world size is unchanged).
    public func reset(generation g: Int, step s: Int, worldSize w: Int) {
        generation = g; step = s
        if w != worldSize || entries.isEmpty {
            worldSize = w
            entries = (0 ..< w).map { r in
                StepEntries(capacity: max(1, EpochPlan.slice(rank: r, worldSize: w, batch: config.batch_size).count),
                            config: config)
            }
        }
        received = [Int](repeating: 0, count: w)
        hasEntries = [Bool](repeating: false, count: w)
        reported = [Bool](repeating: false, count: w)
    }

    /// The range rank `r` owns.
    public func ownedRange(rank r: Int) -> Range<Int> { Ring.ownedRange(rank: r, size: worldSize, count: fused.count) }

    /// Adds a chunk; returns true when rank `r` just became complete. Throws if the chunk is outside what it owns.
    public func add(chunk c: ReducedChunk, rank r: Int) throws -> Bool {
        guard (0 ..< worldSize).contains(r) else { throw JobError("reduced chunk", "rank \(r) of \(worldSize)") }
        let own = ownedRange(rank: r), off = Int(clamping: c.offset), n = c.values.count
        guard c.totalCount == UInt64(fused.count), off >= own.lowerBound, off <= own.upperBound,
              n <= own.upperBound - off else {
            throw JobError("reduced chunk", "rank \(r) sent [\(c.offset) ..< +\(n)] of \(c.totalCount); it owns "
                           + "\(own) of \(fused.count)")
        }
        c.values.withUnsafeBufferPointer { (fused.base + off).update(from: $0.baseAddress!, count: n) }
        received[r] += n
        return checkComplete(r)
    }

    /// Adds rank `r`'s entries; returns true when the rank just became complete.
    public func add(entries m: SliceEntries, rank r: Int) throws -> Bool {
        guard (0 ..< worldSize).contains(r) else { throw JobError("slice entries", "rank \(r) of \(worldSize)") }
        let want = EpochPlan.slice(rank: r, worldSize: worldSize, batch: config.batch_size).count
        guard Int(m.count) == want else {
            throw JobError("slice entries", "rank \(r) sent \(m.count) images, its slice has \(want)")
        }
        try EntriesCodec.fill(entries[r], from: m)
        hasEntries[r] = true
        return checkComplete(r)
    }

    private func checkComplete(_ r: Int) -> Bool {
        guard !reported[r], hasEntries[r], received[r] >= ownedRange(rank: r).count else { return false }
        reported[r] = true
        return true
    }
}
