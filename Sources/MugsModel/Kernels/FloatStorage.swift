/// An owned, 64-byte aligned, zero-initialised Float32 array for activations and scratch: allocated once per
/// planned shape and reused every step (no allocation inside a step).
public final class FloatStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(_ count: Int) {
        self.count = count
        let n = max(count, 1)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64).bindMemory(to: Float.self,
                                                                                                capacity: n)
        pointer.initialize(repeating: 0, count: n)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public func zero() { pointer.update(repeating: 0, count: count) }
}
