/// One ring buffer of `rows` × `dim` Float32 values (row-major) with a write pointer; see `Memories`.
public final class RingMemory: @unchecked Sendable {
    /// The checkpoint name (`instance_queue`, `student_memory`, ...).
    public let name: String
    public let rows: Int
    public let dim: Int
    public let data: UnsafeMutablePointer<Float>
    /// The next row to write, in 0..<rows.
    public var pointer: Int = 0

    public init(name: String, rows: Int, dim: Int) {
        precondition(rows > 0 && dim > 0, "empty memory \(name)")
        self.name = name
        self.rows = rows
        self.dim = dim
        data = .allocate(capacity: rows * dim)
        data.initialize(repeating: 0, count: rows * dim)
    }

    deinit { data.deallocate() }

    public var count: Int { rows * dim }
    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// Writes `n` ≤ `rows` rows starting at the pointer, wrapping to row 0, and advances the pointer by `n`
    /// (mod `rows`) — the reference's InfoNCE `_dequeue_and_enqueue`.
    public func enqueue(_ source: UnsafePointer<Float>, rows n: Int) {
        precondition(n <= rows, "\(name): \(n) rows do not fit a ring of \(rows)")
        guard n > 0 else { return }
        let first = min(n, rows - pointer)
        (data + pointer * dim).update(from: source, count: first * dim)
        if first < n { data.update(from: source + first * dim, count: (n - first) * dim) }
        pointer = (pointer + n) % rows
    }

    /// Writes one row at the pointer and advances it by one; for gathering rows scattered over rank slices.
    /// `n` calls of `push` followed by nothing else equal one `enqueue` of the same `n` rows.
    public func push(_ row: UnsafePointer<Float>) {
        (data + pointer * dim).update(from: row, count: dim)
        pointer = pointer + 1 == rows ? 0 : pointer + 1
    }

    /// Scales every row to unit L2 norm (`F.normalize`: x / max(‖x‖, 1e-12)), norms summed in Double.
    public func normaliseRows() {
        for r in 0 ..< rows {
            let row = data + r * dim
            var sum = 0.0
            for j in 0 ..< dim { sum = sum + Double(row[j]) * Double(row[j]) }
            let norm = Float(max(sum.squareRoot(), 1e-12))
            for j in 0 ..< dim { row[j] = row[j] / norm }
        }
    }

    /// Copies contents and pointer from `other` (same shape).
    public func copy(from other: RingMemory) {
        precondition(other.rows == rows && other.dim == dim, "\(name): shape mismatch")
        data.update(from: other.data, count: count)
        pointer = other.pointer
    }
}
