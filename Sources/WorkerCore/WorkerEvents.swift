import Sampling

/// What identifies a job to a worker: a welcome with the same identity is the same job (the cache stays valid).
public struct JobIdentity: Sendable, Equatable {
    public var configYAML: String
    public var datasetFingerprint: String
    public var seed: UInt64

    public init(configYAML: String, datasetFingerprint: String, seed: UInt64) {
        self.configYAML = configYAML; self.datasetFingerprint = datasetFingerprint; self.seed = seed
    }
}

/// One step this worker is to compute, as it derives it from a plan: which rank it is, and which samples.
public struct PlannedStep: Sendable, Equatable {
    public var generation: Int
    public var step: Int
    public var rank: Int
    public var worldSize: Int
    public var epoch: Int
    /// The sample indices of this rank's slice (`EpochPlan.samples`), in batch order.
    public var indices: [Int]

    public init(generation: Int, step: Int, rank: Int, worldSize: Int, epoch: Int, indices: [Int]) {
        self.generation = generation; self.step = step; self.rank = rank; self.worldSize = worldSize
        self.epoch = epoch; self.indices = indices
    }
}

/// Inputs to `WorkerMachine` (past tense: things that happened). Coordinator messages arrive as the events named
/// after them; the driver reports the outcome of the work the machine asked for (`jobSetUp`, `generationOpened`, …).
public enum WorkerEvent: Sendable, Equatable {
    /// SIGTERM.
    case terminated
    /// The coordinator went silent (the link gave up on it): in-flight work is dropped, the cache stays.
    case coordinatorLost
    /// The coordinator welcomed this worker into the job `identity`.
    case welcomed(JobIdentity)
    /// The driver built the job the machine asked for (`setUpJob`): its sampling plan, and its global batch.
    case jobSetUp(JobIdentity, plan: EpochPlan)
    /// The job could not be set up on this machine (bad config, different dataset, ...).
    case jobSetupFailed(reason: String)
    case evicted(reason: String)
    case refused(reason: String)
    case finished(reason: String)
    /// Generation `generation` starts at `firstStep` with this worker as `rank` of the ring `endpoints`.
    case generationStarted(generation: Int, rank: Int, endpoints: [String], firstStep: Int)
    /// The driver opened the ring and loader for `generation` (`openGeneration`).
    case generationOpened(generation: Int)
    /// The ring or loader of `generation` could not be set up, or a step of it failed (reported by the driver): the
    /// generation is over for this worker.
    case generationFailed(generation: Int)
    case aborted(generation: Int, reason: String)
    /// The coordinator planned `step` in `generation`: compute this worker's share.
    case planned(generation: Int, step: Int)
    /// The driver finished `step` (`runStep`): the cache is at `step + 1`.
    case stepApplied(generation: Int, step: Int)
    /// The coordinator committed `step`; its state hash after it (0: not hashed).
    case committed(step: Int, stateHash: UInt64)
    /// The coordinator starts sending its state at `step` (the cache is invalid until it is loaded).
    case stateHeaderReceived(step: Int)
    /// The whole state at `step` arrived (in `generation`'s envelope).
    case stateLoaded(generation: Int, step: Int)
    /// The coordinator asks for an online kNN evaluation of the teacher at `step`.
    case onlineKNNRequested(generation: Int, step: Int)
    /// Something this worker cannot go on from (a state transfer that does not fit, ...).
    case fatal(reason: String)
    /// The inbox is empty: do whatever is due (drop stale slices, evaluate, run the next step).
    case idle
}

/// A message the worker sends to the coordinator.
public enum WorkerOutgoing: Sendable, Equatable {
    case leave(reason: String)
    /// "My cache is at this step" (after loading the state, or when a generation starts elsewhere than the cache).
    case stateReceived
}

/// Outputs of `WorkerMachine` (imperative: what the driver must do), in order.
public enum WorkerAction: Sendable, Equatable {
    case send(WorkerOutgoing, generation: Int, step: Int)
    case log(event: String, String)
    /// Build the job (parse its config, open its dataset, make the state), then report `jobSetUp`/`jobSetupFailed`.
    case setUpJob(JobIdentity)
    /// The cache moved: it holds the state at `step` (−1: nothing valid).
    case cacheAt(step: Int)
    /// Close the current ring and loader (the cache stays).
    case closeGeneration
    /// Open the ring (as `rank` of `endpoints`, starting at `firstStep`) and a loader for slices of `sliceSize` images,
    /// then report `generationOpened` or `generationFailed`.
    case openGeneration(generation: Int, rank: Int, endpoints: [String], firstStep: Int, sliceSize: Int)
    /// Hand the step's samples to the loader (at most `Settings.window` ahead).
    case submit(PlannedStep)
    /// Take the next loaded slice (that of `step`, which the cache is already past) and recycle it unused.
    case discardLoaded(step: Int)
    /// Compute, all-reduce and apply the step; report `stepApplied` or `generationFailed`.
    case runStep(PlannedStep)
    /// Compare the cache's state hash after `step` with the coordinator's (log a difference).
    case verifyStateHash(step: Int, expected: UInt64)
    /// Forget a partly received state transfer.
    case resetStateTransfer
    /// Begin receiving the coordinator's state at `step` (the driver reports `stateLoaded` or `fatal`).
    case beginStateTransfer(step: Int)
    /// Publish the cache's hash for the next join (proof that the cache is the coordinator's state at its step).
    case publishCacheHash
    /// Evaluate the teacher for the online kNN request of (`generation`, `step`): the cache is at that step.
    case evaluateOnlineKNN(generation: Int, step: Int)
    /// Answer the online kNN request of (`generation`, `step`) with an error: the cache went past its step first.
    case answerOnlineKNNTooLate(generation: Int, step: Int, cacheStep: Int)
    /// Stop the worker with this exit code.
    case exit(code: Int32)
}
