import Foundation
import JobCommon
import MugsData
import MugsEval
import MugsModel
import Sampling
import Transport
import Wire

/// `mugs-worker`'s service. The calling thread computes: it takes the coordinator's messages in order from the inbox
/// and runs planned steps (load → LOCAL → ring all-reduce + all-gather → send owned chunk → APPLY → report). The I/O
/// thread (`WorkerLink`) keeps the coordinator connection, heartbeats and re-joins. The worker holds nothing the
/// coordinator cannot rebuild: its state is a cache at `cacheStep`.
public final class WorkerService {
    struct Job {
        let config: MugsConfig
        let configYAML: String
        let welcome: Welcome
        let dataset: ImageDataset
        let crops: MultiCropConfig
        let state: TrainState
        let sections: StateSections
    }

    struct Plan {
        let generation: Int
        let step: Int
        let rank: Int
        let worldSize: Int
        let epoch: Int
        let indices: [Int]
    }

    let settings: WorkerSettings
    let log: JobLog
    let inbox = WorkerInbox()
    let shared = WorkerLink.Shared()
    let link: WorkerLink
    let pool: ComputePool
    var outbox: ZMQSocket!

    var job: Job?
    var cacheStep = -1 { didSet { shared.cacheStep = cacheStep } }
    var receiver = StateReceiver()
    var jobID: UInt64 = 0
    var generation = -1
    var rank = 0
    var worldSize = 0
    var endpoints: [String] = []
    var ring: Ring?
    var loader: BatchLoader?
    var plans: [Plan] = []
    var submitted = 0
    var steps: [Int: (step: TrainStep, out: StepBuffers)] = [:]
    var rankEntries: [StepEntries] = []
    let gathered = GatheredBlocks()
    var entriesBlock: UnsafeMutableRawPointer?
    var entriesBlockBytes = 0
    var exitCode: Int32?
    var lastStepEnd: Double?
    var lastAppliedLog = -Double.infinity
    /// The GEMM engine this worker computes with (chosen once, at start-up).
    let gemm: GemmEngine
    /// Where the data port is bound and what peers are told (worked out at start, `DataAddress`).
    var data: DataAddress!
    /// Unreadable images this worker has met (every loader's, each logged and reported once), and how many of the
    /// current loader's `badFiles` have been looked at.
    var unreadable: Set<String> = []
    var loaderBadFilesSeen = 0
    /// The coordinator's online kNN request waiting for the cache to reach its step (`WorkerService+OnlineKNN`).
    var onlineKNNRequest: (step: Int, generation: Int, request: OnlineKNNRequest)?
    /// The evaluator built for the last request (decoded subsets), reused while the request's parameters stay.
    var onlineKNN: (key: OnlineKNNKey, evaluator: OnlineKNN)?
    /// Per-step scratch kept across steps (filled in place, so a step allocates none of them after the first): the
    /// slice's drop-path seeds and weak flags, and one reduced chunk's floats.
    var seedScratch: [UInt64] = [], weakScratch: [Bool] = [], chunkScratch: [Float] = []

    public init(settings s: WorkerSettings, log: JobLog) throws {
        settings = s
        self.log = log
        pool = ComputePool(threads: s.threads)
        gemm = try BLAS.configure(s.gemm, threads: s.threads)
        shared.gemm = gemm.description
        link = try WorkerLink(settings: s, log: log, inbox: inbox, shared: shared)
    }

    /// Runs until the job finishes, the worker is evicted, or SIGTERM. Returns the exit code.
    public func run() -> Int32 {
        do { outbox = try link.makeOutbox() } catch {
            log.log("fatal", "cannot open the in-process queue: \(error)")
            return 1
        }
        guard let address = resolveDataAddress() else {
            inbox.close()
            outbox.close()
            return 0  // a signal while waiting for the network
        }
        data = address
        link.dataEndpoint = address.advertised
        log.log("start", "starting (\(settings.threads) compute + \(settings.loaderThreads) loader "
                + "threads) joining \(settings.coordinator)")
        log.log("data", address.summary,
                [("advertised", .string(address.advertised)), ("bound", .string(address.bound))])
        if let w = address.warning { log.log("warning", w) }
        log.log("gemm", "gemm: \(gemm), cpu \(GemmEngine.cpu.summary)",
                [("gemm_engine", .string(gemm.kind.rawValue)), ("gemm_kernels", .string(gemm.kernels))])
        if let w = gemm.warning { log.log("warning", "gemm: \(w)") }
        link.start()
        while exitCode == nil {
            // Take every waiting message first (aborts and new generations win over stale plans).
            var item = inbox.next(timeout: runnable() ? 0 : 0.1)
            while let i = item, exitCode == nil {
                handle(i)
                item = inbox.next(timeout: 0)
            }
            skipStalePlans()
            if exitCode == nil { runOnlineKNNIfReady() }
            if exitCode == nil && runnable() { runStep() }
        }
        dropGeneration()
        inbox.close()
        outbox.close()
        link.join()
        log.log("exit", "exits (cache at step \(cacheStep))")
        return exitCode ?? 0
    }

    // MARK: messages

    private func handle(_ item: WorkerInbox.Item) {
        switch item {
        case .terminate:
            exitCode = 0
        case .coordinatorLost:
            onlineKNNRequest = nil
            dropGeneration()
            receiver.reset()
            publishCacheHash()
        case .message(let env):
            handle(env)
        }
    }

    private func handle(_ env: Envelope) {
        let g = Int(env.generation), step = Int(env.step)
        switch env.message {
        case let .job(.welcome(w)):
            jobID = env.jobID
            do { try welcome(w) } catch {
                log.log("fatal", "cannot take part in this job: \(error)")
                send(.job(.leave(reason: "\(error)")), generation: 0, step: 0)
                exitCode = 1
            }
        case let .job(.evict(reason)):
            log.log("evicted", "the coordinator dropped this worker: \(reason) (cache at step \(cacheStep))")
            onlineKNNRequest = nil
            dropGeneration()
            receiver.reset()
            publishCacheHash()
        case let .job(.refused(reason)):
            log.log("refused", "the coordinator refuses this worker: \(reason)")
            exitCode = 1
        case let .job(.finished(reason)):
            log.log("finished", "the job is over: \(reason)")
            send(.job(.leave(reason: "the job is over")), generation: g, step: step)
            exitCode = 0
        case let .job(.generation(r, eps, first)):
            startGeneration(g, rank: Int(r), endpoints: eps, firstStep: Int(first))
        case let .job(.abort(reason)):
            if g == generation {
                log.log("abort", "generation \(g) aborted: \(reason)")
                dropGeneration()
            }
        case let .job(.plan(r, w, epoch, indices)):
            guard g == generation, Int(r) == rank, Int(w) == worldSize else { return }
            let p = Plan(generation: g, step: step, rank: Int(r), worldSize: Int(w), epoch: Int(epoch),
                         indices: indices.map { Int($0) })
            plans.append(p)
            submitPlans()
        case let .job(.onlineKNNRequest(r)):
            onlineKNNRequest = (step, g, r)
        case let .job(.stateHeader(h)):
            guard let j = job else { return }
            do {
                cacheStep = -1
                try receiver.begin(h, step: step, into: j.sections)
            } catch {
                log.log("fatal", "\(error)")
                exitCode = 1
            }
        case let .stateTransfer(t):
            guard let j = job else { return }
            do {
                if try receiver.receive(t, step: step, into: j.sections) {
                    cacheStep = step
                    receiver.reset()
                    log.log("state", "loaded the state at step \(step)")
                    send(.job(.stateReceived), generation: g, step: step)
                }
            } catch {
                log.log("fatal", "\(error)")
                exitCode = 1
            }
        case let .commit(c):
            if c.stateHash != 0, cacheStep == step + 1, let j = job {
                let mine = j.state.stateHash()
                if mine != c.stateHash {
                    log.log("hash", String(format: "state hash after step %d differs from the coordinator's "
                            + "(%016llx vs %016llx)", step, mine, c.stateHash))
                }
            }
        default:
            break
        }
    }

    private func welcome(_ w: Welcome) throws {
        if let j = job, j.configYAML == w.configYAML, j.welcome.datasetFingerprint == w.datasetFingerprint,
           j.welcome.seed == w.seed, j.welcome.stepsPerEpoch == w.stepsPerEpoch {
            job = Job(config: j.config, configYAML: j.configYAML, welcome: w, dataset: j.dataset, crops: j.crops,
                      state: j.state, sections: j.sections)
            log.log("join", "joined job \(String(jobID, radix: 16)) again; cache at step \(cacheStep)")
            return
        }
        let c = try ConfigYAML.parse(w.configYAML, source: "the coordinator's config")
        try c.validate()
        let dataset = try DatasetSpec.open(w.datasetSpec)
        guard dataset.fingerprint == w.datasetFingerprint else {
            throw JobError("dataset \(w.datasetSpec)", "differs on this machine (fingerprint \(dataset.fingerprint), "
                           + "the coordinator's \(w.datasetFingerprint))", hint: "the same files must be on every machine")
        }
        let state = try JobState.make(config: c, stepsPerEpoch: Int(w.stepsPerEpoch), seed: w.seed)
        job = Job(config: c, configYAML: w.configYAML, welcome: w, dataset: dataset, crops: try MultiCropConfig(training: c),
                  state: state, sections: StateSections(state))
        steps = [:]
        cacheStep = -1
        log.log("join", "joined job \(String(jobID, radix: 16)): \(c.arch) d=\(c.embedDim) depth \(c.blockCount), "
                + "global batch \(c.batch_size), dataset \(w.datasetSpec) (\(dataset.count) images)")
    }

    private func startGeneration(_ g: Int, rank r: Int, endpoints eps: [String], firstStep: Int) {
        dropGeneration()
        guard let j = job else { return }
        generation = g; rank = r; worldSize = eps.count; endpoints = eps
        var o = RingOptions()
        o.peerTimeout = settings.ringPeerTimeout
        o.joinTimeout = settings.ringJoinTimeout
        o.bindEndpoint = data.bound
        o.sharedMemory = settings.ringSharedMemory
        do {
            let ring = try Ring(rank: r, endpoints: eps, generation: UInt64(g), jobID: jobID, options: o)
            // A ring waiting for a peer gives up as soon as the coordinator has moved on, instead of running into
            // the join or progress timeout (e.g. a member stopped while the ring formed).
            ring.interruption = { [inbox] in inbox.firstPending { Self.supersedes($0, generation: g) } }
            self.ring = ring
            let b = EpochPlan.slice(rank: r, worldSize: eps.count, batch: j.config.batch_size).count
            loader = try BatchLoader(dataset: j.dataset, config: j.crops, batchSize: max(1, b), seed: j.welcome.seed,
                                     threads: settings.loaderThreads, depth: 3)
            loaderBadFilesSeen = 0
        } catch {
            let f = Self.setupFailure(error) ?? RingSetupFailure(kind: .localSetup, endpoint: data.bound,
                                                                   detail: "\(error)")
            reportSetupFailure(f, generation: g, step: firstStep)
            dropGeneration()
            return
        }
        // Tell the coordinator where the cache is when it is not at the first step (it may have expected this worker to
        // still be applying a step; if the cache is behind or ahead it sends the state).
        if cacheStep >= 0 && cacheStep != firstStep { send(.job(.stateReceived), generation: g, step: cacheStep) }
        log.log("generation", "generation \(g): rank \(r) of \(eps.count), from step \(firstStep)"
                + (cacheStep == firstStep ? "" : " (waiting for the state; cache at \(cacheStep))"))
    }

    /// Works out the data endpoints, retrying with back-off while the coordinator's name cannot be resolved or has no
    /// route (the network may still be coming up); nil if a signal ends the wait.
    private func resolveDataAddress() -> DataAddress? {
        var delay = 0.5
        while true {
            do throws(JobError) {
                return try DataAddress.plan(coordinator: settings.coordinator, dataHost: settings.dataHost,
                                            dataBind: settings.dataBind, port: settings.dataPort)
            } catch {
                log.log("data", String(format: "cannot work out this worker's data address yet: %@; retrying in %.1f s",
                                       "\(error)", delay))
            }
            let until = ProcessLifecycle.now() + delay
            while ProcessLifecycle.now() < until {
                if ProcessLifecycle.terminationRequested || ProcessLifecycle.interruptRequested { return nil }
                usleep(100_000)
            }
            delay = min(2 * delay, settings.maxBackoff)
        }
    }

    /// The typed report for a ring that could not be set up, or nil when `error` is not a setup failure.
    static func setupFailure(_ error: Error) -> RingSetupFailure? {
        var e = error as? RingError
        if case let .ringUnusable(inner)? = e { e = inner }
        switch e {
        case let .bindFailed(endpoint, _)?:
            return RingSetupFailure(kind: .cannotBind, endpoint: endpoint, detail: "\(e!)")
        case let .cannotConnect(rank, endpoint, seconds, detail)?:
            return RingSetupFailure(kind: .peerUnreachable, peerRank: Int32(rank), endpoint: endpoint,
                                    detail: String(format: "no TCP connection within %.1f s; %@", seconds, detail))
        case let .joinTimedOut(waiting, endpoints, _)?:
            return RingSetupFailure(kind: .peerSilent, peerRank: Int32(waiting.first ?? -1),
                                    endpoint: endpoints.first ?? "", detail: "\(e!)")
        default:
            return nil
        }
    }

    /// Logs and reports to the coordinator that this worker could not set up generation `g`'s ring.
    func reportSetupFailure(_ f: RingSetupFailure, generation g: Int, step: Int) {
        log.log("ring_setup", "generation \(g): the ring could not be set up (\(f.kind), reported to the coordinator): "
                + f.detail, [("generation", .int(g)), ("kind", .string("\(f.kind)")), ("endpoint", .string(f.endpoint)),
                             ("peer_rank", .int(Int(f.peerRank)))])
        send(.job(.ringSetupFailed(f)), generation: g, step: step)
    }

    /// Logs each unreadable image the current loader met for the first time on this worker, and reports them.
    func reportUnreadableFiles(_ loader: BatchLoader) {
        let all = loader.badFiles
        guard all.count > loaderBadFilesSeen else { return }
        var fresh: [UnreadableFile] = []
        for f in all[loaderBadFilesSeen...] where unreadable.insert(f.name).inserted {
            log.log("unreadable", "skipped unreadable image \(f.name): \(f.reason) (\(unreadable.count) on this "
                    + "worker so far)", [("path", .string(f.name)), ("reason", .string(f.reason))])
            fresh.append(UnreadableFile(path: f.name, reason: f.reason))
        }
        loaderBadFilesSeen = all.count
        var i = 0
        while i < fresh.count {
            let chunk = Array(fresh[i ..< min(fresh.count, i + UnreadableFile.maxPerMessage)])
            send(.job(.unreadableFiles(chunk)), generation: generation, step: max(0, cacheStep))
            i += chunk.count
        }
    }

    /// Lets the next join offer the cache: its hash proves it is the coordinator's state at that step.
    private func publishCacheHash() {
        if cacheStep >= 0, let j = job { shared.cacheHash = j.state.stateHash() }
    }

    /// Why a queued item makes generation `g`'s ring pointless, or nil.
    static func supersedes(_ item: WorkerInbox.Item, generation g: Int) -> String? {
        switch item {
        case .terminate: return "terminating"
        case .coordinatorLost: return "the coordinator went silent"
        case let .message(env):
            switch env.message {
            case .job(.generation) where Int(env.generation) > g:
                return "the coordinator started generation \(env.generation)"
            case .job(.abort) where Int(env.generation) == g: return "the coordinator aborted generation \(g)"
            case .job(.evict): return "evicted"
            case .job(.finished): return "the job is over"
            default: return nil
            }
        }
    }

    /// Forgets the current generation: ring, loader, plans (the cache stays).
    func dropGeneration() {
        ring?.close()
        ring = nil
        loader?.shutdown()
        loader = nil
        plans = []
        submitted = 0
    }

    func submitPlans() {
        guard let loader else { return }
        while submitted < plans.count && submitted < 3 {
            let p = plans[submitted]
            do { try loader.submit(epoch: p.epoch, indices: p.indices, tag: p.step) } catch {
                log.log("error", "loader: \(error)")
                return
            }
            submitted += 1
        }
    }

    /// Plans for steps the cache is already past (it applied them in an earlier generation) are dropped with their
    /// loaded slices; the coordinator resyncs the cache if it is ahead of the committed step.
    private func skipStalePlans() {
        guard let loader, cacheStep >= 0 else { return }
        while let p = plans.first, p.step < cacheStep, submitted > 0 {
            plans.removeFirst()
            submitted -= 1
            if let b = try? loader.next() { loader.recycle(b) }
        }
        submitPlans()
    }

    private func runnable() -> Bool {
        guard ring != nil, let p = plans.first, submitted > 0, job != nil else { return false }
        return p.step == cacheStep
    }

    /// Sends a message to the coordinator through the I/O thread.
    func send(_ m: Message, generation g: Int, step: Int) {
        let env = Envelope(jobID: jobID, generation: UInt64(max(0, g)), step: UInt64(max(0, step)),
                           sender: UInt32(rank), message: m)
        // Never block: once the I/O thread has stopped (SIGTERM) nobody drains the queue, and the message is moot.
        while (try? JobChannel.send(env, on: outbox)) == false && !link.stopped { usleep(1000) }
    }
}
