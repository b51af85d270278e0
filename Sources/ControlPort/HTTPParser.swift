/// Why a request was refused, as the status code and message the client gets back.
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    public var description: String { "HTTP \(status): \(message)" }
}

/// A total, incremental HTTP/1.1 request parser (RFC 9112 subset: origin-form targets, Content-Length bodies).
///
/// `parse` never consumes input and never traps: for any byte string it answers "need more bytes", a complete request
/// with the number of bytes it used, or an error carrying the 4xx/5xx status to reply with. Sizes are bounded so a
/// hostile client cannot make the server buffer without limit.
public struct HTTPParser: Sendable {
    public enum Outcome: Equatable, Sendable {
        case needMore
        case request(HTTPRequest, consumed: Int)
        case failure(HTTPParseError)
    }

    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderCount = 64
    public var maxBodyBytes = 64 * 1024

    public init() {}

    public func parse(_ bytes: [UInt8]) -> Outcome {
        // Locate the end of the header section (CRLF CRLF, or LF LF from lenient clients).
        guard let (headEnd, bodyStart) = Self.headerEnd(bytes, limit: maxHeaderBytes) else {
            if bytes.count > maxHeaderBytes {
                return Self.fail(Self.firstLineEnd(bytes) == nil ? 414 : 431, "request head exceeds \(maxHeaderBytes) bytes")
            }
            return .needMore
        }
        var lines = Self.splitLines(bytes[0 ..< headEnd])
        guard !lines.isEmpty else { return Self.fail(400, "empty request") }
        let requestLine = lines.removeFirst()

        // Request line: METHOD SP request-target SP HTTP-version
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3 else { return Self.fail(400, "malformed request line") }
        let method = parts[0], target = parts[1], version = parts[2]
        guard (1 ... 16).contains(method.count), method.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else {
            return Self.fail(400, "malformed method")
        }
        guard let v = String(bytes: version, encoding: .ascii), v.hasPrefix("HTTP/") else {
            return Self.fail(400, "malformed HTTP version")
        }
        guard v == "HTTP/1.1" || v == "HTTP/1.0" else { return Self.fail(505, "only HTTP/1.0 and HTTP/1.1 are served") }
        guard target.first == UInt8(ascii: "/"), target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return Self.fail(400, "request target must be an absolute path of visible ASCII")
        }
        let targetString = String(decoding: target, as: UTF8.self)
        let path: String, query: String
        if let q = targetString.firstIndex(of: "?") {
            path = String(targetString[..<q]); query = String(targetString[targetString.index(after: q)...])
        } else {
            path = targetString; query = ""
        }

        // Header fields: token ":" OWS value OWS
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard headers.count < maxHeaderCount else { return Self.fail(431, "more than \(maxHeaderCount) header fields") }
            guard let first = line.first, first != 0x20, first != 0x09 else {
                return Self.fail(400, "obsolete line folding is not accepted")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return Self.fail(400, "header without ':'") }
            let name = line[line.startIndex ..< colon]
            guard !name.isEmpty, name.allSatisfy(Self.isTokenChar) else { return Self.fail(400, "malformed header name") }
            let value = line[(colon + 1)...].drop { $0 == 0x20 || $0 == 0x09 }
            guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
                return Self.fail(400, "control character in header value")
            }
            var v = String(decoding: value, as: UTF8.self)
            while v.last == " " || v.last == "\t" { v.removeLast() }
            headers.append((String(decoding: name, as: UTF8.self), v))
        }

        // Body framing: Content-Length only; chunked uploads are not needed by any control call.
        if headers.contains(where: { $0.name.lowercased() == "transfer-encoding" }) {
            return Self.fail(501, "Transfer-Encoding is not supported; send Content-Length")
        }
        let lengths = headers.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        var bodyLength = 0
        if let l = lengths.first {
            guard lengths.allSatisfy({ $0 == l }), !l.isEmpty, l.count <= 12, l.allSatisfy(\.isASCIIDigit),
                  let n = Int(l) else {
                return Self.fail(400, "malformed Content-Length")
            }
            guard n <= maxBodyBytes else { return Self.fail(413, "body exceeds \(maxBodyBytes) bytes") }
            bodyLength = n
        }
        guard bytes.count - bodyStart >= bodyLength else { return .needMore }
        let body = Array(bytes[bodyStart ..< bodyStart + bodyLength])
        let request = HTTPRequest(method: String(decoding: method, as: UTF8.self), path: path, query: query,
                                  headers: headers, body: body)
        return .request(request, consumed: bodyStart + bodyLength)
    }

    private static func fail(_ status: Int, _ message: String) -> Outcome {
        .failure(HTTPParseError(status: status, message: message))
    }

    /// (end of the last header line, start of the body), or nil if the blank line has not arrived.
    private static func headerEnd(_ b: [UInt8], limit: Int) -> (Int, Int)? {
        var i = 0
        let n = min(b.count, limit + 4)
        while i < n {
            if b[i] == 0x0A {
                if i + 1 < b.count, b[i + 1] == 0x0A { return (i, i + 2) }
                if i + 2 < b.count, b[i + 1] == 0x0D, b[i + 2] == 0x0A { return (i, i + 3) }
            }
            i += 1
        }
        return nil
    }

    private static func firstLineEnd(_ b: [UInt8]) -> Int? { b.firstIndex(of: 0x0A) }

    /// Lines of the head, without their CR LF / LF terminators.
    private static func splitLines(_ head: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
        head.split(separator: 0x0A, omittingEmptySubsequences: false).map { line in
            line.last == 0x0D ? line.dropLast() : line
        }
    }

    private static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"),
             UInt8(ascii: "0") ... UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
