import CZMQ

/// A ZeroMQ socket. Not thread-safe (libzmq's rule): use it from one thread. Every call that can wait takes
/// `dontWait` or goes through `ZMQPoller` with a timeout, so no call here blocks without bound.
public final class ZMQSocket {
    /// The socket patterns mugs uses. PAIR only over inproc (monitors), never TCP.
    public enum Kind: Sendable {
        case router, dealer, pair, push, pull

        var code: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .pair: return ZMQ_PAIR
            case .push: return ZMQ_PUSH
            case .pull: return ZMQ_PULL
            }
        }
    }

    let handle: UnsafeMutableRawPointer
    public let kind: Kind
    // Keeps the context alive while the socket exists.
    private let context: ZMQContext
    private var closed = false

    public init(_ context: ZMQContext, _ kind: Kind) throws(TransportError) {
        guard let h = zmq_socket(context.handle, kind.code) else { throw TransportError.last("zmq_socket \(kind)") }
        handle = h
        self.kind = kind
        self.context = context
    }

    deinit { close() }

    /// Closes the socket (pending messages follow LINGER). Idempotent.
    public func close() {
        guard !closed else { return }
        closed = true
        zmq_close(handle)
    }

    public func set(_ option: SocketOption) throws(TransportError) {
        let rc: Int32
        switch option {
        case let .linger(v), let .heartbeatInterval(v), let .heartbeatTimeout(v), let .heartbeatTTL(v),
             let .reconnectInterval(v), let .reconnectIntervalMax(v), let .connectTimeout(v),
             let .sendHighWaterMark(v), let .receiveHighWaterMark(v), let .sendBuffer(v), let .receiveBuffer(v):
            var x = v
            rc = zmq_setsockopt(handle, option.code, &x, MemoryLayout<Int32>.size)
        case let .immediate(b), let .routerMandatory(b), let .routerHandover(b), let .ipv6(b):
            var x: Int32 = b ? 1 : 0
            rc = zmq_setsockopt(handle, option.code, &x, MemoryLayout<Int32>.size)
        case let .maxMessageSize(v):
            var x = v
            rc = zmq_setsockopt(handle, option.code, &x, MemoryLayout<Int64>.size)
        case let .routingID(bytes):
            rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option.code, $0.baseAddress, $0.count) }
        }
        if rc != 0 { throw TransportError.last("zmq_setsockopt \(option)") }
    }

    public func bind(_ endpoint: String) throws(TransportError) {
        if zmq_bind(handle, endpoint) != 0 { throw TransportError.last("zmq_bind \(endpoint)") }
    }

    public func connect(_ endpoint: String) throws(TransportError) {
        if zmq_connect(handle, endpoint) != 0 { throw TransportError.last("zmq_connect \(endpoint)") }
    }

    /// The endpoint last bound (resolves wildcard ports such as `tcp://127.0.0.1:*`).
    public func lastEndpoint() throws(TransportError) -> String {
        var buf = [CChar](repeating: 0, count: 512)
        var size = buf.count
        if zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buf, &size) != 0 {
            throw TransportError.last("zmq_getsockopt LAST_ENDPOINT")
        }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Sends one frame, copied by libzmq. Returns false if it would block (`dontWait`, EAGAIN).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, dontWait: Bool = true)
        throws(TransportError) -> Bool {
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        while true {
            if zmq_send(handle, bytes.baseAddress, bytes.count, flags) >= 0 { return true }
            let e = zmq_errno()
            if e == EAGAIN { return false }
            if e == EINTR { continue }
            throw TransportError.last("zmq_send")
        }
    }

    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, dontWait: Bool = true) throws(TransportError) -> Bool {
        let r: Result<Bool, TransportError> = bytes.withUnsafeBytes { raw in
            do throws(TransportError) { return .success(try send(raw, more: more, dontWait: dontWait)) }
            catch { return .failure(error) }
        }
        return try r.get()
    }

    /// Sends `count` bytes at `base` without copying (`zmq_msg_init_data`). libzmq calls `release(base, hint)` from
    /// whichever thread drops the message (its I/O thread after writing it, or this one if the send fails), and
    /// until then the memory must stay valid and unchanged. Returns false on EAGAIN (the message was released).
    @discardableResult
    public func sendZeroCopy(_ base: UnsafeRawPointer, count: Int, hint: UnsafeMutableRawPointer?,
                             release: @escaping @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?)
                                -> Void,
                             more: Bool = false, dontWait: Bool = true) throws(TransportError) -> Bool {
        var msg = zmq_msg_t()
        if zmq_msg_init_data(&msg, UnsafeMutableRawPointer(mutating: base), count, release, hint) != 0 {
            throw TransportError.last("zmq_msg_init_data")
        }
        let flags = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        while true {
            if zmq_msg_send(&msg, handle, flags) >= 0 { return true }  // libzmq owns msg now
            let e = zmq_errno()
            if e == EINTR { continue }
            zmq_msg_close(&msg)  // runs `release`
            if e == EAGAIN { return false }
            throw TransportError.zmq(call: "zmq_msg_send", errno: e, message: String(cString: zmq_strerror(e)))
        }
    }

    /// Receives one frame into `message` (no copy out of libzmq's buffer). Returns false if none is waiting
    /// (`dontWait`).
    public func receive(into message: ZMQMessage, dontWait: Bool = true) throws(TransportError) -> Bool {
        while true {
            if zmq_msg_recv(message.msg, handle, dontWait ? ZMQ_DONTWAIT : 0) >= 0 { return true }
            let e = zmq_errno()
            if e == EAGAIN { return false }
            if e == EINTR { continue }
            throw TransportError.last("zmq_msg_recv")
        }
    }

    /// Starts a monitor publishing `events` (ZMQ_EVENT_* bits) and returns the PAIR socket that receives them.
    public func monitor(name: String, events: Int32) throws(TransportError) -> ZMQSocket {
        let endpoint = "inproc://\(name)"
        if zmq_socket_monitor(handle, endpoint, events) != 0 { throw TransportError.last("zmq_socket_monitor") }
        let pair = try ZMQSocket(context, .pair)
        try pair.set(.linger(milliseconds: 0))
        try pair.connect(endpoint)
        return pair
    }
}
