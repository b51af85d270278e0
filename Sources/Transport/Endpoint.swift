/// A ZeroMQ endpoint, parsed and checked: `tcp://host:port`, `tcp://[ipv6]:port`, `ipc://path` or `inproc://name`.
/// Parsing is total: bad strings give `TransportError.invalidEndpoint` saying what is wrong.
public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Transport: String, Sendable { case tcp, ipc, inproc }

    public let transport: Transport
    /// Host (without brackets for IPv6) for tcp; path or name otherwise.
    public let address: String
    /// TCP port; nil for a wildcard `*` (bind only) and for ipc/inproc.
    public let port: Int?

    /// Whether the host is an IPv6 literal (needs ZMQ_IPV6 on the socket).
    public var isIPv6: Bool { transport == .tcp && address.contains(":") }

    public var description: String {
        switch transport {
        case .tcp:
            let host = isIPv6 ? "[\(address)]" : address
            return "tcp://\(host):\(port.map(String.init) ?? "*")"
        case .ipc, .inproc: return "\(transport.rawValue)://\(address)"
        }
    }

    public init(_ string: String) throws(TransportError) {
        func bad(_ reason: String) -> TransportError { .invalidEndpoint(string, reason: reason) }
        guard let sep = string.range(of: "://") else { throw bad("expected scheme://address") }
        let scheme = String(string[..<sep.lowerBound])
        let rest = String(string[sep.upperBound...])
        guard let t = Transport(rawValue: scheme) else { throw bad("unknown transport '\(scheme)' (tcp, ipc, inproc)") }
        transport = t
        guard !rest.isEmpty else { throw bad("empty address") }
        if t != .tcp {
            address = rest
            port = nil
            return
        }
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("unclosed '[' in IPv6 address") }
            host = rest[rest.index(after: rest.startIndex) ..< close]
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { throw bad("expected ':port' after ']'") }
            portText = after.dropFirst()
        } else {
            guard let colon = rest.lastIndex(of: ":") else { throw bad("missing ':port'") }
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            if host.contains(":") { throw bad("IPv6 addresses must be in brackets, e.g. tcp://[::1]:5601") }
        }
        guard !host.isEmpty else { throw bad("empty host") }
        address = String(host)
        if portText == "*" {
            port = nil
        } else {
            guard let p = Int(portText), (1 ... 65535).contains(p) else {
                throw bad("port '\(portText)' not in 1...65535")
            }
            port = p
        }
    }
}
