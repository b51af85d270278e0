/// A preallocated, 64-byte aligned, zero-initialised Float32 array owned by one layer (activations, backward
/// scratch). Allocated once when a network is built for a batch size; never inside a step.
public final class ScratchBuffer: @unchecked Sendable {
    public let p: UnsafeMutablePointer<Float>
    public let count: Int

    public init(_ count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        p = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { UnsafeMutableRawPointer(p).deallocate() }

    /// Sets the first `n` values (default: all) to zero.
    @inline(__always)
    public func zero(_ n: Int? = nil) { p.update(repeating: 0, count: n ?? count) }

    /// A copy of the first `n` values (tests and I/O only).
    public func array(_ n: Int? = nil) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n ?? count)) }
}
