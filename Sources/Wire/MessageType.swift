/// The kind of a wire message (the header's `type` field). Numbers are part of the protocol: never reuse one.
public enum MessageType: UInt16, Sendable, CaseIterable {
    // Control plane (worker ↔ coordinator).
    /// A worker announces itself (and its data endpoint) to the coordinator.
    case join = 1
    /// Periodic liveness and progress report from a worker.
    case heartbeat = 2
    /// The coordinator's plan for one step: ring order and each rank's slice of the batch.
    case stepPlan = 3
    /// The coordinator commits a step (and its state hash).
    case commit = 4
    /// A piece of the training state sent to a worker whose cache is stale.
    case stateTransfer = 5
    /// A rank's reduced chunk after reduce-scatter, sent to the coordinator.
    case reducedChunk = 6

    // Data plane (rank ↔ ring neighbours).
    /// First message on a ring connection: who is talking, for which job and generation.
    case ringHello = 16
    /// Receiver → sender: "you may send segments with sequence < upTo".
    case ringCredit = 17
    /// One segment of a ring collective; the payload frame holds raw little-endian bytes.
    case ringSegment = 18
    /// A rank gives up the ring operation and names the peer that failed.
    case ringAbort = 19
    /// Sender → receiver on the same host: "my segments can be read from this shared-memory region".
    case ringSharedOffer = 20
    /// One segment of a ring collective whose bytes are in the sender's shared-memory slot (no payload frame).
    case ringSharedSegment = 21

    // The distributed job's control plane (`JobMessage`, JobMessages.swift).
    case welcome = 32
    case evict = 33
    case generation = 34
    case abort = 35
    case plan = 36
    case stateHeader = 37
    case stateReceived = 38
    case stepApplied = 39
    case sliceEntries = 40
    case ringFailed = 41
    case leave = 42
    case finished = 43
    case refused = 44
    case onlineKNNRequest = 45
    case onlineKNNResult = 46
    case ringSetupFailed = 47
    case unreadableFiles = 48
}

/// Which part of a ring collective a segment belongs to (the header's `phase` field).
public enum RingPhase: UInt8, Sendable, CaseIterable {
    /// Not a ring segment.
    case none = 0
    /// All-reduce, first half: partial sums travel around the ring.
    case reduceScatter = 1
    /// All-reduce, second half: each owner's final chunk is copied around.
    case allGather = 2
    /// Variable-block all-gather, first round: every rank's block length.
    case gatherLengths = 3
    /// Variable-block all-gather, second round: the blocks.
    case gatherBlocks = 4
}
