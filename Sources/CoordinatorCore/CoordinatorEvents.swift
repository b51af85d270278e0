/// What a worker tells the coordinator about itself when it joins.
public struct WorkerInfo: Sendable, Equatable {
    public var host: String
    /// The worker's ring data endpoint, e.g. `tcp://10.0.0.7:5601`.
    public var dataEndpoint: String
    public var threads: Int

    public init(host: String, dataEndpoint: String, threads: Int) {
        self.host = host; self.dataEndpoint = dataEndpoint; self.threads = threads
    }
}

/// Inputs to `CoordinatorMachine` (past tense: things that happened).
public enum CoordinatorEvent: Sendable, Equatable {
    /// A worker joined; its cache holds the state at `cacheStep` (−1: empty).
    case joined(CoordinatorMachine.WorkerID, WorkerInfo, cacheStep: Int)
    /// Any message from the worker (heartbeats included).
    case heard(CoordinatorMachine.WorkerID)
    /// The worker left cleanly (SIGTERM) or its connection failed.
    case left(CoordinatorMachine.WorkerID, reason: String)
    /// The worker finished loading the committed state at `step`.
    case stateReceived(CoordinatorMachine.WorkerID, step: Int)
    /// The worker applied `step`'s update; `stateHash` is its state's hash after it.
    case stepApplied(CoordinatorMachine.WorkerID, generation: Int, step: Int, stateHash: UInt64)
    /// The reduced segment a rank owns for `step` arrived at the coordinator.
    case chunkReceived(CoordinatorMachine.WorkerID, generation: Int, step: Int, segment: Int)
    /// The service applied `step`'s update to the authoritative state (after a `.commit` action).
    case committed(step: Int, stateHash: UInt64)
    /// A rank's ring operation failed (timeout or error naming the peer rank, if known).
    case ringFailed(CoordinatorMachine.WorkerID, generation: Int, step: Int, peer: Int?, reason: String)
    case tick(now: Double)
    /// The service is done with the held state at `step` (`Settings.holdEvery`): planning may go past it.
    case holdReleased(step: Int)
    case pauseRequested
    case resumeRequested
    case stopRequested
}

/// Outputs of `CoordinatorMachine` (imperative: what the service must do).
public enum CoordinatorAction: Sendable, Equatable {
    /// Tell every member its rank, the ring's data endpoints and the first step of the generation.
    case startGeneration(generation: Int, ring: [CoordinatorMachine.WorkerID], firstStep: Int)
    /// Drop in-flight work of that generation.
    case abortGeneration(generation: Int, reason: String)
    /// Stream the committed state at `step` to the worker.
    case sendState(to: CoordinatorMachine.WorkerID, step: Int)
    /// Tell the worker its share (by `EpochPlan`) of `step`.
    case sendPlan(to: CoordinatorMachine.WorkerID, generation: Int, step: Int, rank: Int, worldSize: Int)
    /// Every segment of `step` is here: assemble the reduced buffer, apply the update, then report `.committed`.
    case commit(generation: Int, step: Int)
    /// Tell the worker why it is refused or dropped, and forget it.
    case evict(CoordinatorMachine.WorkerID, reason: String)
    case paused
    /// Write the final checkpoint and shut down.
    case finish(reason: String)
    case log(String)
}
