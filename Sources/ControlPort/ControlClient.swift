#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A minimal blocking HTTP/1.1 client for the control port (`mugs status`, tests): one request per connection,
/// bounded by a timeout. Not a general HTTP client.
public enum ControlClient {
    public struct Reply: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public struct ClientError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Splits `http://host:port[/]` (or `host:port`) into host and port. IPv6 hosts in brackets.
    public static func parseURL(_ url: String) throws -> (host: String, port: Int) {
        var s = Substring(url)
        if s.hasPrefix("http://") { s = s.dropFirst(7) }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        var host: Substring, portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { throw ClientError(description: "bad control URL '\(url)'") }
            host = s[s.index(after: s.startIndex) ..< close]
            portText = s[s.index(after: close)...].drop { $0 == ":" }
        } else if let colon = s.lastIndex(of: ":") {
            host = s[..<colon]; portText = s[s.index(after: colon)...]
        } else {
            host = s; portText = "8750"
        }
        guard !host.isEmpty, let port = Int(portText), (1 ... 65535).contains(port) else {
            throw ClientError(description: "bad control URL '\(url)': expected http://HOST:PORT")
        }
        return (String(host), port)
    }

    /// Sends one request and reads the whole response.
    public static func request(host: String, port: Int, method: String, path: String, headers: [(String, String)] = [],
                               body: [UInt8] = [], timeout: Double = 5) throws -> Reply {
        var raw = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
        for (n, v) in headers { raw += "\(n): \(v)\r\n" }
        raw += "Content-Length: \(body.count)\r\n\r\n"
        let response = try exchange(host: host, port: port, bytes: Array(raw.utf8) + body, timeout: timeout)
        return try parseResponse(response)
    }

    /// Sends raw bytes and returns everything the server answers until it closes (for malformed-request tests).
    public static func exchange(host: String, port: Int, bytes: [UInt8], timeout: Double = 5) throws -> [UInt8] {
        let fd = try connect(host: host, port: port, timeout: timeout)
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break } // the server may answer (e.g. 413) and close before reading everything
            sent += n
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { out += buf[0 ..< n]; continue }
            if n == 0 || errno == ECONNRESET { break }
            throw ClientError(description: "no complete answer from \(host):\(port) within \(timeout) s")
        }
        return out
    }

    private static func connect(host: String, port: Int, timeout: Double) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw ClientError(description: "cannot resolve control host '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        var lastError = "no address"
        while let a = ai {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 {
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                lastError = String(cString: strerror(errno))
                close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw ClientError(description: "cannot connect to the control port at \(host):\(port): \(lastError) " +
                          "(is mugs-coordinator running, and is --control bound to that address?)")
    }

    static func parseResponse(_ bytes: [UInt8]) throws -> Reply {
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else {
            throw ClientError(description: "malformed HTTP response (\(bytes.count) bytes)")
        }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            throw ClientError(description: "malformed HTTP status line '\(head[0])'")
        }
        let headers = head.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let c = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<c]), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces))
        }
        return Reply(status: status, headers: headers, body: Array(bytes[end.upperBound...]))
    }
}
