import Sampling

/// The worker's side of the job protocol as a deterministic state machine (events in, actions out; the coordinator's
/// twin is `CoordinatorMachine`). It owns what the protocol decides on a worker: which job the cache belongs to and at
/// which step it is, the current generation (rank, ring size), the plans received and how many of them the loader
/// holds, which plans are stale, the pending online kNN request, and when the worker exits. It never touches sockets,
/// tensors, files or clocks — `WorkerService` turns coordinator messages and the outcome of its work into events and
/// carries out the actions. (The worker's protocol has no timer: heartbeats and the re-join back-off are the I/O
/// thread's, `WorkerLink`.)
///
/// Step numbering as in `CoordinatorMachine`: a cache "at step k" has had k updates applied; a plan for step k can run
/// once the cache is at k. A plan carries only the generation and the step: the rank and ring size come from the
/// generation, the epoch and the samples from the job's `EpochPlan`.
public struct WorkerMachine: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Plans handed to the loader ahead of the compute (the job's pipeline depth).
        public var window: Int

        public init(window: Int) {
            precondition(window >= 1, "the loader window must be at least 1")
            self.window = window
        }
    }

    public let settings: Settings
    /// The job the cache belongs to and its samples (`schedule.plan` is its sampling plan); nil until set up.
    public private(set) var job: (identity: JobIdentity, schedule: SampleSchedule)?
    /// The step the cache is at (−1: no valid state).
    public private(set) var cacheStep = -1
    /// The current generation (−1: none yet), this worker's rank in it and the ring size.
    public private(set) var generation = -1
    public private(set) var rank = 0
    public private(set) var worldSize = 0
    /// The ring and loader of `generation` are open.
    public private(set) var isOpen = false
    /// Plans of the current generation not yet run, in step order; the first `submitted` are in the loader.
    public private(set) var plans: [PlannedStep] = []
    public private(set) var submitted = 0
    /// The online kNN request waiting for the cache to reach its step.
    public private(set) var onlineKNN: (generation: Int, step: Int)?
    private var firstStep = 0
    private var exited = false

    public init(settings: Settings) { self.settings = settings }

    /// A planned step can run now (the driver need not wait for messages).
    public var hasRunnableStep: Bool {
        guard isOpen, job != nil, submitted > 0, let p = plans.first else { return false }
        return p.step == cacheStep
    }

    public mutating func handle(_ event: WorkerEvent) -> [WorkerAction] {
        if exited { return [] }
        var out: [WorkerAction] = []
        switch event {
        case .terminated:
            out += exit(0)
        case .coordinatorLost:
            onlineKNN = nil
            out += close()
            out += [.resetStateTransfer, .publishCacheHash]
        case let .welcomed(identity):
            if let j = job, j.identity == identity {
                out.append(.log(event: "join", "joined the job again; cache at step \(cacheStep)"))
            } else {
                out.append(.setUpJob(identity))
            }
        case let .jobSetUp(identity, plan):
            job = (identity, SampleSchedule(plan: plan))
            out += close()
            out += moveCache(to: -1)
        case let .jobSetupFailed(reason):
            out.append(.log(event: "fatal", "cannot take part in this job: \(reason)"))
            out.append(.send(.leave(reason: reason), generation: 0, step: 0))
            out += exit(1)
        case let .evicted(reason):
            out.append(.log(event: "evicted", "the coordinator dropped this worker: \(reason) (cache at step "
                            + "\(cacheStep))"))
            onlineKNN = nil
            out += close()
            out += [.resetStateTransfer, .publishCacheHash]
        case let .refused(reason):
            out.append(.log(event: "refused", "the coordinator refuses this worker: \(reason)"))
            out += exit(1)
        case let .finished(reason):
            out.append(.log(event: "finished", "the job is over: \(reason)"))
            out.append(.send(.leave(reason: "the job is over"), generation: generation, step: max(0, cacheStep)))
            out += exit(0)
        case let .generationStarted(g, r, endpoints, first):
            out += close()
            guard let j = job, (0 ..< endpoints.count).contains(r) else { break }
            generation = g; rank = r; worldSize = endpoints.count; firstStep = first
            let size = EpochPlan.slice(rank: r, worldSize: worldSize, batch: j.schedule.plan.globalBatch).count
            out.append(.openGeneration(generation: g, rank: r, endpoints: endpoints, firstStep: first, sliceSize: size))
        case let .generationOpened(g):
            guard g == generation, job != nil, !isOpen else { break }
            isOpen = true
            // Tell the coordinator where the cache is when it is not at the first step (it may have expected this worker
            // to still be applying a step; if the cache is behind or ahead it sends the state).
            if cacheStep >= 0 && cacheStep != firstStep {
                out.append(.send(.stateReceived, generation: g, step: cacheStep))
            }
            out.append(.log(event: "generation", "generation \(g): rank \(rank) of \(worldSize), from step \(firstStep)"
                            + (cacheStep == firstStep ? "" : " (waiting for the state; cache at \(cacheStep))")))
        case let .generationFailed(g):
            // The driver may have opened part of it (a ring without a loader): always close.
            guard g == generation else { break }
            _ = close()
            out.append(.closeGeneration)
        case let .aborted(g, reason):
            guard g == generation else { break }
            out.append(.log(event: "abort", "generation \(g) aborted: \(reason)"))
            out += close()
        case let .planned(g, step):
            guard g == generation, isOpen, job != nil else { break }
            guard plans.last.map({ step > $0.step }) ?? true else {
                out.append(.log(event: "error", "plan for step \(step) after step \(plans.last!.step): ignored"))
                break
            }
            plans.append(plannedStep(step))
            out += submit()
        case let .stepApplied(g, step):
            guard g == generation else { break }
            out += moveCache(to: step + 1)
            out += submit()
        case let .committed(step, hash):
            if hash != 0 && cacheStep == step + 1 && job != nil { out.append(.verifyStateHash(step: step, expected: hash)) }
        case let .stateHeaderReceived(step):
            guard job != nil else { break }
            out += moveCache(to: -1)
            out.append(.beginStateTransfer(step: step))
        case let .stateLoaded(g, step):
            guard job != nil else { break }
            out += moveCache(to: step)
            out.append(.resetStateTransfer)
            out.append(.log(event: "state", "loaded the state at step \(step)"))
            out.append(.send(.stateReceived, generation: g, step: step))
        case let .onlineKNNRequested(g, step):
            onlineKNN = (g, step)
        case let .fatal(reason):
            out.append(.log(event: "fatal", reason))
            out += exit(1)
        case .idle:
            out += dropStalePlans()
            out += onlineKNNIfDue()
            if hasRunnableStep {
                let p = plans.removeFirst()
                submitted -= 1
                out.append(.runStep(p))
            }
        }
        return out
    }

    // MARK: helpers (each returns the actions it implies)

    private mutating func exit(_ code: Int32) -> [WorkerAction] {
        exited = true
        return close() + [.exit(code: code)]
    }

    /// Forgets the current generation's ring, loader and plans (the cache and the generation number stay).
    private mutating func close() -> [WorkerAction] {
        let wasOpen = isOpen || !plans.isEmpty
        isOpen = false
        plans = []
        submitted = 0
        return wasOpen ? [.closeGeneration] : []
    }

    private mutating func moveCache(to step: Int) -> [WorkerAction] {
        guard step != cacheStep else { return [] }
        cacheStep = step
        return [.cacheAt(step: step)]
    }

    /// Hands plans to the loader up to the window.
    private mutating func submit() -> [WorkerAction] {
        guard isOpen else { return [] }
        var out: [WorkerAction] = []
        while submitted < plans.count && submitted < settings.window {
            out.append(.submit(plans[submitted]))
            submitted += 1
        }
        return out
    }

    /// Plans for steps the cache is already past (it applied them in an earlier generation) are dropped with their
    /// loaded slices; the coordinator resyncs the cache if it is ahead of the committed step.
    private mutating func dropStalePlans() -> [WorkerAction] {
        guard isOpen, cacheStep >= 0 else { return [] }
        var out: [WorkerAction] = []
        while let p = plans.first, p.step < cacheStep, submitted > 0 {
            plans.removeFirst()
            submitted -= 1
            out.append(.discardLoaded(step: p.step))
        }
        return out + submit()
    }

    private mutating func onlineKNNIfDue() -> [WorkerAction] {
        guard let q = onlineKNN, job != nil, cacheStep >= q.step else { return [] }
        onlineKNN = nil
        if cacheStep == q.step { return [.evaluateOnlineKNN(generation: q.generation, step: q.step)] }
        return [.answerOnlineKNNTooLate(generation: q.generation, step: q.step, cacheStep: cacheStep)]
    }

    /// This rank's share of `step`, derived from the job's plan.
    private mutating func plannedStep(_ step: Int) -> PlannedStep {
        let samples = job!.schedule.samples(step: step, rank: rank, worldSize: worldSize)
        return PlannedStep(generation: generation, step: step, rank: rank, worldSize: worldSize,
                           epoch: job!.schedule.plan.epoch(ofStep: step), indices: samples.map { Int($0) })
    }
}
