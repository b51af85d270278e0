/// The coordinator's protocol logic as a deterministic state machine (etcd raft style): events in, actions out, time
/// enters only as `tick(now:)`. It owns membership, ranks and ring order, the generation number, which steps are
/// planned, which reduced segments have arrived, and when a step may be committed. It never touches sockets, tensors
/// or files — the service (`mugs-coordinator`) turns actions into messages and state transfers and feeds replies back.
///
/// Step numbering: a state "at step k" has had k updates applied; step k is the update computed from that state. A
/// worker's `cacheStep` is the step its cache is at; `committed` is the coordinator's.
///
/// A generation is one ring: a fixed, rank-ordered set of workers. Anything that changes the ring (a join, a leave, a
/// silent worker, a ring failure, a diverged state hash) ends it: in-flight uncommitted steps are dropped and redone by
/// the next generation — at most the steps in flight, `lookahead`, and each is redone with the same samples and
/// randomness because plans and augmentation depend only on the step and the sample index.
///
/// No wait is unbounded: a ring that cannot be set up is reported (`ringSetupFailed`) and the worker at fault is
/// evicted; independently, a step in flight that is not committed within `stepTimeout` of becoming the oldest ends the
/// generation, and a member of a forming generation that has not loaded the state within `stepTimeoutFloor` is evicted.
/// (This file is longer than most: it is the whole protocol, and splitting it would scatter one state's invariants.)
public struct CoordinatorMachine: Sendable {
    public typealias WorkerID = UInt64

    public struct Settings: Sendable, Equatable {
        public var minWorkers: Int
        public var maxWorkers: Int
        /// Seconds without any message before a worker is declared dead.
        public var heartbeatTimeout: Double
        /// Steps planned beyond the committed one: one computing, the rest prefetching.
        public var lookahead: Int
        public var totalSteps: Int
        /// Compare workers' state hashes with the coordinator's every this many steps (0 = never).
        public var hashCheckEvery: Int
        /// Hold the pipeline at every committed step that is a multiple of this (0 = never): the step after it is
        /// planned only once `.holdReleased(step:)` says so. The service uses the pause to have a worker read its
        /// state at that step (online kNN) while no step is in flight, so no ring peer waits inside a collective
        /// and no ring timeout can fire. The step the machine starts at is never held.
        public var holdEvery: Int
        /// The floor of the bound on a step, in seconds (`stepTimeout`), and the bound on loading the state when a
        /// generation forms. Generous: before anything is measured a step may take minutes (the first step builds its
        /// buffers; a large model with a large slice per worker computes for a long time).
        public var stepTimeoutFloor: Double
        /// The bound on a step is at least this many times the measured step time.
        public var stepTimeoutFactor: Double

        public init(minWorkers: Int = 1, maxWorkers: Int = 64, heartbeatTimeout: Double = 3, lookahead: Int = 2,
                    totalSteps: Int, hashCheckEvery: Int = 10, holdEvery: Int = 0, stepTimeoutFloor: Double = 300,
                    stepTimeoutFactor: Double = 10) {
            self.minWorkers = minWorkers; self.maxWorkers = maxWorkers; self.heartbeatTimeout = heartbeatTimeout
            self.lookahead = lookahead; self.totalSteps = totalSteps; self.hashCheckEvery = hashCheckEvery
            self.holdEvery = holdEvery; self.stepTimeoutFloor = stepTimeoutFloor
            self.stepTimeoutFactor = stepTimeoutFactor
        }
    }

    public enum Phase: String, Sendable, Equatable {
        /// Fewer live workers than `minWorkers`.
        case waiting
        /// A generation is formed; some members are still receiving the committed state.
        case syncing
        case running
        /// Draining in-flight steps before a new generation (a worker is joining) or a pause/stop.
        case draining
        case paused
        case finished
    }

    public struct Worker: Sendable, Equatable {
        public var id: WorkerID
        public var info: WorkerInfo
        public var lastHeard: Double
        public var cacheStep: Int
        public var joinOrder: Int
    }

    public let settings: Settings
    public private(set) var phase: Phase = .waiting
    public private(set) var generation = 0
    /// Rank-ordered members of the current generation.
    public private(set) var ring: [WorkerID] = []
    public private(set) var workers: [WorkerID: Worker] = [:]
    public private(set) var committed: Int
    /// Next step to plan; steps `committed ..< planned` are in flight.
    public private(set) var planned: Int
    public private(set) var committing: Int?
    public private(set) var now: Double = 0

    private var segments: [Int: Set<Int>] = [:]
    private var workerHashes: [Int: [WorkerID: UInt64]] = [:]
    private var coordinatorHashes: [Int: UInt64] = [:]
    private var joinCounter = 0
    private var pauseRequested = false
    private var stopRequested = false
    private var regroupPending = false
    private var lastFailedPeer: (generation: Int, peer: WorkerID)?
    /// Members of the current generation the committed state is being streamed to.
    private var stateSent: Set<WorkerID> = []
    /// Members of the current generation that were in the ring which committed the last steps and whose caches were
    /// behind at the regroup: they are probably still applying those steps (the coordinator commits as soon as every
    /// chunk is in, before the workers report), so their state is sent only if their next report is not at `committed`.
    private var awaitingReport: Set<WorkerID> = []
    /// The ring of the generation that ended last.
    private var previousRing: Set<WorkerID> = []
    /// The last held step released (`Settings.holdEvery`); steps up to it are planned freely.
    private var releasedHold: Int
    /// When the step waited for (`committed`, while steps are in flight) became the oldest in flight.
    private var waitingSince: Double = 0
    /// When the current generation started loading the state (phase `syncing`).
    private var syncingSince: Double = 0
    /// The time of the last commit while steps follow each other (nil after a regroup, a pause or a hold).
    private var lastCommitTime: Double?
    /// Smoothed seconds between consecutive commits; nil until two consecutive steps committed.
    public private(set) var measuredStepSeconds: Double?
    /// The rank-ordered rings of recent generations, for setup reports that arrive after their generation ended.
    private var recentRings: [Int: [WorkerID]] = [:]

    /// Seconds a step in flight may take to commit, counted from when it became the oldest in flight: the larger of
    /// `stepTimeoutFloor` and `stepTimeoutFactor` × the measured step time.
    public var stepTimeout: Double {
        max(settings.stepTimeoutFloor, settings.stepTimeoutFactor * (measuredStepSeconds ?? 0))
    }

    /// - Parameter lastGeneration: the highest generation a previous coordinator of this job used (from its
    ///   checkpoint), so a restarted coordinator's generations are new to every worker.
    public init(settings: Settings, committedStep: Int, lastGeneration: Int = 0) {
        precondition(settings.minWorkers >= 1 && settings.maxWorkers >= settings.minWorkers && settings.lookahead >= 1
                     && settings.stepTimeoutFloor > 0 && settings.stepTimeoutFactor >= 1)
        self.settings = settings
        generation = max(0, lastGeneration)
        committed = committedStep
        planned = committedStep
        releasedHold = committedStep
        if committedStep >= settings.totalSteps { phase = .finished }
    }

    // MARK: events

    public mutating func handle(_ event: CoordinatorEvent) -> [CoordinatorAction] {
        var out: [CoordinatorAction] = []
        switch event {
        case .tick(let t):
            // Ticks come every ≤ 0.1 s from a running coordinator. A longer gap means this process did not run (SIGSTOP,
            // a paused VM, a suspended laptop, or a long blocking call): the workers' silence in that gap is ours, so
            // it is not held against them — otherwise a whole job paused and resumed together would evict everyone.
            let gap = t - now
            if gap > settings.heartbeatTimeout && !workers.isEmpty {
                for id in workers.keys { workers[id]!.lastHeard += gap }
                waitingSince += gap
                syncingSince += gap
                lastCommitTime = nil
                out.append(.log(String(format: "no tick for %.1f s (this process was stopped or blocked): the workers' "
                                       + "silence during it does not count", gap)))
            }
            now = max(now, t)
            let silent = workers.values.filter { now - $0.lastHeard > settings.heartbeatTimeout }
            for w in silent.sorted(by: { $0.joinOrder < $1.joinOrder }) {
                remove(w.id, reason: String(format: "no message for %.1f s (timeout %.1f s)",
                                            now - w.lastHeard, settings.heartbeatTimeout), evict: true, &out)
            }
            checkBounds(&out)

        case .joined(let id, let info, let cacheStep):
            guard workers[id] == nil else { heard(id); break }
            guard phase != .finished else { out.append(.evict(id, reason: "the job has finished")); break }
            if workers.count >= settings.maxWorkers {
                out.append(.evict(id, reason: "the job already has --max-workers \(settings.maxWorkers) workers"))
                break
            }
            joinCounter += 1
            workers[id] = Worker(id: id, info: info, lastHeard: now, cacheStep: cacheStep, joinOrder: joinCounter)
            out.append(.log("worker \(id) joined from \(info.host) (data \(info.dataEndpoint), cache at step \(cacheStep))"))
            switch phase {
            case .waiting: regroup(&out)
            case .paused: regroupPending = true // enters when the job resumes
            default: requestRegroup(&out) // at the next step boundary
            }

        case .heard(let id):
            heard(id)

        case .left(let id, let reason):
            if workers[id] != nil { remove(id, reason: reason, evict: false, &out) }

        case .stateReceived(let id, let step):
            guard workers[id] != nil else { break }
            heard(id)
            workers[id]!.cacheStep = step
            awaitingReport.remove(id)
            if phase == .syncing, ring.contains(id), step != committed, !stateSent.contains(id) {
                stateSent.insert(id)
                out.append(.sendState(to: id, step: committed))
            }
            if phase == .syncing { startIfSynced(&out) }

        case .stepApplied(let id, let g, let step, let hash):
            guard workers[id] != nil else { break }
            heard(id)
            // The cache advanced whatever the generation (a worker's messages arrive in order, and it aborts an old
            // generation before loading new state), but only the current ring's hashes are compared.
            workers[id]!.cacheStep = step + 1
            // A member that finished a step of an older generation after the new one was formed is no longer at the
            // committed step: stream it the state (the generation cannot start before it has it).
            let mayCatchUp = awaitingReport.contains(id) && step + 1 < committed
            if phase == .syncing, ring.contains(id), step + 1 != committed, !stateSent.contains(id), !mayCatchUp {
                stateSent.insert(id)
                out.append(.sendState(to: id, step: committed))
            }
            if step + 1 >= committed { awaitingReport.remove(id) }
            if phase == .syncing { startIfSynced(&out) }
            guard g == generation, ring.contains(id) else { break }
            if settings.hashCheckEvery > 0 && (step + 1) % settings.hashCheckEvery == 0 {
                workerHashes[step + 1, default: [:]][id] = hash
                checkHashes(step + 1, &out)
            }

        case .chunkReceived(let id, let g, let step, let segment):
            heard(id)
            guard g == generation, (committed ..< planned).contains(step), (0 ..< ring.count).contains(segment) else { break }
            segments[step, default: []].insert(segment)
            maybeCommit(&out)

        case .committed(let step, let hash):
            precondition(committing == step, "committed \(step) but committing \(String(describing: committing))")
            committing = nil
            committed = step + 1
            segments[step] = nil
            if let t = lastCommitTime {
                let dt = now - t
                measuredStepSeconds = measuredStepSeconds.map { 0.8 * $0 + 0.2 * dt } ?? dt
            }
            lastCommitTime = now
            waitingSince = now
            if settings.hashCheckEvery > 0 && committed % settings.hashCheckEvery == 0 {
                coordinatorHashes[committed] = hash
                checkHashes(committed, &out)
            }
            if committed >= settings.totalSteps {
                phase = .finished
                out.append(.finish(reason: "all \(settings.totalSteps) steps committed"))
                break
            }
            afterCommit(&out)
            maybeCommit(&out)

        case .ringFailed(let id, let g, let step, let peerRank, let reason):
            heard(id)
            ringFailed(id, generation: g, step: step, peerRank: peerRank, reason: reason, &out)

        case .ringSetupFailed(let id, let g, let fault):
            heard(id)
            guard workers[id] != nil, phase != .finished else { break }
            switch fault {
            case .reporter(let why):
                out.append(.log("generation \(g): \(label(id)) cannot set up its side of the ring: \(why)"))
                remove(id, reason: "ring setup failed: \(why)", evict: true, &out)
            case .unreachablePeer(let rank, let why):
                // Any recent generation: the peer's data endpoint is the same in every ring it is in.
                guard let members = recentRings[g], members.indices.contains(rank), members[rank] != id,
                      let peer = workers[members[rank]] else {
                    out.append(.log("generation \(g): \(label(id)) could not reach rank \(rank), which is no longer a "
                                    + "member (\(why))"))
                    break
                }
                out.append(.log("generation \(g): \(label(id)) (rank \(members.firstIndex(of: id) ?? -1)) cannot reach "
                                + "rank \(rank), \(label(peer.id)), at \(peer.info.dataEndpoint): \(why)"))
                // Ring failures blamed on others while this peer was in the ring were probably its doing (a rank
                // waiting for it stalls its neighbours): they do not count towards evicting anyone else.
                lastFailedPeer = nil
                let reason = "its data endpoint \(peer.info.dataEndpoint) cannot be reached from \(label(id)) (\(why))"
                remove(peer.id, reason: reason, evict: true, &out)
            case .silentPeer(let rank, let why):
                ringFailed(id, generation: g, step: committed, peerRank: rank, reason: "ring did not form: \(why)",
                           &out)
            }

        case .pauseRequested:
            guard phase != .finished else { break }
            pauseRequested = true
            out.append(.log("pause requested: finishing in-flight steps"))
            if committing == nil && planned == committed && phase != .waiting { phase = .paused; out.append(.paused) }
            else if phase == .running || phase == .syncing { phase = .draining }

        case .resumeRequested:
            guard pauseRequested || phase == .paused else { break }
            pauseRequested = false
            lastCommitTime = nil
            out.append(.log("resumed"))
            if phase == .paused {
                if regroupPending || ring.isEmpty { regroup(&out) } else { phase = .running; planAhead(&out) }
            } else if phase == .draining && !regroupPending && !stopRequested {
                phase = .running
                planAhead(&out)
            }

        case .holdReleased(let step):
            guard step > releasedHold else { break }
            releasedHold = step
            lastCommitTime = nil
            if phase == .running { planAhead(&out) }

        case .stopRequested:
            guard phase != .finished else { break }
            stopRequested = true
            out.append(.log("stop requested: finishing in-flight steps"))
            if committing == nil && planned == committed { phase = .finished; out.append(.finish(reason: "stop requested")) }
            else { phase = .draining }
        }
        return out
    }

    // MARK: internals

    private mutating func heard(_ id: WorkerID) {
        if workers[id] != nil { workers[id]!.lastHeard = now }
    }

    /// The worker's name for reasons a person reads.
    private func label(_ id: WorkerID) -> String {
        let name = workers[id]?.info.name ?? ""
        return name.isEmpty ? "worker \(id)" : name
    }

    /// A rank's ring failed (an operation, or a neighbour that never completed the handshake). The generation ends;
    /// a peer named by failures in two consecutive generations is evicted even if it still heartbeats (e.g. its data
    /// port is unreachable while its control connection works).
    private mutating func ringFailed(_ id: WorkerID, generation g: Int, step: Int, peerRank: Int?, reason: String,
                                     _ out: inout [CoordinatorAction]) {
        guard g == generation, phase == .running || phase == .draining else { return }
        var peer: WorkerID?
        if let r = peerRank, ring.indices.contains(r) { peer = ring[r] }
        let rank = ring.firstIndex(of: id) ?? -1
        out.append(.log("generation \(g) step \(step): rank \(rank) reports ring failure: \(reason)"))
        if let p = peer, let last = lastFailedPeer, last.peer == p, last.generation == g - 1 {
            remove(p, reason: "ring failures in two consecutive generations", evict: true, &out)
        } else {
            if let p = peer { lastFailedPeer = (g, p) }
            endGeneration(reason: "ring failure", &out)
        }
    }

    /// The bounds on waits that no message ends: a step in flight that does not commit within `stepTimeout` ends the
    /// generation; members that have not loaded the state within `stepTimeoutFloor` of a generation forming are
    /// evicted.
    private mutating func checkBounds(_ out: inout [CoordinatorAction]) {
        if phase == .running || phase == .draining, committing == nil, committed < planned,
           now - waitingSince > stepTimeout {
            let measured = measuredStepSeconds.map { String(format: "%.1f s", $0) } ?? "none yet"
            let reason = String(format: "no progress on step %d for %.1f s (bound %.1f s: the larger of --step-timeout "
                                + "%.0f s and %.0f × the measured step time, %@)", committed, now - waitingSince,
                                stepTimeout, settings.stepTimeoutFloor, settings.stepTimeoutFactor, measured)
            out.append(.log("generation \(generation): \(reason)"))
            endGeneration(reason: reason, &out)
        } else if phase == .syncing, now - syncingSince > settings.stepTimeoutFloor {
            let behind = ring.filter { workers[$0] != nil && workers[$0]!.cacheStep != committed }
            guard !behind.isEmpty else { return }
            let reason = String(format: "did not load the state at step %d within %.0f s (--step-timeout)", committed,
                                settings.stepTimeoutFloor)
            for id in behind {
                workers[id] = nil
                out.append(.evict(id, reason: reason))
                out.append(.log("worker \(id) left: \(reason)"))
            }
            endGeneration(reason: "\(behind.count) member(s) " + reason, &out)
        }
    }

    private mutating func remove(_ id: WorkerID, reason: String, evict: Bool, _ out: inout [CoordinatorAction]) {
        guard workers.removeValue(forKey: id) != nil else { return }
        if evict { out.append(.evict(id, reason: reason)) }
        out.append(.log("worker \(id) left: \(reason)"))
        if ring.contains(id) { endGeneration(reason: "worker \(id) left", &out) }
    }

    /// Ends the current generation: in-flight steps are dropped, members are told to abort.
    private mutating func endGeneration(reason: String, _ out: inout [CoordinatorAction]) {
        if !ring.isEmpty { out.append(.abortGeneration(generation: generation, reason: reason)) }
        if !ring.isEmpty { previousRing = Set(ring) }
        ring = []
        // A commit already under way completes (the coordinator holds every segment); later steps are redone.
        planned = committing.map { $0 + 1 } ?? committed
        for s in Array(segments.keys) where s >= planned { segments[s] = nil }
        if committing == nil { regroup(&out) } else { regroupPending = true; phase = .draining }
    }

    private mutating func requestRegroup(_ out: inout [CoordinatorAction]) {
        regroupPending = true
        if committing == nil && planned == committed { regroup(&out) }
        else if phase == .running { phase = .draining }
    }

    /// Forms a new generation from the live workers at the committed step.
    private mutating func regroup(_ out: inout [CoordinatorAction]) {
        regroupPending = false
        guard !stopRequested else { phase = .finished; out.append(.finish(reason: "stop requested")); return }
        if !ring.isEmpty {
            out.append(.abortGeneration(generation: generation, reason: "ring re-formed"))
            previousRing = Set(ring)
        }
        // Ranks follow join order, so a re-formed ring keeps the survivors' relative order.
        let members = workers.values.sorted { $0.joinOrder < $1.joinOrder }.prefix(settings.maxWorkers).map(\.id)
        ring = []
        planned = committed
        guard members.count >= settings.minWorkers else {
            if phase != .waiting {
                out.append(.log("waiting: \(members.count) live worker(s), --min-workers is \(settings.minWorkers)"))
            }
            phase = .waiting
            return
        }
        if pauseRequested { phase = .paused; out.append(.paused); return }
        generation += 1
        ring = Array(members)
        recentRings[generation] = ring
        for g in Array(recentRings.keys) where g < generation - 4 { recentRings[g] = nil }
        lastCommitTime = nil
        out.append(.startGeneration(generation: generation, ring: ring, firstStep: committed))
        stateSent = []
        awaitingReport = []
        for id in ring where workers[id]!.cacheStep != committed {
            let cache = workers[id]!.cacheStep
            if cache >= 0 && cache < committed && previousRing.contains(id) {
                awaitingReport.insert(id)
            } else {
                stateSent.insert(id)
                out.append(.sendState(to: id, step: committed))
            }
        }
        phase = .syncing
        syncingSince = now
        startIfSynced(&out)
    }

    private mutating func startIfSynced(_ out: inout [CoordinatorAction]) {
        guard ring.allSatisfy({ workers[$0]?.cacheStep == committed }) else { return }
        phase = .running
        planAhead(&out)
    }

    private mutating func afterCommit(_ out: inout [CoordinatorAction]) {
        switch phase {
        case .running:
            planAhead(&out)
        case .draining where planned == committed:
            if stopRequested { phase = .finished; out.append(.finish(reason: "stop requested")) }
            else if regroupPending { regroup(&out) } // regroup pauses instead if a pause is pending
            else if pauseRequested { phase = .paused; out.append(.paused) }
            else { phase = .running; planAhead(&out) }
        default:
            break
        }
    }

    /// Whether `step` may not be planned yet: the state at it is held (`Settings.holdEvery`) and not released.
    public func isHeld(_ step: Int) -> Bool {
        settings.holdEvery > 0 && step > releasedHold && step % settings.holdEvery == 0
    }

    /// Keeps `lookahead` steps in flight, telling every rank its share; never plans past a held step.
    private mutating func planAhead(_ out: inout [CoordinatorAction]) {
        if planned == committed { waitingSince = now }  // the first step planned becomes the oldest in flight
        while planned < committed + settings.lookahead && planned < settings.totalSteps && !isHeld(planned) {
            for (rank, id) in ring.enumerated() {
                out.append(.sendPlan(to: id, generation: generation, step: planned, rank: rank, worldSize: ring.count))
            }
            planned += 1
        }
    }

    /// Steps commit in order, one at a time, once every rank's reduced segment has arrived.
    private mutating func maybeCommit(_ out: inout [CoordinatorAction]) {
        guard committing == nil, committed < planned, segments[committed]?.count == ring.count else { return }
        committing = committed
        out.append(.commit(generation: generation, step: committed))
    }

    private mutating func checkHashes(_ step: Int, _ out: inout [CoordinatorAction]) {
        guard let mine = coordinatorHashes[step], let theirs = workerHashes[step] else { return }
        for (id, h) in theirs.sorted(by: { $0.key < $1.key }) where h != mine {
            out.append(.log(String(format: "worker %llu state hash at step %d differs (%016llx vs %016llx): resyncing",
                                   id, step, h, mine)))
            workers[id]?.cacheStep = -1
            if ring.contains(id) { requestRegroup(&out) }
        }
        workerHashes[step] = nil
        for s in Array(workerHashes.keys) where s < step { workerHashes[s] = nil }
        for s in Array(coordinatorHashes.keys) where s < step { coordinatorHashes[s] = nil }
    }
}

import Foundation
