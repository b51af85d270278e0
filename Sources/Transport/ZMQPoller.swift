import CZMQ

/// `zmq_poll` over a fixed set of sockets, with a timeout on every wait.
public struct ZMQPoller {
    private var items: [zmq_pollitem_t]

    public init(_ sockets: [ZMQSocket]) {
        items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
    }

    /// Which readiness to wait for on the socket at `index`: a message to read, room to write, or neither.
    public mutating func setEvents(_ index: Int, read: Bool, write: Bool) {
        items[index].events = (read ? Int16(ZMQ_POLLIN) : 0) | (write ? Int16(ZMQ_POLLOUT) : 0)
    }

    /// Waits up to `timeout` seconds for any socket to become ready; returns how many are (0 on timeout or EINTR).
    @discardableResult
    public mutating func poll(timeout: Double) throws(TransportError) -> Int {
        let ms = Int(max(0, min(timeout, 3600)) * 1000)
        for i in items.indices { items[i].revents = 0 }
        let n = zmq_poll(&items, Int32(items.count), ms)
        if n < 0 {
            if zmq_errno() == EINTR { return 0 }
            throw TransportError.last("zmq_poll")
        }
        return Int(n)
    }

    public func readable(_ index: Int) -> Bool { items[index].revents & Int16(ZMQ_POLLIN) != 0 }
    public func writable(_ index: Int) -> Bool { items[index].revents & Int16(ZMQ_POLLOUT) != 0 }
}
