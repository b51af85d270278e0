import Foundation
import JobCommon
import Transport
import Wire

/// The worker's I/O thread: owns the DEALER to the coordinator. It joins (and re-joins with back-off when the
/// coordinator is gone), sends heartbeats on its own clock (so a long step never looks like silence), forwards what
/// the compute thread queues on an in-process PUSH socket, and hands every coordinator message to the compute thread
/// through `WorkerInbox`. On SIGTERM it sends `Leave` and tells the compute thread to stop.
final class WorkerLink {
    /// What the compute thread publishes for heartbeats and joins.
    final class Shared: @unchecked Sendable {
        private let lock = NSLock()
        private var _cacheStep: Int = -1
        private var _imagesPerSecond = 0.0
        private var _cacheHash: UInt64?
        private var _gemmGflopPerSecond = 0.0
        /// The GEMM engine and kernel family (`GemmEngine.description`), reported in every join; set before `start`.
        var gemm = ""
        /// The precisions this worker can run and why any is missing (`Join.precisions`, `Join.precisionNote`); set
        /// before `start`.
        var precisions = "fp32", precisionNote = ""
        /// GEMM throughput of the last step, reported in heartbeats.
        var gemmGflopPerSecond: Double {
            get { lock.lock(); defer { lock.unlock() }; return _gemmGflopPerSecond }
            set { lock.lock(); _gemmGflopPerSecond = newValue; lock.unlock() }
        }
        private var _evictionsInARow = 0
        /// Evictions since this worker last applied a step (the compute thread resets it, the I/O thread counts).
        var evictionsInARow: Int {
            get { lock.lock(); defer { lock.unlock() }; return _evictionsInARow }
            set { lock.lock(); _evictionsInARow = newValue; lock.unlock() }
        }
        /// The hash of the cache at `cacheStep`, when the compute thread has computed it (nil: unknown).
        var cacheHash: UInt64? {
            get { lock.lock(); defer { lock.unlock() }; return _cacheHash }
            set { lock.lock(); _cacheHash = newValue; lock.unlock() }
        }
        var cacheStep: Int {
            get { lock.lock(); defer { lock.unlock() }; return _cacheStep }
            set { lock.lock(); _cacheStep = newValue; _cacheHash = nil; lock.unlock() }
        }
        var imagesPerSecond: Double {
            get { lock.lock(); defer { lock.unlock() }; return _imagesPerSecond }
            set { lock.lock(); _imagesPerSecond = newValue; lock.unlock() }
        }
    }

    let settings: WorkerSettings
    let log: JobLog
    let inbox: WorkerInbox
    let shared: Shared
    let context: ZMQContext
    let outboxEndpoint: String
    private let dealer: ZMQSocket
    private let pull: ZMQSocket
    private let scratch = ZMQMessage()
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    private(set) var jobID: UInt64 = 0
    /// The data endpoint joins advertise (`DataAddress.advertised`); set before `start()`.
    var dataEndpoint = ""
    private let stopLock = NSLock()
    private var _stopped = false
    /// The I/O thread has finished (nothing forwards the outbox any more).
    var stopped: Bool { stopLock.lock(); defer { stopLock.unlock() }; return _stopped }
    private var joined = false
    private var lastHeardCoordinator = 0.0
    private var nextJoinAttempt = 0.0
    private var backoff = 0.5
    private var heartbeatInterval = 1.0
    private var heartbeatTimeout = 3.0
    private var lastHeartbeat = 0.0

    init(settings: WorkerSettings, log: JobLog, inbox: WorkerInbox, shared: Shared) throws {
        self.settings = settings
        self.log = log
        self.inbox = inbox
        self.shared = shared
        context = try ZMQContext(ioThreads: 1)
        outboxEndpoint = "inproc://mugs-worker-outbox"
        pull = try ZMQSocket(context, .pull)
        try pull.set(.linger(milliseconds: 0))
        try pull.set(.receiveHighWaterMark(100_000))
        try pull.bind(outboxEndpoint)
        dealer = try ZMQSocket(context, .dealer)
        for o: SocketOption in [.routingID(Array(settings.workerID.utf8.prefix(255))), .linger(milliseconds: 1000),
                                .immediate(true), .maxMessageSize(1 << 30), .sendHighWaterMark(100_000),
                                .receiveHighWaterMark(100_000), .heartbeatInterval(milliseconds: 1000),
                                .heartbeatTimeout(milliseconds: 3000), .heartbeatTTL(milliseconds: 3000),
                                .reconnectInterval(milliseconds: 100), .reconnectIntervalMax(milliseconds: 2000),
                                .ipv6(settings.coordinator.contains("["))] {
            try dealer.set(o)
        }
        do { try dealer.connect(settings.coordinator) } catch {
            throw JobError("--coordinator \(settings.coordinator)", "\(error)")
        }
    }

    /// A PUSH socket for the compute thread (use it only there).
    func makeOutbox() throws -> ZMQSocket {
        let push = try ZMQSocket(context, .push)
        try push.set(.linger(milliseconds: 1000))
        try push.set(.sendHighWaterMark(100_000))
        try push.connect(outboxEndpoint)
        return push
    }

    func start() {
        let t = Thread { [self] in self.loop(); self.done.signal() }
        t.name = "mugs-worker-io"
        thread = t
        t.start()
    }

    /// Waits for the I/O thread to finish (after it saw SIGTERM or `inbox.close`).
    func join() { done.wait() }

    private func loop() {
        var poller = ZMQPoller([dealer, pull])
        var leaving = false
        var lastLoop = ProcessLifecycle.now()
        while true {
            _ = try? poller.poll(timeout: 0.1)
            let now = ProcessLifecycle.now()
            // This loop runs every ≤ 0.1 s; a longer gap means this process was stopped (e.g. the whole job was
            // SIGSTOPped and continued): the coordinator's silence in that gap is ours, not its.
            if now - lastLoop > heartbeatTimeout { lastHeardCoordinator += now - lastLoop }
            lastLoop = now
            drainCoordinator(now)
            drainOutbox()
            if inbox.isClosed { break }
            if ProcessLifecycle.terminationRequested || ProcessLifecycle.interruptRequested || ProcessLifecycle.parentGone {
                leaving = true
                break
            }
            if joined && now - lastHeardCoordinator > heartbeatTimeout {
                joined = false
                log.log("coordinator", String(format: "no message from the coordinator for %.1f s: keeping the cache "
                        + "(step %d) and trying to rejoin", now - lastHeardCoordinator, shared.cacheStep))
                inbox.push(.coordinatorLost)
                backoff = 0.5
                nextJoinAttempt = now + 0.2 // let the compute thread publish its cache's hash first
            }
            if !joined && now >= nextJoinAttempt {
                sendJoin()
                nextJoinAttempt = now + backoff
                backoff = min(backoff * 2, settings.maxBackoff)
            }
            if joined && now - lastHeartbeat >= heartbeatInterval {
                lastHeartbeat = now
                let c = shared.cacheStep
                send(.heartbeat(Heartbeat(workerID: settings.workerID, cachedStep: c >= 0 ? UInt64(c) : nil,
                                          imagesPerSecond: shared.imagesPerSecond,
                                          gemmGflopPerSecond: shared.gemmGflopPerSecond)))
            }
        }
        if leaving {
            log.log("leave", "leaving the job (signal); the job continues without this worker")
            drainOutbox()
            if joined { send(.job(.leave(reason: "\(settings.workerID) received a termination signal"))) }
            inbox.push(.terminate)
        }
        stopLock.lock(); _stopped = true; stopLock.unlock()
        dealer.close()
        pull.close()
    }

    private func send(_ m: Message) {
        _ = try? JobChannel.send(Envelope(jobID: jobID, generation: 0, step: UInt64(max(0, shared.cacheStep)), message: m),
                                 on: dealer)
    }

    private func sendJoin() {
        let c = shared.cacheStep, h = shared.cacheHash
        send(.join(Join(workerID: settings.workerID, host: settings.host, dataEndpoint: dataEndpoint,
                        cores: UInt32(settings.threads), cachedStep: c >= 0 ? UInt64(c) : nil, token: settings.token,
                        cachedStateHash: c >= 0 ? h : nil, gemm: shared.gemm, precisions: shared.precisions,
                        precisionNote: shared.precisionNote)))
    }

    private func drainCoordinator(_ now: Double) {
        while true {
            let received: JobChannel.Received?
            do { received = try JobChannel.receive(on: dealer, scratch: scratch, hasRoutingID: false) } catch { return }
            guard let r = received else { return }
            guard case let .success(env) = r.envelope else {
                if case let .failure(e) = r.envelope { log.log("refused", "undecodable message from the coordinator: \(e)") }
                continue
            }
            if case let .job(.welcome(w)) = env.message {
                if jobID != 0 && env.jobID != jobID {
                    log.log("coordinator", "the coordinator now runs another job: dropping this worker's cache")
                }
                jobID = env.jobID
                joined = true
                backoff = 0.5
                heartbeatInterval = w.heartbeatInterval
                heartbeatTimeout = w.heartbeatTimeout
            } else if case .job(.refused) = env.message, jobID == 0 {
                // A refusal of our first join comes from a job we never learned the id of.
            } else if env.jobID != jobID {
                log.log("refused", "message for job \(String(env.jobID, radix: 16)) ignored (this worker is in job "
                        + "\(String(jobID, radix: 16)))")
                continue
            }
            lastHeardCoordinator = now
            if case .heartbeat = env.message { continue }
            if case .job(.evict) = env.message {
                joined = false
                nextJoinAttempt = now + evictionBackoff()
            }
            inbox.push(.message(env))
        }
    }

    /// Seconds to wait before joining again after an eviction: 1 s, then doubling (up to `maxSetupBackoff`) while
    /// evictions follow each other without a step applied in between — a worker whose ring keeps failing to form must
    /// not make the others re-form theirs in a tight loop. Says so when it backs off longer.
    private func evictionBackoff() -> Double {
        let n = shared.evictionsInARow + 1
        shared.evictionsInARow = n
        let delay = min(pow(2, Double(n - 1)), max(1, settings.maxSetupBackoff))
        if n > 1 {
            log.log("backoff", String(format: "evicted %d times in a row without applying a step: joining again in "
                                      + "%.0f s (doubling up to %.0f s)", n, delay, settings.maxSetupBackoff),
                    [("evictions", .int(n)), ("seconds", .double(delay))])
        } else {
            log.log("backoff", "joining again in 1 s")
        }
        return delay
    }

    /// Forwards the compute thread's queued messages, frame by frame, to the coordinator.
    private func drainOutbox() {
        while (try? pull.receive(into: scratch)) == true {
            var more = scratch.hasMore
            _ = try? dealer.send(scratch.bytes, more: more)
            while more {
                guard (try? pull.receive(into: scratch, dontWait: false)) == true else { break }
                more = scratch.hasMore
                _ = try? dealer.send(scratch.bytes, more: more)
            }
            scratch.clear()
        }
    }
}
