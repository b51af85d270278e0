/// A 64-byte aligned, zero-initialised Float32 buffer that owns its memory — a convenient `keepingAlive` owner for
/// `Ring.allReduce` (ZeroMQ may read a zero-copy send until its release callback runs; the ring keeps the owner
/// alive until then).
public final class AlignedFloatBuffer: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "negative count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: count) }
}

/// The result of `Ring.allGather`: every rank's block, in rank order, back to back. Reused across calls (grows
/// only when a larger result arrives), so a training loop does not allocate after its first step.
public final class GatheredBlocks: @unchecked Sendable {
    private(set) var storage: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Byte offsets of the blocks: block r is `offsets[r] ..< offsets[r+1]`.
    public internal(set) var offsets: [Int] = [0]

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 64)
        storage = .allocate(byteCount: self.capacity, alignment: 64)
    }

    deinit { storage.deallocate() }

    public var rankCount: Int { offsets.count - 1 }
    public var totalBytes: Int { offsets.last ?? 0 }

    /// All blocks, back to back.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: totalBytes) }

    /// Rank `r`'s block.
    public func block(_ r: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: storage + offsets[r], count: offsets[r + 1] - offsets[r])
    }

    /// Makes room for `bytes` (contents are not kept). Only called when no send is using the storage.
    func reserve(_ bytes: Int) {
        guard bytes > capacity else { return }
        storage.deallocate()
        capacity = max(bytes, 2 * capacity)
        storage = .allocate(byteCount: capacity, alignment: 64)
    }
}
