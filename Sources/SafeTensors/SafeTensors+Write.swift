#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSONText

/// A Float32 tensor to write: its name, shape and values (owned, or borrowed from memory that must stay valid
/// until the write returns, e.g. a `ParameterBuffer` view).
public struct SafeTensorsEntry {
    /// The tensor's name in the header (non-empty, not `__metadata__`).
    public let name: String
    /// Dimensions, outermost first; their product must equal the number of values.
    public let shape: [Int]
    let storage: Storage

    enum Storage {
        case owned([Float])
        case borrowed(UnsafeBufferPointer<Float>)
    }

    /// An entry owning a copy of `tensor`'s shape and values.
    public init(_ name: String, _ tensor: HostTensor) {
        self.init(name, shape: tensor.shape, values: tensor.data)
    }

    /// An entry owning `values` (row-major).
    public init(_ name: String, shape: [Int], values: [Float]) {
        self.name = name
        self.shape = shape
        self.storage = .owned(values)
    }

    /// `data` is read during the write only; the caller keeps it alive until then.
    public init(_ name: String, shape: [Int], borrowing data: UnsafeBufferPointer<Float>) {
        self.name = name
        self.shape = shape
        self.storage = .borrowed(data)
    }

    var count: Int {
        switch storage {
        case let .owned(a): return a.count
        case let .borrowed(p): return p.count
        }
    }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(SafeTensorsError) -> R) throws(SafeTensorsError) -> R {
        switch storage {
        case let .owned(a):
            return try a.withUnsafeBytes { raw in Result { () throws(SafeTensorsError) in try body(raw) } }.get()
        case let .borrowed(p):
            return try body(UnsafeRawBufferPointer(p))
        }
    }
}

extension SafeTensors {
    /// Writes F32 tensors (in the given order) and `metadata` atomically: a temporary file in the same directory is
    /// written, fsynced and renamed over `path`, and the directory is fsynced, so readers see the old file or the
    /// complete new one, never a partial one.
    public static func write(path: String, tensors: [SafeTensorsEntry], metadata: [String: String] = [:])
        throws(SafeTensorsError)
    {
        let header = try encodeHeader(tensors: tensors, metadata: metadata, path: path)
        let directory = parentDirectory(of: path)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw SafeTensorsError(.io, path: path, "cannot create temporary file \(temporary): \(errnoText())")
        }
        do throws(SafeTensorsError) {
            try header.withUnsafeBytes { raw in
                Result { () throws(SafeTensorsError) in try writeAll(fd, raw, path: path) }
            }.get()
            for t in tensors {
                try t.withBytes { (raw) throws(SafeTensorsError) in try writeAll(fd, raw, path: path) }
            }
            guard fsync(fd) == 0 else { throw SafeTensorsError(.io, path: path, "fsync failed: \(errnoText())") }
            guard close(fd) == 0 else { throw SafeTensorsError(.io, path: path, "close failed: \(errnoText())") }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let text = errnoText()
            unlink(temporary)
            throw SafeTensorsError(.io, path: path, "cannot rename \(temporary) into place: \(text)")
        }
        let dfd = open(directory, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 {
            defer { close(dfd) }
            guard fsync(dfd) == 0 || errno == EINVAL else {
                throw SafeTensorsError(.io, path: path, "fsync of directory \(directory) failed: \(errnoText())")
            }
        }
    }

    /// The complete file as bytes (same layout as `write`).
    public static func encode(tensors: [SafeTensorsEntry], metadata: [String: String] = [:])
        throws(SafeTensorsError) -> [UInt8]
    {
        var bytes = try encodeHeader(tensors: tensors, metadata: metadata, path: "<memory>")
        for t in tensors { try t.withBytes { (raw) throws(SafeTensorsError) in bytes.append(contentsOf: raw) } }
        return bytes
    }

    /// The 8-byte length prefix and the JSON header, padded with spaces to a multiple of 8 bytes so the data
    /// section (and every F32 tensor in it) is 8-byte aligned. `__metadata__` comes first with sorted keys, then
    /// the tensors in the given order, laid out contiguously.
    static func encodeHeader(tensors: [SafeTensorsEntry], metadata: [String: String], path: String)
        throws(SafeTensorsError) -> [UInt8]
    {
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.sorted { $0.key < $1.key }.map { jsonString($0.key) + ":" + jsonString($0.value) }
                .joined(separator: ",")
            json += "}"
            first = false
        }
        var seen = Set<String>()
        var offset = 0
        for t in tensors {
            guard !t.name.isEmpty, t.name != "__metadata__" else {
                throw SafeTensorsError(.invalidArgument, path: path, tensor: t.name,
                                       "a tensor name must be non-empty and not __metadata__")
            }
            guard seen.insert(t.name).inserted else {
                throw SafeTensorsError(.duplicateName, path: path, tensor: t.name, "given twice to the writer")
            }
            let product = t.shape.reduce(Optional(1)) { acc, d in
                acc.flatMap { a in d < 0 ? nil : a.multipliedReportingOverflow(by: d).overflow ? nil : a * d }
            }
            guard product == t.count else {
                throw SafeTensorsError(.invalidArgument, path: path, tensor: t.name,
                                       "shape \(t.shape) does not match its \(t.count) values")
            }
            let end = offset + 4 * t.count
            json += (first ? "" : ",") + jsonString(t.name)
            json += ":{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
            json += "\"data_offsets\":[\(offset),\(end)]}"
            offset = end
            first = false
        }
        json += "}"
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + header.count)
        let n = UInt64(header.count)
        for i in 0 ..< 8 { out.append(UInt8(truncatingIfNeeded: n >> (8 * UInt64(i)))) }
        out += header
        return out
    }

    private static func writeAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, path: String) throws(SafeTensorsError) {
        var done = 0
        while done < raw.count {
            let n = posixWrite(fd, raw.baseAddress! + done, raw.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw SafeTensorsError(.io, path: path, "write failed: \(errnoText())")
            }
            done += n
        }
    }

    private static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }
}


/// The C library's `write` (inside `extension SafeTensors` the name means `SafeTensors.write`).
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buffer, count) }
