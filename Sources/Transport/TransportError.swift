import CZMQ

/// A failure of the ZeroMQ layer, with the call that failed and libzmq's own explanation.
public enum TransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A libzmq call returned an error: `call` (e.g. "zmq_bind tcp://0.0.0.0:5601"), errno and zmq_strerror text.
    case zmq(call: String, errno: Int32, message: String)
    /// An endpoint string that is not `tcp://host:port`, `tcp://[v6addr]:port`, `ipc://path` or `inproc://name`.
    case invalidEndpoint(String, reason: String)

    public var description: String {
        switch self {
        case let .zmq(call, errno, message): return "\(call) failed: \(message) (errno \(errno))"
        case let .invalidEndpoint(e, reason): return "invalid endpoint '\(e)': \(reason)"
        }
    }

    /// The current zmq_errno as an error for `call`.
    static func last(_ call: @autoclosure () -> String) -> TransportError {
        let e = zmq_errno()
        return .zmq(call: call(), errno: e, message: String(cString: zmq_strerror(e)))
    }
}
