import CZMQ
import Foundation
import Wire

/// A ring of ranks exchanging data over ZeroMQ: all-reduce (reduce-scatter + all-gather) of Float32 buffers and
/// all-gather of variable-length blocks. Built once per generation from the coordinator's plan, then used for
/// every step of that generation (`try ring.allReduce(fused, keepingAlive: owner)`); any peer failure makes every
/// rank's operation throw a `RingError` naming the failed peer within `options.peerTimeout`, and the ring is then
/// unusable (the coordinator forms the next generation).
///
/// Socket pattern (docs/TRANSPORT.md): each rank binds ONE ROUTER on its data endpoint (the fixed data port) and
/// connects ONE DEALER to its successor's. Segments flow DEALER → successor's ROUTER; credits and aborts flow
/// back ROUTER → predecessor's DEALER on the same TCP connection. Not thread-safe: one thread drives a ring.
public final class Ring {
    public let rank: Int
    public let size: Int
    /// Every rank's data endpoint, in rank (ring) order.
    public let endpoints: [String]
    public let generation: UInt64
    public let jobID: UInt64
    public let options: RingOptions
    public internal(set) var statistics = RingStatistics()

    public var predecessor: Int { (rank + size - 1) % size }
    public var successor: Int { (rank + 1) % size }

    enum State { case forming, ready, failed(RingError), closed }
    var state: State = .forming

    // Sockets (nil for a ring of one, and after close).
    var context: ZMQContext?
    var inbound: ZMQSocket!
    var outbound: ZMQSocket!
    var inboundEvents: ZMQSocket!
    var outboundEvents: ZMQSocket!
    var poller: ZMQPoller!
    static let pollInbound = 0, pollOutbound = 1, pollInboundEvents = 2, pollOutboundEvents = 3

    // Receive scratch, reused.
    let frameID = ZMQMessage()
    let frameHeader = ZMQMessage()
    let frameData = ZMQMessage()
    let frameExtra = ZMQMessage()
    let headerScratch = UnsafeMutableRawPointer.allocate(byteCount: FrameHeader.size, alignment: 8)

    /// The predecessor's routing id, learned from its hello.
    let predecessorID = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
    var predecessorIDCount = 0
    var helloSent = false
    /// Shared-memory path to a co-located successor: our slots, whether the offer went out, whether it accepted.
    var sendSlots: SharedSlots?
    var offerSent = false
    var successorShares = false
    /// The predecessor's slots, mapped read-only once its offer is accepted; `announceShared` forces the credit
    /// that tells it so.
    var receiveSlots: SharedSlots?
    var announceShared = false
    let sharedBodyScratch = UnsafeMutableRawPointer.allocate(byteCount: RingSharedSegment.bodySize, alignment: 8)
    /// When the ROUTER reported a disconnect that may be the predecessor's (checked by a mandatory send).
    var predecessorSuspectSince: Date?
    /// A neighbour's connection went away at a moment we needed nothing from it (it may have finished the last
    /// operation and closed); the next operation that needs it fails at once.
    var predecessorLost = false
    var successorLost = false
    /// The DEALER's TCP connection to the successor's data endpoint came up at least once (monitor event): a ring
    /// that does not form without it names the successor unreachable (`RingError.cannotConnect`).
    var successorConnected = false
    /// When the DEALER started connecting (the ring was built): how long the successor has had to accept.
    let createdAt = Date()

    // Flow control, over the global segment sequence of each direction.
    var sendSequence: UInt64 = 0
    var receiveSequence: UInt64 = 0
    var creditLimit: UInt64 = 0
    var granted: UInt64 = 0
    var creditReceived = false

    // The operation in flight.
    var schedule: RingSchedule
    let tracker = ZeroCopyTracker()
    var opBase: UnsafeMutableRawPointer?
    var opStep: UInt64 = 0
    var opSent = 0
    var opReceived = 0
    var opActive = false
    var lastProgress = Date()
    var ownedChunkReduced: ((Range<Int>) -> Void)?
    var ownedChunkFloats: Range<Int> = 0 ..< 0

    /// Asked while the ring waits — forming, or an operation without progress for a quarter second — at most
    /// about twice a second: a non-nil reason makes the wait give up with `RingError.interrupted` (after telling
    /// the neighbours) instead of running into `joinTimeout` / `peerTimeout`. A worker uses it to notice that the
    /// coordinator has moved on to the next generation while it waits for a peer that will never come.
    public var interruption: (() -> String?)?
    var lastInterruptionCheck = Date.distantPast

    // All-gather scratch.
    let lengthSlots: AlignedFloatBuffer
    var lengths: [Int]

    /// Forms this rank's side of the ring: binds the data endpoint and connects to the successor. Returns at once;
    /// the first operation (or `waitUntilReady`) waits up to `options.joinTimeout` for both neighbours.
    /// - Parameters:
    ///   - rank: this process's position in the ring, 0 ..< endpoints.count.
    ///   - endpoints: every rank's data endpoint in ring order (`tcp://host:port`, `tcp://[v6]:port`, `ipc://…`).
    ///   - generation: the membership generation; messages of any other generation are dropped.
    ///   - jobID: the job's identity; messages of another job are dropped.
    public init(rank: Int, endpoints: [String], generation: UInt64, jobID: UInt64,
                options: RingOptions = RingOptions()) throws(RingError) {
        guard !endpoints.isEmpty else { throw .invalidConfiguration("no endpoints") }
        guard (0 ..< endpoints.count).contains(rank) else {
            throw .invalidConfiguration("rank \(rank) outside 0..<\(endpoints.count)")
        }
        guard options.window >= 1, options.peerTimeout > 0, options.joinTimeout > 0, options.segmentBytes >= 64,
              (1 ... 64).contains(options.ioThreads) else {
            throw .invalidConfiguration("window ≥ 1, timeouts > 0, segmentBytes ≥ 64 and 1...64 I/O threads "
                                        + "are required")
        }
        self.rank = rank
        self.size = endpoints.count
        self.endpoints = endpoints
        self.generation = generation
        self.jobID = jobID
        self.options = options
        schedule = RingSchedule(rank: rank, size: endpoints.count)
        lengthSlots = AlignedFloatBuffer(count: 2 * endpoints.count)
        lengths = [Int](repeating: 0, count: endpoints.count)
        var parsed: [Endpoint] = []
        for e in endpoints + (options.bindEndpoint.map { [$0] } ?? []) {
            do { parsed.append(try Endpoint(e)) } catch { throw .invalidConfiguration("\(error)") }
        }
        if size == 1 {
            state = .ready
            return
        }
        if options.retainReceiveBuffers { Self.retainLargeAllocations() }
        if options.sharedMemory {
            sendSlots = SharedSlots.create(slots: options.window, slotBytes: options.effectiveSegmentBytes)
        }
        do {
            try openSockets(ipv6: parsed.contains { $0.isIPv6 })
        } catch {
            closeSockets()
            if case let .zmq(call, _, _) = error, call.hasPrefix("zmq_bind") {
                throw .bindFailed(endpoint: options.bindEndpoint ?? endpoints[rank], cause: error)
            }
            throw .transport(error)
        }
    }

    deinit {
        close()
        headerScratch.deallocate()
        sharedBodyScratch.deallocate()
        predecessorID.deallocate()
    }

    /// The float range of an all-reduce of `count` floats that this rank owns (holds fully reduced) after
    /// reduce-scatter: chunk (rank+1) mod size. The owner sends this range to the coordinator.
    public func ownedRange(count: Int) -> Range<Int> {
        RingSchedule.chunkRange((rank + 1) % size, size: size, count: count)
    }

    /// The range rank `r` owns, for any ring of `size` ranks.
    public static func ownedRange(rank r: Int, size: Int, count: Int) -> Range<Int> {
        RingSchedule.chunkRange((r + 1) % size, size: size, count: count)
    }

    /// Closes the sockets (undelivered messages are kept for `options.linger`) and the context. Idempotent.
    public func close() {
        closeSockets()
        if case .failed = state { return }  // stays failed: later calls report why
        state = .closed
    }

    private func openSockets(ipv6: Bool) throws(TransportError) {
        let ctx = try ZMQContext(ioThreads: options.ioThreads)
        context = ctx
        let segment = options.effectiveSegmentBytes
        let hbIvl = Int32(max(1, options.effectiveHeartbeatInterval * 1000))
        let hbTimeout = Int32(max(1, options.effectiveHeartbeatTimeout * 1000))
        let linger = Int32(options.linger * 1000)
        let hwm = Int32(options.window * 2 + 64)
        let object = UInt(bitPattern: ObjectIdentifier(self).hashValue)
        let tag = "mugs-ring-\(ProcessInfo.processInfo.processIdentifier)-\(object)"

        let router = try ZMQSocket(ctx, .router)
        inbound = router
        for o: SocketOption in [.linger(milliseconds: linger), .routerMandatory(true), .routerHandover(true),
                                .maxMessageSize(Int64(max(segment, 1 << 16))), .receiveHighWaterMark(hwm),
                                .sendHighWaterMark(hwm), .heartbeatInterval(milliseconds: hbIvl),
                                .heartbeatTimeout(milliseconds: hbTimeout), .heartbeatTTL(milliseconds: hbTimeout),
                                .ipv6(ipv6), .sendBuffer(options.socketBufferBytes),
                                .receiveBuffer(options.socketBufferBytes)] {
            try router.set(o)
        }
        inboundEvents = try router.monitor(name: "\(tag)-in", events: ZMQ_EVENT_DISCONNECTED)
        try router.bind(options.bindEndpoint ?? endpoints[rank])

        let dealer = try ZMQSocket(ctx, .dealer)
        outbound = dealer
        var id: [UInt8] = Array("mugs".utf8)
        for v in [jobID, generation, UInt64(rank)] { withUnsafeBytes(of: v.littleEndian) { id += $0 } }
        // IMMEDIATE off, deliberately: with it on, libzmq discards a connection's unread inbound messages when
        // the connection drops, losing the abort a neighbour sends just before closing (and then blaming it).
        // Messages cannot pile up for an absent successor anyway: at most `window` segments are ever sent
        // ahead of its credits.
        for o: SocketOption in [.routingID(id), .linger(milliseconds: linger), .immediate(false),
                                .maxMessageSize(1 << 16), .sendHighWaterMark(hwm), .receiveHighWaterMark(hwm),
                                .heartbeatInterval(milliseconds: hbIvl), .heartbeatTimeout(milliseconds: hbTimeout),
                                .heartbeatTTL(milliseconds: hbTimeout), .reconnectInterval(milliseconds: 100),
                                .reconnectIntervalMax(milliseconds: 1000), .ipv6(ipv6),
                                .sendBuffer(options.socketBufferBytes), .receiveBuffer(options.socketBufferBytes)] {
            try dealer.set(o)
        }
        outboundEvents = try dealer.monitor(name: "\(tag)-out", events: ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_CONNECTED)
        try dealer.connect(endpoints[successor])
        poller = ZMQPoller([router, dealer, inboundEvents, outboundEvents])
    }

    func closeSockets() {
        for s in [inboundEvents, outboundEvents, inbound, outbound] { s?.close() }
        sendSlots = nil
        receiveSlots = nil
        successorShares = false
        inbound = nil
        outbound = nil
        inboundEvents = nil
        outboundEvents = nil
        poller = nil
        context?.terminate()
        context = nil
    }

    private static let largeAllocationsRetained: Void = {
        // glibc's mallopt, looked up at run time (malloc.h is not in the Glibc module; absent on other libcs).
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        _ = mallopt(-3, 32 << 20)  // M_MMAP_THRESHOLD
        _ = mallopt(-1, 256 << 20)  // M_TRIM_THRESHOLD
    }()

    /// See `RingOptions.retainReceiveBuffers`. Once per process.
    static func retainLargeAllocations() { _ = largeAllocationsRetained }

    /// How this rank's two links carry payloads, e.g. "rank 0 of 2: to rank 1 (tcp://b:5601): shared memory; from
    /// rank 1: sockets (predecessor is on another host or namespace)" — known once the first operation has run.
    public var linkSummary: String {
        guard size > 1 else { return "ring of one: no links" }
        let out = successorShares ? "shared memory" : "sockets"
        let why = statistics.sharedMemoryDeclined ?? "no offer: shared memory is off on rank \(predecessor)"
        let into = receiveSlots != nil ? "shared memory" : "sockets (\(why))"
        return "rank \(rank) of \(size): to rank \(successor) (\(endpoints[successor])): \(out); "
            + "from rank \(predecessor): \(into)"
    }

    /// Rank `r`'s endpoint for error messages.
    func endpoint(_ r: Int) -> String { (0 ..< size).contains(r) ? endpoints[r] : "rank \(r) is outside the ring" }
}
