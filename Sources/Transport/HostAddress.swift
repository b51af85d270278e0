import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Name resolution and source-address selection for ring data endpoints (the socket calls behind the worker's
/// `DataAddress`; ZeroMQ binds take only numeric addresses and interface names, so names are resolved here first).
/// Failures come back as the operating system's words, for the caller to put beside the option that named the host.
public enum HostAddress {
    /// The numeric addresses of `host` (a literal comes back unchanged), in resolver order without repeats.
    public static func lookup(_ host: String) -> Result<[String], Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, nil, &hints, &list)
        guard rc == 0, list != nil else {
            return .failure(Failure("cannot be resolved: \(String(cString: gai_strerror(rc)))"))
        }
        defer { freeaddrinfo(list) }
        var out: [String] = []
        var p = list
        while let a = p {
            if let s = numeric(a.pointee.ai_addr, a.pointee.ai_addrlen), !out.contains(s) { out.append(s) }
            p = a.pointee.ai_next
        }
        return out.isEmpty ? .failure(Failure("resolves to no IPv4 or IPv6 address")) : .success(out)
    }

    /// The source address this machine's routing table picks for packets to the first of `targets` (numeric
    /// addresses) that has a route: a UDP `connect` + `getsockname`, which sends no packet.
    public static func localAddress(towards targets: [String]) -> Result<String, Failure> {
        var lastError = ""
        for target in targets {
            let v6 = target.contains(":")
            let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var storage = sockaddr_storage()
            let len: socklen_t
            if v6 {
                var a = sockaddr_in6()
                a.sin6_family = sa_family_t(AF_INET6)
                a.sin6_port = in_port_t(UInt16(9).bigEndian)
                inet_pton(AF_INET6, target, &a.sin6_addr)
                len = socklen_t(MemoryLayout<sockaddr_in6>.size)
                withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            } else {
                var a = sockaddr_in()
                a.sin_family = sa_family_t(AF_INET)
                a.sin_port = in_port_t(UInt16(9).bigEndian)
                inet_pton(AF_INET, target, &a.sin_addr)
                len = socklen_t(MemoryLayout<sockaddr_in>.size)
                withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            }
            let connected = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) }
            }
            guard connected == 0 else {
                lastError = "\(target): \(String(cString: strerror(errno)))"
                continue
            }
            var local = sockaddr_storage()
            var localLen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let got = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLen) }
            }
            if got == 0, let s = withUnsafePointer(to: &local, {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { numeric($0, localLen) }
            }) {
                return .success(s)
            }
        }
        return .failure(Failure("no route from this machine (\(lastError))"))
    }

    /// Whether an interface of that name exists (a ZeroMQ bind takes `tcp://eth0:5601`).
    public static func isInterface(_ name: String) -> Bool { if_nametoindex(name) != 0 }

    /// What went wrong, in the operating system's words.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    private static func numeric(_ sa: UnsafePointer<sockaddr>?, _ len: socklen_t) -> String? {
        guard let sa else { return nil }
        var buf = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(sa, len, &buf, socklen_t(buf.count), nil, 0, NI_NUMERICHOST) == 0 else { return nil }
        var s = String(cString: buf)
        if let pct = s.firstIndex(of: "%") { s = String(s[..<pct]) }  // drop a link-local scope id
        return s
    }
}
