/// Why a byte string is not a valid mugs wire message. Every case names the field or frame at fault, so a log line
/// says what a misbehaving (or foreign) sender got wrong.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the field needs: `needed` bytes for `field`, only `available` left.
    case truncated(field: String, needed: Int, available: Int)
    /// The header does not start with the mugs magic; the bytes are not ours.
    case badMagic(found: UInt32)
    /// A header version this build does not speak.
    case unsupportedVersion(UInt16)
    /// A message type number this build does not know.
    case unknownType(UInt16)
    /// A length or count above its limit (guards memory against hostile or corrupt input).
    case oversized(field: String, length: UInt64, limit: UInt64)
    /// The number of frames differs from what the header declares.
    case frameCountMismatch(declared: Int, actual: Int)
    /// A payload frame's size differs from the length in the header.
    case frameLengthMismatch(frame: String, declared: UInt64, actual: Int)
    /// Bytes left over after the last field of a frame.
    case trailingBytes(frame: String, count: Int)
    /// A string field is not valid UTF-8.
    case invalidUTF8(field: String)
    /// A field has a value outside its domain (reserved bits set, unknown phase, length not a multiple of 4, ...).
    case invalidValue(field: String, detail: String)

    public var description: String {
        switch self {
        case let .truncated(field, needed, available):
            return "wire: truncated \(field): needs \(needed) bytes, \(available) available"
        case let .badMagic(found):
            return "wire: bad magic 0x\(String(found, radix: 16)) (not a mugs message)"
        case let .unsupportedVersion(v):
            return "wire: unsupported version \(v) (this build speaks \(FrameHeader.currentVersion))"
        case let .unknownType(t):
            return "wire: unknown message type \(t)"
        case let .oversized(field, length, limit):
            return "wire: \(field) is \(length), above the limit \(limit)"
        case let .frameCountMismatch(declared, actual):
            return "wire: header declares \(declared) frames, message has \(actual)"
        case let .frameLengthMismatch(frame, declared, actual):
            return "wire: \(frame) frame is \(actual) bytes, header declares \(declared)"
        case let .trailingBytes(frame, count):
            return "wire: \(count) unexpected trailing bytes in \(frame)"
        case let .invalidUTF8(field):
            return "wire: \(field) is not valid UTF-8"
        case let .invalidValue(field, detail):
            return "wire: invalid \(field): \(detail)"
        }
    }
}
