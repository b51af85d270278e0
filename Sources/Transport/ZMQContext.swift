import CZMQ

/// A libzmq context (its I/O threads). Sockets keep their context alive; `terminate()` (or deinit) blocks until
/// every socket is closed and its LINGER period has passed.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private var terminated = false

    /// - Parameter ioThreads: libzmq I/O threads (ZMQ_IO_THREADS); one moves several GB/s.
    public init(ioThreads: Int = 1) throws(TransportError) {
        guard let h = zmq_ctx_new() else { throw TransportError.last("zmq_ctx_new") }
        handle = h
        if zmq_ctx_set(h, ZMQ_IO_THREADS, Int32(ioThreads)) != 0 { throw TransportError.last("zmq_ctx_set IO_THREADS") }
    }

    /// Terminates the context once all its sockets are closed. Idempotent.
    public func terminate() {
        guard !terminated else { return }
        terminated = true
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    deinit { terminate() }

    /// The libzmq version as "major.minor.patch".
    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
