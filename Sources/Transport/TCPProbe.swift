import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One plain TCP connection attempt, to say in words why a ring neighbour's data endpoint cannot be reached
/// ("connection refused", "no route to host", "no answer within 1.0 s"). Used only after ZeroMQ's own connection never
/// came up, to put the operating system's reason into the error a person reads; it never decides anything by itself.
public enum TCPProbe {
    /// Connects to `endpoint` (`tcp://host:port`) once, waiting at most `timeout` seconds, and closes at once.
    /// Returns what happened, e.g. `connect: Connection refused`; `connected` when the port answers now.
    public static func check(_ endpoint: String, timeout: Double = 1) -> String {
        guard let e = try? Endpoint(endpoint), e.transport == .tcp, let port = e.port else {
            return "not a tcp://host:port endpoint"
        }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(e.address, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            return "cannot resolve \(e.address): \(String(cString: gai_strerror(rc)))"
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "socket: \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 { return "connected" }
        guard errno == EINPROGRESS else { return "connect: \(String(cString: strerror(errno)))" }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&p, 1, Int32(max(1, timeout * 1000)))
        guard ready > 0 else { return String(format: "connect: no answer within %.1f s", timeout) }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err == 0 ? "connected" : "connect: \(String(cString: strerror(err)))"
    }
}
