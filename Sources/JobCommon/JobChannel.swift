import Transport
import Wire

/// Sends and receives whole envelopes on a control-plane socket (the coordinator's ROUTER, a worker's DEALER, or
/// the worker's in-process queue). A ROUTER message starts with the peer's routing id frame.
public enum JobChannel {
    /// One received message: the sender's routing id (ROUTER only, else empty) and the envelope, or why its bytes
    /// are not a valid envelope.
    public struct Received {
        public var routingID: [UInt8]
        public var envelope: Result<Envelope, WireError>
    }

    /// Sends `envelope`, prefixed by `routingID` when given (ROUTER). Returns false if the socket would block
    /// (nothing was sent); throws if the peer is unknown (ROUTER_MANDATORY) or the socket failed.
    @discardableResult
    public static func send(_ envelope: Envelope, on socket: ZMQSocket, to routingID: [UInt8]? = nil,
                            dontWait: Bool = true) throws(TransportError) -> Bool {
        let frames = envelope.encodedFrames()
        if let id = routingID {
            guard try socket.send(id, more: true, dontWait: dontWait) else { return false }
        }
        for (i, f) in frames.enumerated() {
            // After the first frame of a multipart message the rest cannot block (libzmq queues it atomically).
            let sent = try socket.send(f, more: i + 1 < frames.count, dontWait: dontWait)
            if !sent && i == 0 && routingID == nil { return false }
        }
        return true
    }

    /// Receives one whole message if one is waiting (nil otherwise). `hasRoutingID` for ROUTER sockets.
    public static func receive(on socket: ZMQSocket, scratch: ZMQMessage, hasRoutingID: Bool)
        throws(TransportError) -> Received? {
        guard try socket.receive(into: scratch) else { return nil }
        var frames: [[UInt8]] = [Array(scratch.bytes)]
        while scratch.hasMore {
            _ = try socket.receive(into: scratch, dontWait: false)
            frames.append(Array(scratch.bytes))
        }
        var id: [UInt8] = []
        if hasRoutingID { id = frames.removeFirst() }
        scratch.clear()
        do throws(WireError) {
            return Received(routingID: id, envelope: .success(try Envelope.decode(frames: frames)))
        } catch {
            return Received(routingID: id, envelope: .failure(error))
        }
    }
}
