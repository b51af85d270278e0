#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("safetensors I/O reads little-endian data straight into Float32 memory; big-endian hosts are not supported")
#endif

/// An opened, validated safetensors file. Opening reads and checks only the header; tensor data is read on demand
/// with `pread` straight into the destination (F32) or through a bounded conversion buffer (F16, BF16, F64), so a
/// large checkpoint never has to be in memory twice. Immutable after opening and safe to read from several threads.
///
///     let file = try SafeTensors.read(path: "vit.safetensors")
///     let w = try file.tensor("blocks.0.attn.qkv.weight")          // HostTensor, Float32
///     try file.load(into: params, prefix: "student.")               // every layout tensor, shapes checked
public final class SafeTensorsFile: @unchecked Sendable {
    /// The file's path (or the name given to an in-memory buffer), used in every error.
    public let path: String
    /// The `__metadata__` strings (empty when the file has none).
    public let metadata: [String: String]
    /// Every tensor, in header order.
    public let tensors: [SafeTensorInfo]
    private let index: [String: Int]
    private let source: Source

    private enum Source {
        case file(descriptor: Int32, dataStart: Int)
        case memory(bytes: [UInt8], dataStart: Int)
    }

    init(path: String, header: SafeTensorsHeader, descriptor: Int32, dataStart: Int) {
        self.path = path
        self.metadata = header.metadata
        self.tensors = header.tensors
        self.index = Dictionary(uniqueKeysWithValues: header.tensors.enumerated().map { ($1.name, $0) })
        self.source = .file(descriptor: descriptor, dataStart: dataStart)
    }

    init(name: String, header: SafeTensorsHeader, bytes: [UInt8], dataStart: Int) {
        self.path = name
        self.metadata = header.metadata
        self.tensors = header.tensors
        self.index = Dictionary(uniqueKeysWithValues: header.tensors.enumerated().map { ($1.name, $0) })
        self.source = .memory(bytes: bytes, dataStart: dataStart)
    }

    deinit {
        if case let .file(fd, _) = source { close(fd) }
    }

    /// Tensor names in header order.
    public var names: [String] { tensors.map(\.name) }

    /// Whether the file has a tensor named `name`.
    public func contains(_ name: String) -> Bool { index[name] != nil }
    /// The header entry of the tensor named `name`, nil when there is none.
    public func info(_ name: String) -> SafeTensorInfo? { index[name].map { tensors[$0] } }
    /// The shape of the tensor named `name`, nil when there is none.
    public func shape(of name: String) -> [Int]? { info(name)?.shape }
    /// The element type of the tensor named `name`, nil when there is none.
    public func dtype(of name: String) -> SafeTensorsDType? { info(name)?.dtype }

    /// The named tensor converted to Float32.
    public func tensor(_ name: String) throws(SafeTensorsError) -> HostTensor {
        let t = try require(name)
        var data = [Float](repeating: 0, count: t.count)
        try data.withUnsafeMutableBufferPointer { (dst) throws(SafeTensorsError) in try read(t, into: dst) }
        return HostTensor(shape: t.shape, data: data)
    }

    /// Every tensor converted to Float32, in header order.
    public func allTensors() throws(SafeTensorsError) -> [(name: String, tensor: HostTensor)] {
        var out: [(name: String, tensor: HostTensor)] = []
        for t in tensors { out.append((t.name, try tensor(t.name))) }
        return out
    }

    /// Reads the named tensor into `destination` (whose count must equal the tensor's), converting to Float32.
    /// With `shape`, the file's shape must equal it exactly.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>, shape: [Int]? = nil)
        throws(SafeTensorsError)
    {
        let t = try require(name)
        if let shape, shape != t.shape {
            throw SafeTensorsError(.shapeMismatch, path: path, tensor: name, "has shape \(t.shape), expected \(shape)")
        }
        guard destination.count == t.count else {
            throw SafeTensorsError(.shapeMismatch, path: path, tensor: name,
                                   "has \(t.count) elements (shape \(t.shape)), destination holds \(destination.count)")
        }
        try read(t, into: destination)
    }

    /// The tensor's bytes exactly as stored (little-endian), for dtypes that do not convert to Float32.
    public func rawBytes(_ name: String) throws(SafeTensorsError) -> [UInt8] {
        let t = try require(name)
        var bytes = [UInt8](repeating: 0, count: t.dataRange.count)
        try bytes.withUnsafeMutableBytes { raw in
            Result { () throws(SafeTensorsError) in
                try readData(t.dataRange.lowerBound, count: t.dataRange.count, into: raw.baseAddress, tensor: name)
            }
        }.get()
        return bytes
    }

    /// Reads flat elements `elements` (row-major) of the named tensor into `destination`, converting to Float32:
    /// the streaming path for tensors too large to hold at once (e.g. a batch of images out of an [N, 3, H, W]).
    public func read(_ name: String, elements: Range<Int>, into destination: UnsafeMutableBufferPointer<Float>)
        throws(SafeTensorsError)
    {
        let t = try require(name)
        guard elements.lowerBound >= 0, elements.upperBound <= t.count else {
            throw SafeTensorsError(.shapeMismatch, path: path, tensor: name,
                                   "elements \(elements) are outside its \(t.count) elements (shape \(t.shape))")
        }
        guard destination.count == elements.count else {
            throw SafeTensorsError(.shapeMismatch, path: path, tensor: name,
                                   "\(elements.count) elements requested, destination holds \(destination.count)")
        }
        try convert(t, elements: elements, into: destination.baseAddress)
    }

    private func require(_ name: String) throws(SafeTensorsError) -> SafeTensorInfo {
        guard let t = info(name) else {
            throw SafeTensorsError(.missingTensor, path: path, tensor: name,
                                   "not in the file (it has \(tensors.count) tensors\(nearbyNames(name)))")
        }
        return t
    }

    /// A hint listing up to three names sharing the requested name's last component.
    private func nearbyNames(_ name: String) -> String {
        let last = name.split(separator: ".").last.map(String.init) ?? name
        let similar = names.filter { $0.hasSuffix(last) }.prefix(3)
        return similar.isEmpty ? "" : "; similar: " + similar.joined(separator: ", ")
    }

    /// Converts in chunks of at most this many bytes for 16- and 64-bit types.
    private static let conversionChunkBytes = 1 << 20

    private func read(_ t: SafeTensorInfo, into dst: UnsafeMutableBufferPointer<Float>) throws(SafeTensorsError) {
        try convert(t, elements: 0 ..< t.count, into: dst.baseAddress)
    }

    /// Converts elements `range` of `t` (flat, row-major) into `out`.
    private func convert(_ t: SafeTensorInfo, elements range: Range<Int>, into out: UnsafeMutablePointer<Float>?)
        throws(SafeTensorsError)
    {
        guard !range.isEmpty, let out else { return }
        let size = t.dtype.size, base = t.dataRange.lowerBound + range.lowerBound * size, count = range.count
        switch t.dtype {
        case .f32:
            try readData(base, count: count * 4, into: UnsafeMutableRawPointer(out), tensor: t.name)
        case .f16, .bf16, .f64:
            let perChunk = Self.conversionChunkBytes / size
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: perChunk * size, alignment: 8)
            defer { scratch.deallocate() }
            var done = 0
            while done < count {
                let n = min(perChunk, count - done)
                try readData(base + done * size, count: n * size, into: scratch, tensor: t.name)
                let dst = out + done
                switch t.dtype {
                case .f16:
                    let p = scratch.assumingMemoryBound(to: UInt16.self)
                    for i in 0 ..< n { dst[i] = HalfFloat.f16ToFloat(p[i]) }
                case .bf16:
                    let p = scratch.assumingMemoryBound(to: UInt16.self)
                    for i in 0 ..< n { dst[i] = HalfFloat.bf16ToFloat(p[i]) }
                default:
                    let p = scratch.assumingMemoryBound(to: Double.self)
                    for i in 0 ..< n { dst[i] = Float(p[i]) }
                }
                done += n
            }
        default:
            throw SafeTensorsError(.unsupportedDType, path: path, tensor: t.name,
                                   "dtype \(t.dtype.rawValue) does not convert to Float32 (F32, F16, BF16, F64 do)")
        }
    }

    /// Copies `count` bytes from data-section offset `offset`.
    private func readData(_ offset: Int, count: Int, into dst: UnsafeMutableRawPointer?, tensor: String)
        throws(SafeTensorsError)
    {
        guard count > 0, let dst else { return }
        switch source {
        case let .memory(bytes, dataStart):
            bytes.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress! + dataStart + offset, byteCount: count) }
        case let .file(fd, dataStart):
            var done = 0
            while done < count {
                let n = pread(fd, dst + done, count - done, off_t(dataStart + offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SafeTensorsError(.io, path: path, tensor: tensor, "read failed: \(SafeTensors.errnoText())")
                }
                if n == 0 {
                    throw SafeTensorsError(.dataOutOfBounds, path: path, tensor: tensor,
                                           "the file ended early while reading (was it truncated after opening?)")
                }
                done += n
            }
        }
    }
}
