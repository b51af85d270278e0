import JSONText

/// An HTTP/1.1 request as the control port sees it (already size-bounded by the parser).
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// The path without the query string, e.g. `/status`.
    public var path: String
    /// Raw query string after `?`, or "".
    public var query: String
    /// Header fields in arrival order; names as sent (compare case-insensitively with `header(_:)`).
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: [(name: String, value: String)] = [],
                body: [UInt8] = []) {
        self.method = method; self.path = path; self.query = query; self.headers = headers; self.body = body
    }

    /// The first header with this name, compared case-insensitively (RFC 9110 §5.1).
    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.first { $0.name.lowercased() == n }?.value
    }

    public static func == (a: HTTPRequest, b: HTTPRequest) -> Bool {
        a.method == b.method && a.path == b.path && a.query == b.query && a.body == b.body
            && a.headers.map { [$0.name, $0.value] } == b.headers.map { [$0.name, $0.value] }
    }
}

/// An HTTP/1.1 response. The server always closes the connection after it.
public struct HTTPResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var extraHeaders: [(name: String, value: String)]

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8],
                extraHeaders: [(name: String, value: String)] = []) {
        self.status = status; self.contentType = contentType; self.body = body; self.extraHeaders = extraHeaders
    }

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", text: String,
                extraHeaders: [(name: String, value: String)] = []) {
        self.init(status: status, contentType: contentType, body: Array(text.utf8), extraHeaders: extraHeaders)
    }

    /// A JSON error body `{"error": "..."}` with the given status.
    public static func error(_ status: Int, _ message: String,
                             extraHeaders: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "application/json",
                     text: "{\"error\":\(jsonString(message))}\n", extraHeaders: extraHeaders)
    }

    public static func == (a: HTTPResponse, b: HTTPResponse) -> Bool {
        a.status == b.status && a.contentType == b.contentType && a.body == b.body
            && a.extraHeaders.map { [$0.name, $0.value] } == b.extraHeaders.map { [$0.name, $0.value] }
    }

    /// The bytes on the wire: status line, headers, blank line, body.
    public func serialized() -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reason(status))\r\n"
        head += "Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for h in extraHeaders { head += "\(h.name): \(h.value)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 202: return "Accepted"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
