#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Errors starting the control port, phrased for the person who started the daemon.
public struct ControlServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// A small HTTP/1.1 server for the control port: one thread, `poll(2)` over the listening socket and at most
/// `maxConnections` clients, every client bounded in bytes (`HTTPParser` limits) and time (`requestTimeout`).
/// Each connection carries one request and is closed after the response. The handler runs on the server thread, so
/// it must be quick and thread-safe (the coordinator hands it a snapshot, never its training state).
public final class ControlServer: @unchecked Sendable {
    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    public let host: String
    /// The port actually bound (useful with port 0).
    public private(set) var port: Int = 0
    public var requestTimeout: Double = 5
    public var maxConnections = 64

    private let handler: Handler
    private var listenFD: Int32 = -1
    private var wakePipe: [Int32] = [-1, -1]
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private let parser = HTTPParser()

    private struct Client {
        var fd: Int32
        var buffer: [UInt8] = []
        var deadline: Double
    }

    /// Binds `host:port` (numeric IPv4/IPv6 or a resolvable name) and starts serving.
    public init(host: String, port: Int, handler: @escaping Handler) throws {
        self.host = host
        self.handler = handler
        try bind(host: host, port: port)
        guard pipe(&wakePipe) == 0 else { throw ControlServerError(description: "control port: pipe() failed") }
        let t = Thread { [self] in self.serve() }
        t.name = "mugs-control"
        thread = t
        t.start()
    }

    /// Stops serving and closes every socket; returns when the server thread has exited.
    public func stop() {
        guard wakePipe[1] >= 0 else { return }
        var b: UInt8 = 1
        _ = write(wakePipe[1], &b, 1)
        finished.wait()
        close(wakePipe[0]); close(wakePipe[1]); wakePipe = [-1, -1]
    }

    deinit { stop() }

    private func bind(host: String, port: Int) throws {
        guard (0 ... 65535).contains(port) else {
            throw ControlServerError(description: "control port: port \(port) is out of range 0-65535")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw ControlServerError(description: "control port: cannot resolve '\(host)': \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(res) }
        var lastError = "no address"
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 {
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                if Glibc.bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0, listen(fd, 64) == 0 {
                    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                    _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                    listenFD = fd
                    self.port = Self.localPort(fd)
                    return
                }
                lastError = String(cString: strerror(errno))
                close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw ControlServerError(description: "control port: cannot listen on \(host):\(port): \(lastError)")
    }

    private static func localPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        if storage.ss_family == sa_family_t(AF_INET6) {
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        }
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    private func serve() {
        var clients: [Client] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        defer {
            for c in clients { close(c.fd) }
            close(listenFD)
            finished.signal()
        }
        while true {
            var fds = [pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0),
                       pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
            fds += clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let t = Self.now()
            let nearest = clients.map(\.deadline).min().map { max(0, $0 - t) } ?? 1.0
            _ = poll(&fds, nfds_t(fds.count), Int32(min(nearest, 1.0) * 1000) + 1)
            if fds[0].revents != 0 { return }
            var keep: [Client] = []
            if fds[1].revents & Int16(POLLIN) != 0 { acceptClients(&keep, alreadyOpen: clients.count) } // polled from the next round on

            let now = Self.now()
            for (i, var c) in clients.enumerated() {
                let ev = fds[i + 2].revents
                var done = false
                if ev & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    let n = read(c.fd, &chunk, chunk.count)
                    if n > 0 {
                        c.buffer += chunk[0 ..< n]
                        switch parser.parse(c.buffer) {
                        case .needMore: break
                        case .request(let req, _): respond(c.fd, handler(req)); done = true
                        case .failure(let e): respond(c.fd, .error(e.status, e.message)); done = true
                        }
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        done = true // peer closed or failed before a full request
                    }
                }
                if !done && now > c.deadline {
                    respond(c.fd, .error(408, "request not received within \(requestTimeout) s"))
                    done = true
                }
                if done { close(c.fd) } else { keep.append(c) }
            }
            clients = keep
        }
    }

    private func acceptClients(_ clients: inout [Client], alreadyOpen: Int) {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 { return }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            if alreadyOpen + clients.count >= maxConnections {
                respond(fd, .error(503, "too many open control connections"))
                close(fd)
                continue
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            clients.append(Client(fd: fd, deadline: Self.now() + requestTimeout))
        }
    }

    /// Writes the whole response, waiting for the socket at most `requestTimeout` seconds in total.
    private func respond(_ fd: Int32, _ response: HTTPResponse) {
        let bytes = response.serialized()
        let deadline = Self.now() + requestTimeout
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            if n < 0 && errno != EAGAIN && errno != EINTR { return }
            let left = deadline - Self.now()
            if left <= 0 { return }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, Int32(left * 1000) + 1)
        }
    }
}
