import CZMQ

/// One received frame, owned: a `zmq_msg_t` at a stable heap address, reused across receives (each receive frees
/// the previous content). `bytes` points into libzmq's receive buffer, so consumers read the frame without a copy.
public final class ZMQMessage {
    let msg: UnsafeMutablePointer<zmq_msg_t>

    public init() {
        msg = .allocate(capacity: 1)
        zmq_msg_init(msg)
    }

    deinit {
        zmq_msg_close(msg)
        msg.deallocate()
    }

    /// The frame's bytes; valid until the next receive into this message. Alignment is whatever libzmq gave
    /// (read with `loadUnaligned`).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: zmq_msg_data(msg), count: zmq_msg_size(msg))
    }

    public var count: Int { zmq_msg_size(msg) }

    /// Whether more frames of the same multipart message follow.
    public var hasMore: Bool { zmq_msg_more(msg) != 0 }

    /// Frees the content now (a large frame's buffer) and leaves an empty message.
    public func clear() {
        zmq_msg_close(msg)
        zmq_msg_init(msg)
    }
}
