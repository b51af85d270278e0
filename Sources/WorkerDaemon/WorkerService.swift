import Foundation
import JobCommon
import MugsData
import MugsEval
import MugsModel
import Sampling
import Transport
import Wire
import WorkerCore

/// `mugs-worker`'s service: the driver of `WorkerMachine`. The calling thread computes: it turns the coordinator's
/// messages (taken in order from the inbox) and the outcome of its own work into the machine's events, and carries
/// out the machine's actions — set up the job, open and close generations, feed the loader, run planned steps (load →
/// LOCAL → ring all-reduce + all-gather → send owned chunk → APPLY → report), receive the state. The I/O thread
/// (`WorkerLink`) keeps the coordinator connection, heartbeats and re-joins. The worker holds nothing the coordinator
/// cannot rebuild: its state is a cache at `machine.cacheStep`.
public final class WorkerService {
    struct Job {
        let config: MugsConfig
        var welcome: Welcome
        let dataset: ImageDataset
        let crops: MultiCropConfig
        let state: TrainState
        let sections: StateSections
    }

    let settings: WorkerSettings
    let log: JobLog
    let inbox = WorkerInbox()
    let shared = WorkerLink.Shared()
    let link: WorkerLink
    let pool: ComputePool
    var outbox: ZMQSocket!

    /// What the protocol decides (`WorkerCore`); everything below is what it needs done.
    var machine = WorkerMachine(settings: .init(window: Pipeline.slots))
    var job: Job?
    /// The latest welcome, until the machine says whether it is a new job (`setUpJob`).
    var welcome: Welcome?
    var receiver = StateReceiver()
    /// The state header the coordinator just sent, until the machine says to begin the transfer.
    var stateHeader: StateHeader?
    var jobID: UInt64 = 0
    var ring: Ring?
    var loader: BatchLoader?
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
    /// The coordinator's online kNN request, kept until the machine says to evaluate or answer it
    /// (`WorkerService+OnlineKNN`).
    var onlineKNNRequest: OnlineKNNRequest?
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
        shared.precisions = Precision.allCases.filter { $0.unavailableHere == nil }.map(\.rawValue)
            .joined(separator: ",")
        shared.precisionNote = Precision.allCases.compactMap(\.unavailableHere).joined(separator: "; ")
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
        log.log("precision", "precisions: \(shared.precisions)"
                + (shared.precisionNote.isEmpty ? "" : " (bf16: \(shared.precisionNote))"),
                [("precisions", .string(shared.precisions))])
        link.start()
        while exitCode == nil {
            // Take every waiting message first (aborts and new generations win over stale plans), then what is due.
            var item = inbox.next(timeout: machine.hasRunnableStep ? 0 : 0.1)
            while let i = item, exitCode == nil {
                take(i)
                item = inbox.next(timeout: 0)
            }
            if exitCode == nil { feed(.idle) }
        }
        closeGeneration()
        inbox.close()
        outbox.close()
        link.join()
        log.log("exit", "exits (cache at step \(machine.cacheStep))")
        return exitCode ?? 0
    }

    // MARK: events in

    /// Turns one inbox item into the machine's event (keeping what the actions will need: the welcome, the state
    /// header, the online kNN request) and feeds it.
    private func take(_ item: WorkerInbox.Item) {
        switch item {
        case .terminate: feed(.terminated)
        case .coordinatorLost: feed(.coordinatorLost)
        case .message(let env): take(env)
        }
    }

    private func take(_ env: Envelope) {
        let g = Int(env.generation), step = Int(env.step)
        switch env.message {
        case let .job(.welcome(w)):
            jobID = env.jobID
            welcome = w
            job?.welcome = w  // the same job keeps its state; a new one is set up from `welcome`
            feed(.welcomed(JobIdentity(configYAML: w.configYAML, datasetFingerprint: w.datasetFingerprint,
                                       seed: w.seed)))
        case let .job(.evict(reason)): feed(.evicted(reason: reason))
        case let .job(.refused(reason)): feed(.refused(reason: reason))
        case let .job(.finished(reason)): feed(.finished(reason: reason))
        case let .job(.generation(r, eps, first)):
            feed(.generationStarted(generation: g, rank: Int(r), endpoints: eps, firstStep: Int(first)))
        case let .job(.abort(reason)): feed(.aborted(generation: g, reason: reason))
        case .job(.plan): feed(.planned(generation: g, step: step))
        case let .job(.onlineKNNRequest(r)):
            onlineKNNRequest = r
            feed(.onlineKNNRequested(generation: g, step: step))
        case let .job(.stateHeader(h)):
            stateHeader = h
            feed(.stateHeaderReceived(step: step))
        case let .stateTransfer(t):
            guard let j = job else { return }
            do {
                if try receiver.receive(t, step: step, into: j.sections) { feed(.stateLoaded(generation: g, step: step)) }
            } catch {
                feed(.fatal(reason: "\(error)"))
            }
        case let .commit(c):
            feed(.committed(step: step, stateHash: c.stateHash))
        default:
            break
        }
    }

    /// Feeds one event to the machine and carries out its actions in order (an action's outcome is fed back at once).
    func feed(_ event: WorkerEvent) {
        for action in machine.handle(event) { perform(action) }
    }

    // MARK: actions out

    private func perform(_ action: WorkerAction) {
        switch action {
        case let .send(.leave(reason), g, step): send(.job(.leave(reason: reason)), generation: g, step: step)
        case let .send(.stateReceived, g, step): send(.job(.stateReceived), generation: g, step: step)
        case let .log(event, text): log.log(event, text)
        case let .setUpJob(identity):
            do { feed(.jobSetUp(identity, plan: try setUpJob())) } catch { feed(.jobSetupFailed(reason: "\(error)")) }
        case let .cacheAt(step): shared.cacheStep = step
        case .closeGeneration: closeGeneration()
        case let .openGeneration(g, r, eps, first, size):
            openGeneration(g, rank: r, endpoints: eps, firstStep: first, sliceSize: size)
        case let .submit(p):
            do { try loader?.submit(epoch: p.epoch, indices: p.indices, tag: p.step) } catch {
                log.log("error", "loader: \(error)")
                send(.job(.ringFailed(peerRank: -1, reason: "\(settings.workerID) cannot queue its slice: \(error)")),
                     generation: p.generation, step: p.step)
                feed(.generationFailed(generation: p.generation))
            }
        case .discardLoaded:
            if let loader, let b = try? loader.next() { loader.recycle(b) }
        case let .runStep(p):
            if runStep(p) { feed(.stepApplied(generation: p.generation, step: p.step)) } else {
                feed(.generationFailed(generation: p.generation))
            }
        case let .verifyStateHash(step, expected):
            guard let j = job else { return }
            let mine = j.state.stateHash()
            if mine != expected {
                log.log("hash", String(format: "state hash after step %d differs from the coordinator's "
                        + "(%016llx vs %016llx)", step, mine, expected))
            }
        case .resetStateTransfer: receiver.reset()
        case let .beginStateTransfer(step):
            guard let j = job, let h = stateHeader else { return }
            do { try receiver.begin(h, step: step, into: j.sections) } catch { feed(.fatal(reason: "\(error)")) }
        case .publishCacheHash:
            // Lets the next join offer the cache: its hash proves it is the coordinator's state at that step.
            if machine.cacheStep >= 0, let j = job { shared.cacheHash = j.state.stateHash() }
        case let .evaluateOnlineKNN(g, step): runOnlineKNN(generation: g, step: step)
        case let .answerOnlineKNNTooLate(g, step, cacheStep):
            replyOnlineKNN(generation: g, step: step, error: "\(settings.workerID)'s cache is at step \(cacheStep), "
                           + "past step \(step), before it could evaluate")
        case let .exit(code): exitCode = code
        }
    }

    /// Builds the job of the latest welcome: its config, dataset (which must be the coordinator's), state; returns its
    /// sampling plan, derived from the same inputs as the coordinator's.
    private func setUpJob() throws -> EpochPlan {
        guard let w = welcome else { throw JobError("welcome", "missing") }
        let c = try ConfigYAML.parse(w.configYAML, source: "the coordinator's config")
        try c.validate()
        let dataset = try DatasetSpec.open(w.datasetSpec)
        guard dataset.fingerprint == w.datasetFingerprint else {
            throw JobError("dataset \(w.datasetSpec)", "differs on this machine (fingerprint \(dataset.fingerprint), "
                           + "the coordinator's \(w.datasetFingerprint))", hint: "the same files must be on every machine")
        }
        guard dataset.count >= c.batch_size else {
            throw JobError("dataset \(w.datasetSpec)", "has \(dataset.count) images, fewer than batch_size \(c.batch_size)")
        }
        let plan = EpochPlan(seed: w.seed, datasetSize: dataset.count, globalBatch: c.batch_size)
        let state = try JobState.make(config: c, stepsPerEpoch: plan.stepsPerEpoch, seed: w.seed)
        job = Job(config: c, welcome: w, dataset: dataset, crops: try MultiCropConfig(training: c), state: state,
                  sections: StateSections(state))
        steps = [:]
        log.log("join", "joined job \(String(jobID, radix: 16)): \(c.arch) d=\(c.embedDim) depth \(c.blockCount), "
                + "global batch \(c.batch_size), dataset \(w.datasetSpec) (\(dataset.count) images)")
        return plan
    }

    /// Opens generation `g`'s ring and a loader for this rank's slices, and reports the outcome to the machine.
    private func openGeneration(_ g: Int, rank r: Int, endpoints eps: [String], firstStep: Int, sliceSize: Int) {
        guard let j = job else { return }
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
            loader = try BatchLoader(dataset: j.dataset, config: j.crops, batchSize: max(1, sliceSize),
                                     seed: j.welcome.seed, threads: settings.loaderThreads, depth: Pipeline.slots)
            loaderBadFilesSeen = 0
        } catch {
            let f = Self.setupFailure(error) ?? RingSetupFailure(kind: .localSetup, endpoint: data.bound,
                                                                   detail: "\(error)")
            reportSetupFailure(f, generation: g, step: firstStep)
            feed(.generationFailed(generation: g))
            return
        }
        feed(.generationOpened(generation: g))
    }

    /// Closes the current generation's ring and loader (the cache stays).
    func closeGeneration() {
        ring?.close()
        ring = nil
        loader?.shutdown()
        loader = nil
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
            send(.job(.unreadableFiles(chunk)), generation: machine.generation, step: max(0, machine.cacheStep))
            i += chunk.count
        }
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

    /// Sends a message to the coordinator through the I/O thread.
    func send(_ m: Message, generation g: Int, step: Int) {
        let env = Envelope(jobID: jobID, generation: UInt64(max(0, g)), step: UInt64(max(0, step)),
                           sender: UInt32(machine.rank), message: m)
        // Never block: once the I/O thread has stopped (SIGTERM) nobody drains the queue, and the message is moot.
        while (try? JobChannel.send(env, on: outbox)) == false && !link.stopped { usleep(1000) }
    }
}
