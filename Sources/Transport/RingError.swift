/// Why a ring operation failed. Peer failures name the peer (rank and data endpoint) so a person, or the
/// coordinator, knows which worker to look at.
public enum RingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// How a peer was seen to fail.
    public enum Cause: Equatable, Sendable, CustomStringConvertible {
        /// Its connection dropped (process died, or ZMTP heartbeats went unanswered).
        case disconnected
        /// No progress from it for this many seconds.
        case timedOut(seconds: Double)
        /// Another rank detected the failure and aborted the ring; its reason.
        case reportedBy(rank: Int, reason: String)

        public var description: String {
            switch self {
            case .disconnected: return "connection lost"
            case let .timedOut(s): return "no progress for \(s) s"
            case let .reportedBy(r, reason): return "reported by rank \(r): \(reason)"
            }
        }
    }

    /// A peer died, stopped or became unreachable during an operation.
    case peerFailed(rank: Int, endpoint: String, cause: Cause)
    /// The ring did not form: these neighbours were not up within the join timeout.
    case joinTimedOut(waitingFor: [Int], endpoints: [String], seconds: Double)
    /// The ring did not form because no TCP connection to the successor's data endpoint ever came up (its address is
    /// not reachable from here, nothing listens there, or a firewall drops the connection); `detail` is what one
    /// plain connection attempt got (`TCPProbe`).
    case cannotConnect(rank: Int, endpoint: String, seconds: Double, detail: String)
    /// This rank cannot bind its data endpoint (`bindEndpoint`): an address no interface has, a port in use, or a host
    /// name where ZeroMQ needs a numeric address or an interface name.
    case bindFailed(endpoint: String, cause: TransportError)
    /// A peer of the same job and generation sent something the protocol does not allow (different buffer size,
    /// out-of-order segment, wrong segment length).
    case protocolViolation(rank: Int, endpoint: String, detail: String)
    /// Bad arguments (rank out of range, unparsable endpoint, options out of range).
    case invalidConfiguration(String)
    /// The ZeroMQ layer failed.
    case transport(TransportError)
    /// The ring failed earlier (the inner error) and cannot be used again; form a new one (next generation).
    indirect case ringUnusable(RingError)
    /// The owner's `Ring.interruption` check asked to give up (e.g. the coordinator already formed the next
    /// generation); the reason it gave.
    case interrupted(String)

    public var description: String {
        switch self {
        case let .peerFailed(rank, endpoint, cause): return "ring peer rank \(rank) (\(endpoint)) failed: \(cause)"
        case let .joinTimedOut(ranks, endpoints, s):
            return "ring did not form within \(s) s: waiting for rank(s) \(ranks) at \(endpoints)"
        case let .protocolViolation(rank, endpoint, detail):
            return "ring peer rank \(rank) (\(endpoint)) broke the protocol: \(detail)"
        case let .cannotConnect(rank, endpoint, s, detail):
            return "ring did not form within \(s) s: no connection to rank \(rank)'s data endpoint \(endpoint) ever "
                + "came up (\(detail))"
        case let .bindFailed(endpoint, cause):
            if case let .zmq(_, errno, message) = cause {
                return "cannot bind the ring data endpoint \(endpoint): \(message) (errno \(errno))"
            }
            return "cannot bind the ring data endpoint \(endpoint): \(cause)"
        case let .invalidConfiguration(s): return "ring configuration: \(s)"
        case let .transport(e): return "ring transport: \(e)"
        case let .ringUnusable(e): return "ring already failed (\(e)); form a new generation"
        case let .interrupted(reason): return "ring operation interrupted: \(reason)"
        }
    }

    /// The rank blamed: the failed peer, the protocol breaker, or the first neighbour that never showed up.
    public var failedRank: Int? {
        switch self {
        case let .peerFailed(rank, _, _), let .protocolViolation(rank, _, _), let .cannotConnect(rank, _, _, _):
            return rank
        case let .joinTimedOut(waiting, _, _): return waiting.first
        case let .ringUnusable(e): return e.failedRank
        default: return nil
        }
    }
}
