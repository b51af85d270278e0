/// Tunables of a ring. Defaults suit a LAN or loopback; every timeout is a bound on a wait, never a sleep.
public struct RingOptions: Sendable {
    /// Largest payload of one segment in bytes (rounded down to a multiple of 64, at least 64). ≈1 MiB keeps
    /// per-message overhead small while several segments fit in flight.
    public var segmentBytes: Int = 1 << 20
    /// Segments a sender may have in flight per link (the receiver's credit window).
    public var window: Int = 4
    /// Seconds without progress (no segment or credit moving) after which the peer being waited on is declared
    /// failed. Also drives the heartbeats (`heartbeatInterval`, `heartbeatTimeout`).
    public var peerTimeout: Double = 5
    /// Seconds to wait for both neighbours to be up when the ring forms (a late rank joins within this).
    public var joinTimeout: Double = 60
    /// A wait for the ring to form that is interrupted (`Ring.interruption`) when the ring has existed this many
    /// seconds without a TCP connection to the successor reports the successor unreachable (`RingError.cannotConnect`)
    /// rather than just `interrupted`. A live successor's port accepts connections within a second of its ring being
    /// built (the DEALER retries at most every second), and every member builds its ring when the generation starts.
    public var connectGrace: Double = 2
    /// ZMTP PING interval; default `peerTimeout / 5`.
    public var heartbeatInterval: Double? = nil
    /// Silence after a PING that drops the connection; default `peerTimeout / 2`.
    public var heartbeatTimeout: Double? = nil
    /// How long close keeps undelivered messages (so an abort reaches a live neighbour).
    public var linger: Double = 0.2
    /// Address to bind instead of this rank's public endpoint (e.g. `tcp://*:5601` or `tcp://[::]:5601`).
    public var bindEndpoint: String? = nil
    /// Payloads below this many bytes are copied by libzmq instead of sent zero-copy.
    public var zeroCopyThreshold: Int = 4096
    /// Kernel TCP buffer sizes (ZMQ_SNDBUF / ZMQ_RCVBUF); -1 keeps the OS default (autotuned on Linux).
    public var socketBufferBytes: Int32 = -1

    /// libzmq I/O threads of the ring's context. With 2 the inbound and outbound connections can be driven by
    /// different threads (useful on many-core workers; on a 2-core box the work is the same).
    public var ioThreads: Int = 1
    /// Keep libzmq's large receive buffers in the heap between messages (process-wide glibc `mallopt`: mmap
    /// threshold 32 MiB, trim threshold 256 MiB). Without it every received segment is a fresh mmap, paid in page
    /// faults (~10% of a rank's CPU at 1 MiB segments). Raised, never lowered; off leaves malloc alone.
    public var retainReceiveBuffers = true
    /// Let a link whose two ranks run on the same host (same boot, PID and network namespaces, user) carry segment
    /// bytes through shared memory instead of the socket (`SharedSlots`); headers, credits and failure detection
    /// stay on ZeroMQ. Ranks on different hosts are unaffected. Off forces every payload through ZeroMQ.
    public var sharedMemory = true

    public init() {}

    var effectiveSegmentBytes: Int { max(64, segmentBytes / 64 * 64) }
    var effectiveHeartbeatInterval: Double { heartbeatInterval ?? peerTimeout / 5 }
    var effectiveHeartbeatTimeout: Double { heartbeatTimeout ?? peerTimeout / 2 }
}
