/// A small owned tensor (shape + row-major Float32 data) for I/O, fixtures and tests.
/// Hot paths use preallocated flat buffers instead.
public struct HostTensor: Sendable, Equatable {
    /// Dimensions, outermost first (`[]` for a scalar).
    public var shape: [Int]
    /// The values in row-major order; `shape.reduce(1, *)` of them.
    public var data: [Float]

    /// A tensor of `shape` holding `data` (row-major); the counts must agree.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) holds \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// A tensor of `shape` filled with zeros.
    public init(zeros shape: [Int]) { self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *))) }

    /// Number of elements.
    public var count: Int { data.count }
}
