import Foundation
import Wire

/// The collectives. Every rank must call the same operations in the same order with the same sizes (the all-reduce
/// element count; gather block lengths may differ per rank); a mismatch is reported as a protocol violation.
extension Ring {
    /// Sums `buffer` over all ranks in place; afterwards every rank holds bitwise-identical bytes.
    ///
    /// Each chunk's sum is formed by exactly one path around the ring in a fixed order, so the result does not
    /// depend on timing. Segments are sent zero-copy from `buffer`: it must stay valid and unmodified until this
    /// returns, and `owner` (the object owning the memory, e.g. a `ParameterBuffer`) is retained until libzmq has
    /// released every segment — even if the call throws.
    /// - Parameters:
    ///   - step: the training step, carried in every message header for diagnostics.
    ///   - ownedChunkReduced: called once, mid-operation, when this rank's owned range (`ownedRange(count:)`) is
    ///     fully reduced; the bytes stay final (the caller may read them, e.g. to send them to the coordinator).
    public func allReduce(_ buffer: UnsafeMutableBufferPointer<Float>, keepingAlive owner: AnyObject,
                          step: UInt64 = 0, ownedChunkReduced: ((Range<Int>) -> Void)? = nil) throws(RingError) {
        try checkUsable()
        guard size > 1 else {
            ownedChunkReduced?(0 ..< buffer.count)
            statistics.operations += 1
            return
        }
        try waitUntilReady()
        guard buffer.count > 0, let base = buffer.baseAddress else {
            // Still an operation on the wire (so an empty buffer on one rank and a non-empty one elsewhere is caught).
            schedule.configureAllReduce(count: 0, segmentBytes: options.effectiveSegmentBytes)
            var dummy: Float = 0
            try run(base: &dummy, step: step, keepingAlive: owner)
            ownedChunkReduced?(0 ..< 0)
            return
        }
        schedule.configureAllReduce(count: buffer.count, segmentBytes: options.effectiveSegmentBytes)
        self.ownedChunkReduced = ownedChunkReduced
        ownedChunkFloats = ownedRange(count: buffer.count)
        defer { self.ownedChunkReduced = nil }
        try run(base: UnsafeMutableRawPointer(base), step: step, keepingAlive: owner)
    }

    /// Gathers every rank's `block` (any length, may differ per rank, may be empty) into `output`, in rank order.
    /// Two ring rounds: the lengths, then the blocks (forwarded zero-copy out of `output`).
    public func allGather(_ block: UnsafeRawBufferPointer, into output: GatheredBlocks, step: UInt64 = 0)
        throws(RingError) {
        try checkUsable()
        if output.offsets.count != size + 1 { output.offsets = [Int](repeating: 0, count: size + 1) }
        if size > 1 {
            try waitUntilReady()
            // Round 1: every rank's length, 8 bytes little-endian each, in the scratch slots.
            let slots = UnsafeMutableRawPointer(lengthSlots.base)
            slots.storeBytes(of: UInt64(block.count).littleEndian, toByteOffset: 8 * rank, as: UInt64.self)
            for r in 0 ..< size { lengths[r] = 8 }
            lengths.withUnsafeBufferPointer {
                schedule.configureAllGather(lengths: $0, segmentBytes: options.effectiveSegmentBytes,
                                            phase: .gatherLengths)
            }
            try run(base: slots, step: step, keepingAlive: lengthSlots)
            for r in 0 ..< size {
                let n = UInt64(littleEndian: slots.load(fromByteOffset: 8 * r, as: UInt64.self))
                guard n <= FrameHeader.maxDataLength else {
                    let detail = "gather block of \(n) bytes exceeds \(FrameHeader.maxDataLength)"
                    throw fail(.protocolViolation(rank: r, endpoint: endpoints[r], detail: detail))
                }
                lengths[r] = Int(n)
            }
        } else {
            lengths[0] = block.count
        }
        output.offsets[0] = 0
        for r in 0 ..< size { output.offsets[r + 1] = output.offsets[r] + lengths[r] }
        output.reserve(output.totalBytes)
        if block.count > 0 {
            (output.storage + output.offsets[rank]).copyMemory(from: block.baseAddress!, byteCount: block.count)
        }
        guard size > 1 else {
            statistics.operations += 1
            return
        }
        // Round 2: the blocks.
        lengths.withUnsafeBufferPointer {
            schedule.configureAllGather(lengths: $0, segmentBytes: options.effectiveSegmentBytes, phase: .gatherBlocks)
        }
        try run(base: output.storage, step: step, keepingAlive: output)
    }

    private func checkUsable() throws(RingError) {
        switch state {
        case let .failed(e): throw .ringUnusable(e)
        case .closed: throw .invalidConfiguration("ring is closed")
        default: break
        }
    }
}
