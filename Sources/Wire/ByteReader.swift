/// Reads little-endian fields from a byte buffer with bounds checks: every read either returns a value or throws
/// `WireError.truncated` naming the field. Never reads past the end, never traps.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0
    /// Name of the frame being read, for error messages.
    public let frame: String

    public init(_ bytes: UnsafeRawBufferPointer, frame: String) {
        self.bytes = bytes
        self.frame = frame
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func u8(_ field: String) throws(WireError) -> UInt8 { try read(UInt8.self, field) }
    public mutating func u16(_ field: String) throws(WireError) -> UInt16 { try read(UInt16.self, field) }
    public mutating func u32(_ field: String) throws(WireError) -> UInt32 { try read(UInt32.self, field) }
    public mutating func u64(_ field: String) throws(WireError) -> UInt64 { try read(UInt64.self, field) }
    public mutating func f64(_ field: String) throws(WireError) -> Double { Double(bitPattern: try u64(field)) }

    /// A u32-length-prefixed UTF-8 string of at most `limit` bytes.
    public mutating func string(_ field: String, limit: Int = 4096) throws(WireError) -> String {
        let n = Int(try u32("\(field).length"))
        guard n <= limit else { throw .oversized(field: field, length: UInt64(n), limit: UInt64(limit)) }
        guard n <= remaining else { throw .truncated(field: field, needed: n, available: remaining) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + n])
        offset += n
        guard let s = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return s
    }

    /// Throws unless every byte was consumed.
    public func finish() throws(WireError) {
        if remaining != 0 { throw .trailingBytes(frame: frame, count: remaining) }
    }

    private mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw .truncated(field: field, needed: size, available: remaining) }
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: v)
    }
}

/// `Array.withUnsafeBytes` for bodies that throw `WireError` (the standard one rethrows untyped).

@usableFromInline
func withRawBytes<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws(WireError) -> R)
    throws(WireError) -> R {
    let result: Result<R, WireError> = bytes.withUnsafeBytes { raw in
        do throws(WireError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try result.get()
}
