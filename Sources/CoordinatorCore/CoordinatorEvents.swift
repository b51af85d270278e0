/// What a worker tells the coordinator about itself when it joins.
public struct WorkerInfo: Sendable, Equatable {
    public var host: String
    /// The worker's ring data endpoint, e.g. `tcp://10.0.0.7:5601`.
    public var dataEndpoint: String
    public var threads: Int
    /// The worker's name (`--name`, default host-pid), for the reasons the machine gives; empty: "worker <id>".
    public var name: String

    public init(host: String, dataEndpoint: String, threads: Int, name: String = "") {
        self.host = host; self.dataEndpoint = dataEndpoint; self.threads = threads; self.name = name
    }
}

/// Who a ring that could not be set up is blamed on (`CoordinatorEvent.ringSetupFailed`), from the reporter's typed
/// reason. Each case carries the reporter's words.
public enum RingSetupFault: Sendable, Equatable {
    /// The reporter cannot set up its own side (it cannot bind its data port, or build its loader): it is evicted,
    /// whatever generation the report is about — the same process fails the same way in every ring.
    case reporter(String)
    /// No TCP connection from the reporter to the data endpoint of the peer at `rank` (in the reported generation)
    /// ever came up: that peer is evicted — its advertised address is wrong, or its port is closed or filtered.
    case unreachablePeer(rank: Int, String)
    /// The neighbour at `rank` connected but did not complete the handshake in time (stopped, hung, overloaded): nobody
    /// is blamed for sure; the generation ends, and a peer named in two consecutive generations is evicted.
    case silentPeer(rank: Int?, String)
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
    /// A worker could not set up its side of generation `generation`'s ring; the fault says who is to blame.
    case ringSetupFailed(CoordinatorMachine.WorkerID, generation: Int, fault: RingSetupFault)
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
