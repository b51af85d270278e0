/// A small strict JSON reader (RFC 8259) for safetensors headers.
///
/// Why not Foundation's `JSONSerialization`: it silently keeps one of two duplicate keys, so a hostile header
/// could name a tensor twice and have either entry win. This parser keeps object members in file order, reports
/// duplicate keys, bounds nesting depth (no stack exhaustion from `[[[[…`), and reports the byte offset of every
/// syntax error. Numbers are kept as their source text; callers ask for integers explicitly.
enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's source text, already checked against the JSON number grammar.
    case number(String)
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// A short name of the value's JSON type, for error messages.
    var typeName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }

    /// The value as an integer when it is written as one (no fraction, no exponent) and fits an `Int`.
    var integer: Int? {
        guard case let .number(text) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            return nil
        }
        return Int(text)
    }
}

/// Why a header is not acceptable JSON.
enum JSONReadError: Error, Equatable {
    /// Grammar violation at a byte offset of the header.
    case syntax(offset: Int, message: String)
    /// The same key twice in one object; `depth` 1 is the top-level object.
    case duplicateKey(String, depth: Int)
}

struct JSONReader {
    /// Deepest nesting accepted; a safetensors header needs 3 (header → entry → shape).
    static let maxDepth = 32

    private let bytes: UnsafeBufferPointer<UInt8>
    private var pos = 0

    /// Parses exactly one JSON value from `bytes`, allowing surrounding whitespace only.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(JSONReadError) -> JSONValue {
        var reader = JSONReader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.parseValue(depth: 1)
        reader.skipWhitespace()
        guard reader.pos == bytes.count else { throw reader.error("unexpected data after the top-level value") }
        return value
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func error(_ message: String) -> JSONReadError { .syntax(offset: pos, message: message) }

    private var peek: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    private mutating func skipWhitespace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { pos += 1 }
    }

    private mutating func expect(_ c: UInt8, _ what: String) throws(JSONReadError) {
        guard peek == c else { throw error("expected \(what)") }
        pos += 1
    }

    private mutating func parseValue(depth: Int) throws(JSONReadError) -> JSONValue {
        guard depth <= Self.maxDepth else { throw error("nesting deeper than \(Self.maxDepth) levels") }
        guard let c = peek else { throw error("unexpected end of header, expected a value") }
        switch c {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try parseLiteral("null"); return .null
        default: throw error("unexpected byte 0x\(String(c, radix: 16)), expected a value")
        }
    }

    private mutating func parseLiteral(_ word: StaticString) throws(JSONReadError) {
        let n = word.utf8CodeUnitCount
        guard bytes.count - pos >= n, (0 ..< n).allSatisfy({ bytes[pos + $0] == word.utf8Start[$0] }) else {
            throw error("invalid literal, expected \(word)")
        }
        pos += n
    }

    private mutating func parseObject(depth: Int) throws(JSONReadError) -> JSONValue {
        pos += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if peek == UInt8(ascii: "}") { pos += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            guard seen.insert(key).inserted else { throw .duplicateKey(key, depth: depth) }
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':' after an object key")
            skipWhitespace()
            members.append((key, try parseValue(depth: depth + 1)))
            skipWhitespace()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            try expect(UInt8(ascii: "}"), "',' or '}' in an object")
            return .object(members)
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONReadError) -> JSONValue {
        pos += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            if peek == UInt8(ascii: ",") { pos += 1; continue }
            try expect(UInt8(ascii: "]"), "',' or ']' in an array")
            return .array(items)
        }
    }

    /// Number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func parseNumber() throws(JSONReadError) -> String {
        let start = pos
        if peek == UInt8(ascii: "-") { pos += 1 }
        guard let first = peek, isDigit(first) else { throw error("expected a digit") }
        pos += 1
        if first != UInt8(ascii: "0") { while let c = peek, isDigit(c) { pos += 1 } }
        if peek == UInt8(ascii: ".") {
            pos += 1
            guard let c = peek, isDigit(c) else { throw error("expected a digit after '.'") }
            while let c = peek, isDigit(c) { pos += 1 }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            pos += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { pos += 1 }
            guard let c = peek, isDigit(c) else { throw error("expected a digit in the exponent") }
            while let c = peek, isDigit(c) { pos += 1 }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< pos]), as: UTF8.self)
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// A string with its escapes decoded. The caller has checked the whole header is valid UTF-8, so raw
    /// non-ASCII bytes are copied through; control characters must be escaped, lone surrogates are rejected.
    private mutating func parseString() throws(JSONReadError) -> String {
        pos += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw error("unterminated string") }
            pos += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let e = peek else { throw error("unterminated escape") }
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): appendUTF8(try parseUnicodeEscape(), to: &out)
                default: throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                }
            case 0x00 ..< 0x20:
                throw error("unescaped control character 0x\(String(c, radix: 16)) in a string")
            default:
                out.append(c)
            }
        }
    }

    /// After `\u`: four hex digits, and for a high surrogate the following `\uDC00`–`\uDFFF`.
    private mutating func parseUnicodeEscape() throws(JSONReadError) -> Unicode.Scalar {
        let first = try parseHex4()
        if (0xD800 ..< 0xDC00).contains(first) {
            guard bytes.count - pos >= 2, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                throw error("high surrogate not followed by a low surrogate")
            }
            pos += 2
            let second = try parseHex4()
            guard (0xDC00 ..< 0xE000).contains(second) else { throw error("invalid low surrogate") }
            let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            return Unicode.Scalar(value)!  // always in 0x10000...0x10FFFF
        }
        guard let scalar = Unicode.Scalar(first) else { throw error("lone low surrogate") }
        return scalar
    }

    private mutating func parseHex4() throws(JSONReadError) -> UInt32 {
        guard bytes.count - pos >= 4 else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0 ..< 4 {
            let c = bytes[pos]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            v = v << 4 | UInt32(d)
            pos += 1
        }
        return v
    }

    private func appendUTF8(_ s: Unicode.Scalar, to out: inout [UInt8]) {
        out.append(contentsOf: UTF8.encode(s)!)
    }
}
