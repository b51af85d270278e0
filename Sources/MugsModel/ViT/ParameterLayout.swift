/// Named views into one flat Float32 buffer (llm.c style). Every network's parameters live in one buffer;
/// its gradients, AdamW moments and the teacher EMA use the same layout, so optimiser, clipping, EMA and
/// all-reduce are loops over flat memory.
///
/// Names are the reference implementation's state-dict names (`blocks.3.attn.qkv.weight`), shapes are in
/// PyTorch's layout (Linear weight [out, in], Conv2d [out, in, kh, kw]), so safetensors import/export
/// are copies. Each tensor starts on a 64-byte boundary (16 floats); the padding between tensors is zero
/// in every buffer and stays zero (its gradient is zero), so flat loops over it are harmless.
public struct ParameterSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

public struct ParameterLayout: Sendable {
    /// Alignment of every tensor's first element, in floats.
    public static let alignment = 16

    public private(set) var specs: [ParameterSpec] = []
    public private(set) var offsets: [Int] = []
    /// Total floats including alignment padding.
    public private(set) var count: Int = 0
    private var indexByName: [String: Int] = [:]

    public init() {}

    /// Appends a tensor and returns its offset. Names must be unique (programmer error otherwise).
    @discardableResult
    public mutating func add(_ name: String, _ shape: [Int]) -> Int {
        precondition(indexByName[name] == nil, "duplicate parameter name \(name)")
        precondition(!shape.isEmpty && shape.allSatisfy { $0 > 0 }, "bad shape \(shape) for \(name)")
        let a = Self.alignment
        let offset = (count + a - 1) / a * a
        indexByName[name] = specs.count
        specs.append(ParameterSpec(name: name, shape: shape))
        offsets.append(offset)
        count = offset + specs.last!.count
        return offset
    }

    public func index(of name: String) -> Int? { indexByName[name] }
    public func spec(_ name: String) -> ParameterSpec? { indexByName[name].map { specs[$0] } }
    public func offset(of name: String) -> Int? { indexByName[name].map { offsets[$0] } }

    /// The float range a named tensor occupies.
    public func range(of name: String) -> Range<Int>? {
        guard let i = indexByName[name] else { return nil }
        return offsets[i] ..< offsets[i] + specs[i].count
    }

    /// Number of real (non-padding) floats.
    public var parameterCount: Int { specs.reduce(0) { $0 + $1.count } }
}

/// A flat, 64-byte aligned, zero-initialised Float32 buffer laid out by a `ParameterLayout`.
/// Reference semantics: views stay valid for the buffer's lifetime.
public final class ParameterBuffer: @unchecked Sendable {
    public let layout: ParameterLayout
    public let base: UnsafeMutablePointer<Float>
    public var count: Int { layout.count }
    /// The buffer whose memory a prefix view uses (kept alive by the view); nil when this buffer owns its memory.
    private let viewed: ParameterBuffer?

    public init(layout: ParameterLayout) {
        self.layout = layout
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(layout.count, 1) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(layout.count, 1))
        base.initialize(repeating: 0, count: max(layout.count, 1))
        viewed = nil
    }

    /// A view, without a copy, of the part of `other` laid out by `layout`, which must be a prefix of
    /// `other.layout` (same names, shapes and offsets: the backbone of a network, the gradients of a fused buffer).
    public init(prefixOf other: ParameterBuffer, layout: ParameterLayout) {
        let n = layout.specs.count
        precondition(layout.count <= other.layout.count && n <= other.layout.specs.count
                     && Array(layout.specs) == Array(other.layout.specs.prefix(n))
                     && Array(layout.offsets) == Array(other.layout.offsets.prefix(n)),
                     "layout is not a prefix of the viewed buffer's layout")
        self.layout = layout
        base = other.base
        viewed = other
    }

    deinit { if viewed == nil { UnsafeMutableRawPointer(base).deallocate() } }

    /// The whole buffer, padding included.
    public var all: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: base, count: layout.count) }

    /// A named tensor's storage. Traps on an unknown name (programmer error: names come from the layout).
    public subscript(_ name: String) -> UnsafeMutableBufferPointer<Float> {
        guard let r = layout.range(of: name) else { preconditionFailure("no parameter named \(name)") }
        return UnsafeMutableBufferPointer(start: base + r.lowerBound, count: r.count)
    }

    public func pointer(_ name: String) -> UnsafeMutablePointer<Float> { self[name].baseAddress! }

    /// A copy of a named tensor's values. Unlike `Array(buffer[name])`, the copy is made while this buffer is
    /// certainly alive, so it is safe on a temporary (`Array(make().params[name])` can read freed memory).
    public func values(_ name: String) -> [Float] { withExtendedLifetime(self) { Array(self[name]) } }

    public func zero() { base.update(repeating: 0, count: layout.count) }

    public func copy(from other: ParameterBuffer) {
        precondition(other.layout.count == layout.count, "layout mismatch")
        base.update(from: other.base, count: layout.count)
    }
}
