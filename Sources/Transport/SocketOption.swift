import CZMQ

/// The ZeroMQ socket options mugs sets, typed. Durations are in milliseconds as libzmq takes them.
public enum SocketOption: Sendable {
    /// ZMQ_LINGER: how long pending outbound messages are kept after close (0 = drop at once).
    case linger(milliseconds: Int32)
    /// ZMQ_IMMEDIATE: queue messages only to completed connections (sends block instead of piling up for a peer
    /// that is not there).
    case immediate(Bool)
    /// ZMQ_SNDHWM / ZMQ_RCVHWM: message high-water marks (backstops; ring flow control is by credits).
    case sendHighWaterMark(Int32)
    case receiveHighWaterMark(Int32)
    /// ZMQ_MAXMSGSIZE: largest inbound frame; a peer sending more is disconnected.
    case maxMessageSize(Int64)
    /// ZMQ_HEARTBEAT_IVL / _TIMEOUT / _TTL: ZMTP PING interval, how long to wait for traffic after a PING before
    /// dropping the connection, and the TTL asked of the peer.
    case heartbeatInterval(milliseconds: Int32)
    case heartbeatTimeout(milliseconds: Int32)
    case heartbeatTTL(milliseconds: Int32)
    /// ZMQ_RECONNECT_IVL / ZMQ_RECONNECT_IVL_MAX: reconnection back-off.
    case reconnectInterval(milliseconds: Int32)
    case reconnectIntervalMax(milliseconds: Int32)
    /// ZMQ_CONNECT_TIMEOUT: TCP connect timeout (0 = the OS's).
    case connectTimeout(milliseconds: Int32)
    /// ZMQ_ROUTER_MANDATORY: a ROUTER send to an unknown or gone peer fails (EHOSTUNREACH) instead of vanishing.
    case routerMandatory(Bool)
    /// ZMQ_ROUTER_HANDOVER: a new connection with a known routing id takes it over.
    case routerHandover(Bool)
    /// ZMQ_ROUTING_ID: this socket's identity as seen by a ROUTER peer (1...255 bytes).
    case routingID([UInt8])
    /// ZMQ_IPV6: allow IPv6 endpoints (dual-stack).
    case ipv6(Bool)
    /// ZMQ_SNDBUF / ZMQ_RCVBUF: kernel socket buffer sizes in bytes (-1 = OS default).
    case sendBuffer(Int32)
    case receiveBuffer(Int32)

    var code: Int32 {
        switch self {
        case .linger: return ZMQ_LINGER
        case .immediate: return ZMQ_IMMEDIATE
        case .sendHighWaterMark: return ZMQ_SNDHWM
        case .receiveHighWaterMark: return ZMQ_RCVHWM
        case .maxMessageSize: return ZMQ_MAXMSGSIZE
        case .heartbeatInterval: return ZMQ_HEARTBEAT_IVL
        case .heartbeatTimeout: return ZMQ_HEARTBEAT_TIMEOUT
        case .heartbeatTTL: return ZMQ_HEARTBEAT_TTL
        case .reconnectInterval: return ZMQ_RECONNECT_IVL
        case .reconnectIntervalMax: return ZMQ_RECONNECT_IVL_MAX
        case .connectTimeout: return ZMQ_CONNECT_TIMEOUT
        case .routerMandatory: return ZMQ_ROUTER_MANDATORY
        case .routerHandover: return ZMQ_ROUTER_HANDOVER
        case .routingID: return ZMQ_ROUTING_ID
        case .ipv6: return ZMQ_IPV6
        case .sendBuffer: return ZMQ_SNDBUF
        case .receiveBuffer: return ZMQ_RCVBUF
        }
    }
}
