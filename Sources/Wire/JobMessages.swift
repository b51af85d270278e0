/// The distributed job's control messages (worker ↔ coordinator) beyond the first vocabulary (`Join`, `Heartbeat`,
/// `Commit`, `StateTransfer`, `ReducedChunk`). The header carries job, generation, step and sender rank; these hold
/// only the type-specific fields. See docs/OPERATIONS.md for the conversation they make up.
public enum JobMessage: Sendable, Equatable {
    // Coordinator → worker.
    /// The coordinator accepts a join: everything a worker needs to compute steps of this job.
    case welcome(Welcome)
    /// The coordinator drops a member (silent, failing its ring, or no room), and says why. The worker keeps its cache
    /// and joins again after a pause.
    case evict(reason: String)
    /// The coordinator refuses a join for good (wrong token, another job). The worker exits with an error.
    case refused(reason: String)
    /// The job is over (all steps committed, or stopped): the worker exits cleanly.
    case finished(reason: String)
    /// A new ring (the header's generation): this worker's rank, every rank's data endpoint in ring order, and the
    /// step the generation starts at (the committed step).
    case generation(rank: UInt32, endpoints: [String], firstStep: UInt64)
    /// The generation in the header ended: drop in-flight work of it.
    case abort(reason: String)
    /// Compute this worker's share of the step in the header. The message carries nothing else: the rank and ring size
    /// come from the generation, the epoch and the samples from the job's `EpochPlan` (Sampling), which the worker
    /// derives from the welcome and its dataset exactly as the coordinator does.
    case plan
    /// Starts a state transfer at the header's step: the scalar part of the state and the sizes of the float sections
    /// that `StateTransfer` messages then fill.
    case stateHeader(StateHeader)
    /// Evaluate the teacher by kNN (`OnlineKNN`) once the cache is at the header's step, and answer with
    /// `onlineKNNResult`. Sent to one worker every `--online-knn-every` committed steps.
    case onlineKNNRequest(OnlineKNNRequest)

    // Worker → coordinator.
    /// The worker loaded the complete state of the header's step into its cache.
    case stateReceived
    /// The worker applied the header's step; `stateHash` is its state's hash after it (0 when not computed).
    case stepApplied(stateHash: UInt64, hashed: Bool, seconds: Double)
    /// A rank's queue/memory entries of the header's step (`count` images), sent to the coordinator, which applies
    /// the same enqueue: `weak` flags in the body, the floats (instance targets, local-group targets, teacher memory,
    /// student memory, each row-major) in the data frame.
    case sliceEntries(SliceEntries)
    /// A ring operation of the header's generation/step failed; `peerRank` names the peer blamed, if any.
    case ringFailed(peerRank: Int32, reason: String)
    /// The worker could not set up its side of the header's generation (bind, connect, handshake), and who is at
    /// fault.
    case ringSetupFailed(RingSetupFailure)
    /// Images the worker's loader met for the first time and could not read (each file reported once per worker).
    case unreadableFiles([UnreadableFile])
    /// The worker leaves the job cleanly (SIGTERM).
    case leave(reason: String)
    /// The answer to `onlineKNNRequest` for the header's step: accuracies, or why the evaluation failed.
    case onlineKNNResult(OnlineKNNResult)

    /// The header type of this message.
    public var type: MessageType {
        switch self {
        case .welcome: return .welcome
        case .evict: return .evict
        case .finished: return .finished
        case .refused: return .refused
        case .generation: return .generation
        case .abort: return .abort
        case .plan: return .plan
        case .stateHeader: return .stateHeader
        case .stateReceived: return .stateReceived
        case .stepApplied: return .stepApplied
        case .sliceEntries: return .sliceEntries
        case .ringFailed: return .ringFailed
        case .ringSetupFailed: return .ringSetupFailed
        case .unreadableFiles: return .unreadableFiles
        case .leave: return .leave
        case .onlineKNNRequest: return .onlineKNNRequest
        case .onlineKNNResult: return .onlineKNNResult
        }
    }
}

/// What a worker learns when it is accepted.
public struct Welcome: Sendable, Equatable {
    /// The full training config as YAML (`ConfigYAML`), and the dataset the job trains on.
    public var configYAML: String
    public var datasetSpec: String
    public var datasetFingerprint: String
    public var seed: UInt64
    /// Workers hash their state after every step that is a multiple of this (0 = never).
    public var hashEvery: UInt32
    /// Seconds between heartbeats; the coordinator drops a worker silent for `heartbeatTimeout`.
    public var heartbeatInterval: Double
    public var heartbeatTimeout: Double

    public init(configYAML: String, datasetSpec: String, datasetFingerprint: String, seed: UInt64,
                hashEvery: UInt32, heartbeatInterval: Double, heartbeatTimeout: Double) {
        self.configYAML = configYAML; self.datasetSpec = datasetSpec; self.datasetFingerprint = datasetFingerprint
        self.seed = seed; self.hashEvery = hashEvery
        self.heartbeatInterval = heartbeatInterval; self.heartbeatTimeout = heartbeatTimeout
    }
}

/// The non-float part of a training state and the float sections that follow as `StateTransfer`s.
public struct StateHeader: Sendable, Equatable {
    /// Largest number of sections / integers the decoder accepts.
    public static let maxItems = 1 << 16
    /// Per-tensor AdamW step counts, in layout order.
    public var adamSteps: [UInt64]
    /// The memories' write pointers, in checkpoint order.
    public var memoryPointers: [UInt64]
    /// Float sections (name, count) in transfer order.
    public var sections: [StateSection]
    /// Floats per `StateTransfer` message.
    public var chunkFloats: UInt64

    public init(adamSteps: [UInt64], memoryPointers: [UInt64], sections: [StateSection], chunkFloats: UInt64) {
        self.adamSteps = adamSteps; self.memoryPointers = memoryPointers
        self.sections = sections; self.chunkFloats = chunkFloats
    }
}

/// One named float buffer of the state (`student`, `teacher`, `exp_avg`, ...).
public struct StateSection: Sendable, Equatable {
    public var name: String
    public var count: UInt64
    public init(name: String, count: UInt64) { self.name = name; self.count = count }
}

/// A rank's entries of one step, as raw little-endian bytes (layout in `JobMessage.sliceEntries`).
public struct SliceEntries: Sendable, Equatable {
    public var count: UInt32
    public var instanceDim: UInt32
    public var localGroupDim: UInt32
    public var memoryDim: UInt32
    /// One byte per image, 0 or 1.
    public var weak: [UInt8]
    /// The floats, little-endian: 2·count·instanceDim + 2·count·localGroupDim + 2·count·memoryDim values.
    public var floatBytes: [UInt8]

    public init(count: UInt32, instanceDim: UInt32, localGroupDim: UInt32, memoryDim: UInt32, weak: [UInt8],
                floatBytes: [UInt8]) {
        self.count = count; self.instanceDim = instanceDim; self.localGroupDim = localGroupDim
        self.memoryDim = memoryDim; self.weak = weak; self.floatBytes = floatBytes
    }

    /// Floats the data frame must hold for these dimensions.
    public var expectedFloats: UInt64 {
        2 * UInt64(count) * (UInt64(instanceDim) + UInt64(localGroupDim) + UInt64(memoryDim))
    }
}

/// What an online kNN evaluation runs on: the neighbour bank (`trainCount` images of `trainSpec`, evenly spaced over
/// it) and the queries (`valCount` of `valSpec`), both dataset specs as `--data` takes them.
public struct OnlineKNNRequest: Sendable, Equatable {
    public var trainSpec: String
    public var valSpec: String
    public var trainCount: UInt32
    public var valCount: UInt32
    public var k: UInt32
    /// Vote temperature T (weights exp(sim/T)).
    public var temperature: Double

    public init(trainSpec: String, valSpec: String, trainCount: UInt32, valCount: UInt32, k: UInt32,
                temperature: Double) {
        self.trainSpec = trainSpec; self.valSpec = valSpec; self.trainCount = trainCount; self.valCount = valCount
        self.k = k; self.temperature = temperature
    }
}

/// An online kNN evaluation's outcome. `error` is nil on success; otherwise the numbers are 0 and it says why
/// (e.g. an unreadable dataset) — training goes on either way.
public struct OnlineKNNResult: Sendable, Equatable {
    /// Percentages, 0–100.
    public var top1: Double
    public var top5: Double
    public var k: UInt32
    /// Images actually used (a dataset smaller than the request gives fewer).
    public var trainCount: UInt32
    public var valCount: UInt32
    /// Wall time of the evaluation on the worker (including the one-time decoding of the subsets).
    public var seconds: Double
    public var error: String?

    public init(top1: Double, top5: Double, k: UInt32, trainCount: UInt32, valCount: UInt32, seconds: Double,
                error: String? = nil) {
        self.top1 = top1; self.top5 = top5; self.k = k; self.trainCount = trainCount; self.valCount = valCount
        self.seconds = seconds; self.error = error
    }
}
