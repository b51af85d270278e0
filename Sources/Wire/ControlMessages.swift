/// Control-plane message bodies (worker ↔ coordinator). The header carries job, generation, step and sender;
/// these structs hold only the type-specific fields. Encoded as little-endian records (`ByteWriter`), decoded
/// totally (`ByteReader`).

/// A worker announces itself to the coordinator.
public struct Join: Sendable, Equatable {
    /// Stable worker identity (e.g. host:pid or a UUID); survives generations.
    public var workerID: String
    public var host: String
    /// The worker's ring data endpoint as peers must connect to it, e.g. `tcp://10.0.0.7:5601`.
    public var dataEndpoint: String
    public var cores: UInt32
    /// The last committed step the worker's state cache holds, if any.
    public var cachedStep: UInt64?
    /// The job token (the coordinator refuses a join without the right one).
    public var token: String
    /// `TrainState.stateHash()` of the cache at `cachedStep`, when known: a cache is reused only if it is bitwise the
    /// coordinator's state at that step (another coordinator's timeline may reach the same step with other bits).
    public var cachedStateHash: UInt64?
    /// The GEMM engine the worker computes with and its kernel family, as `mugs info` names it
    /// (e.g. `onednn (oneDNN 2.6.3, avx512_core_bf16)`); empty when not reported.
    public var gemm: String
    /// The precisions the worker can run, comma-separated (`fp32` or `fp32,bf16`): the coordinator refuses a worker
    /// that cannot run the job's.
    public var precisions: String
    /// Why a precision is missing from `precisions`, naming the missing CPU feature or library (empty when none is).
    public var precisionNote: String

    public init(workerID: String, host: String, dataEndpoint: String, cores: UInt32, cachedStep: UInt64?,
                token: String = "", cachedStateHash: UInt64? = nil, gemm: String = "", precisions: String = "fp32",
                precisionNote: String = "") {
        self.token = token
        self.gemm = gemm
        self.precisions = precisions
        self.precisionNote = precisionNote
        self.cachedStateHash = cachedStateHash
        self.workerID = workerID
        self.host = host
        self.dataEndpoint = dataEndpoint
        self.cores = cores
        self.cachedStep = cachedStep
    }
}

extension Join {
    /// Why a job of `precision` cannot take this worker (naming the worker, its host and what it lacks), or nil.
    public func refusal(precision: String) -> String? {
        if precisions.split(separator: ",").contains(Substring(precision)) { return nil }
        return "worker \(workerID) on \(host) cannot run this job's precision \(precision)"
            + (precisionNote.isEmpty ? " (it runs \(precisions.isEmpty ? "none" : precisions))" : ": \(precisionNote)")
    }
}

/// Periodic liveness and progress report.
public struct Heartbeat: Sendable, Equatable {
    public var workerID: String
    public var cachedStep: UInt64?
    /// Images per second over the last interval.
    public var imagesPerSecond: Double
    /// GEMM throughput of the worker's last step (GFLOP/s of matrix products per second of their wall time; 0 before
    /// the first step).
    public var gemmGflopPerSecond: Double

    public init(workerID: String, cachedStep: UInt64?, imagesPerSecond: Double, gemmGflopPerSecond: Double = 0) {
        self.workerID = workerID
        self.gemmGflopPerSecond = gemmGflopPerSecond
        self.cachedStep = cachedStep
        self.imagesPerSecond = imagesPerSecond
    }
}

/// One rank's place in a step: who it is, where its data port is, and its slice of the global batch
/// (`sampleCount` consecutive entries of the epoch permutation starting at cursor `sampleStart`).
public struct RankSlot: Sendable, Equatable {
    public var workerID: String
    public var dataEndpoint: String
    public var sampleStart: UInt64
    public var sampleCount: UInt32

    public init(workerID: String, dataEndpoint: String, sampleStart: UInt64, sampleCount: UInt32) {
        self.workerID = workerID
        self.dataEndpoint = dataEndpoint
        self.sampleStart = sampleStart
        self.sampleCount = sampleCount
    }
}

/// The coordinator's plan for (generation, step): ring order (index = rank) and the batch split.
public struct StepPlan: Sendable, Equatable {
    /// Largest ring the decoder accepts.
    public static let maxRanks = 4096
    public var epoch: UInt64
    public var batchSize: UInt32
    public var ranks: [RankSlot]

    public init(epoch: UInt64, batchSize: UInt32, ranks: [RankSlot]) {
        self.epoch = epoch
        self.batchSize = batchSize
        self.ranks = ranks
    }
}

/// The coordinator commits the step named in the header.
public struct Commit: Sendable, Equatable {
    /// Hash of the committed state, so workers can check their caches.
    public var stateHash: UInt64

    public init(stateHash: UInt64) { self.stateHash = stateHash }
}

/// A piece of a named state buffer (e.g. "student", "adam.m") of `totalCount` floats, starting at `offset`; the
/// data frame holds the Float32 values little-endian.
public struct StateTransfer: Sendable, Equatable {
    public var section: String
    public var offset: UInt64
    public var totalCount: UInt64
    public var values: [Float]

    public init(section: String, offset: UInt64, totalCount: UInt64, values: [Float]) {
        self.section = section
        self.offset = offset
        self.totalCount = totalCount
        self.values = values
    }
}

/// A rank's reduced chunk of the fused gradient buffer after reduce-scatter (floats `offset ..< offset+count` of a
/// buffer of `totalCount`), sent to the coordinator.
public struct ReducedChunk: Sendable, Equatable {
    public var offset: UInt64
    public var totalCount: UInt64
    public var values: [Float]

    public init(offset: UInt64, totalCount: UInt64, values: [Float]) {
        self.offset = offset
        self.totalCount = totalCount
        self.values = values
    }
}
