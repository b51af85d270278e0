/// The first frame of every mugs message: a fixed 80-byte little-endian record.
///
///     offset size field
///      0     4   magic "MUGS"            40  8   aux (type-specific: ring op byte count, ...)
///      4     2   version (3)             48  4   sender rank
///      6     2   type (MessageType)      52  4   segment index
///      8     8   job ID                  56  1   phase (RingPhase)
///     16     8   generation              57  1   payload frame count (0...2)
///     24     8   step                    58  6   reserved, zero
///     32     8   sequence                64  8   body frame length
///                                        72  8   data frame length
///
/// A message is this header followed by `frameCount` payload frames: first the *body* (the type's structured
/// fields) if `bodyLength > 0` or `frameCount == 2`, then the *data* (raw little-endian numbers). Ring segments carry
/// no body, only data, so the data plane never parses anything but this header. Plain value; encode and decode
/// never allocate.
public struct FrameHeader: Sendable, Equatable {
    public static let magic: UInt32 = 0x5347_554D  // bytes "MUGS"
    public static let currentVersion: UInt16 = 3
    public static let size = 80
    /// Largest body frame accepted (control fields; the data frame has its own limit).
    public static let maxBodyLength: UInt64 = 1 << 20
    /// Largest data frame accepted by the decoder (1 GiB); transports set tighter per-socket limits.
    public static let maxDataLength: UInt64 = 1 << 30

    public var type: MessageType
    public var jobID: UInt64
    public var generation: UInt64
    public var step: UInt64
    public var sequence: UInt64
    public var aux: UInt64
    public var sender: UInt32
    public var segment: UInt32
    public var phase: RingPhase
    /// Number of payload frames after the header: 0, 1 (data only or body only) or 2 (body, data).
    public var frameCount: UInt8
    public var bodyLength: UInt64
    public var dataLength: UInt64

    public init(type: MessageType, jobID: UInt64, generation: UInt64, step: UInt64 = 0, sequence: UInt64 = 0,
                aux: UInt64 = 0, sender: UInt32 = 0, segment: UInt32 = 0, phase: RingPhase = .none,
                frameCount: UInt8 = 0, bodyLength: UInt64 = 0, dataLength: UInt64 = 0) {
        self.type = type
        self.jobID = jobID
        self.generation = generation
        self.step = step
        self.sequence = sequence
        self.aux = aux
        self.sender = sender
        self.segment = segment
        self.phase = phase
        self.frameCount = frameCount
        self.bodyLength = bodyLength
        self.dataLength = dataLength
    }

    /// Writes the 80 header bytes at `out` (which must have room for `FrameHeader.size` bytes).
    public func encode(into out: UnsafeMutableRawPointer) {
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) {
            out.storeBytes(of: v.littleEndian, toByteOffset: at, as: T.self)
        }
        put(Self.magic, 0)
        put(Self.currentVersion, 4)
        put(type.rawValue, 6)
        put(jobID, 8)
        put(generation, 16)
        put(step, 24)
        put(sequence, 32)
        put(aux, 40)
        put(sender, 48)
        put(segment, 52)
        put(phase.rawValue, 56)
        put(frameCount, 57)
        put(UInt16(0), 58)
        put(UInt32(0), 60)
        put(bodyLength, 64)
        put(dataLength, 72)
    }

    /// The header as a new byte array.
    public func encoded() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.size) { buf, n in
            encode(into: UnsafeMutableRawPointer(buf.baseAddress!))
            n = Self.size
        }
    }

    /// Decodes a header frame that must be exactly `FrameHeader.size` bytes. Total: any bytes give a header or a
    /// typed error.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> FrameHeader {
        guard bytes.count >= size else { throw .truncated(field: "header", needed: size, available: bytes.count) }
        guard bytes.count == size else { throw .trailingBytes(frame: "header", count: bytes.count - size) }
        return try decodePrefix(bytes)
    }

    /// Decodes the header at the start of `bytes`, which may continue with payload (a flat stream). Throws
    /// `.truncated` if fewer than `FrameHeader.size` bytes are present.
    public static func decodePrefix(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> FrameHeader {
        guard bytes.count >= size else { throw .truncated(field: "header", needed: size, available: bytes.count) }
        func get<T: FixedWidthInteger>(_: T.Type, _ at: Int) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
        }
        let magic = get(UInt32.self, 0)
        guard magic == Self.magic else { throw .badMagic(found: magic) }
        let version = get(UInt16.self, 4)
        guard version == currentVersion else { throw .unsupportedVersion(version) }
        let rawType = get(UInt16.self, 6)
        guard let type = MessageType(rawValue: rawType) else { throw .unknownType(rawType) }
        let rawPhase = get(UInt8.self, 56)
        guard let phase = RingPhase(rawValue: rawPhase) else {
            throw .invalidValue(field: "header.phase", detail: "unknown phase \(rawPhase)")
        }
        guard get(UInt16.self, 58) == 0, get(UInt32.self, 60) == 0 else {
            throw .invalidValue(field: "header.reserved", detail: "reserved bytes are not zero")
        }
        let frameCount = get(UInt8.self, 57)
        let bodyLength = get(UInt64.self, 64)
        let dataLength = get(UInt64.self, 72)
        guard frameCount <= 2 else {
            throw .invalidValue(field: "header.frameCount", detail: "\(frameCount) payload frames (at most 2)")
        }
        guard bodyLength <= maxBodyLength else {
            throw .oversized(field: "header.bodyLength", length: bodyLength, limit: maxBodyLength)
        }
        guard dataLength <= maxDataLength else {
            throw .oversized(field: "header.dataLength", length: dataLength, limit: maxDataLength)
        }
        // Frame layout rules: 0 frames → no lengths; 1 frame → exactly one of body/data may be non-zero
        // (which one is fixed by the type, checked by the message decoder); 2 frames → body then data.
        if frameCount == 0 && (bodyLength != 0 || dataLength != 0) {
            throw .invalidValue(field: "header.frameCount", detail: "0 frames but non-zero payload lengths")
        }
        if frameCount == 1 && bodyLength != 0 && dataLength != 0 {
            throw .invalidValue(field: "header.frameCount", detail: "1 frame but both body and data lengths set")
        }
        return FrameHeader(type: type, jobID: get(UInt64.self, 8), generation: get(UInt64.self, 16),
                           step: get(UInt64.self, 24), sequence: get(UInt64.self, 32), aux: get(UInt64.self, 40),
                           sender: get(UInt32.self, 48), segment: get(UInt32.self, 52), phase: phase,
                           frameCount: frameCount, bodyLength: bodyLength, dataLength: dataLength)
    }

    /// Total payload bytes that follow the header in a flat stream.
    public var payloadLength: UInt64 { bodyLength + dataLength }
}
