import Foundation

/// The job status served at `GET /status` and rendered by `mugs status`. Units are in the field names.
public struct StatusReport: Codable, Sendable, Equatable {
    public struct Worker: Codable, Sendable, Equatable {
        public var rank: Int
        public var host: String
        public var heartbeatAgeSeconds: Double
        public var imagesPerSecond: Double
        /// The worker's GEMM engine and kernel family, e.g. `onednn (oneDNN 2.6.3, avx512_core_bf16)`, and the GEMM
        /// throughput of its last step (0 before its first).
        public var gemm: String
        public var gemmGflopPerSecond: Double
        /// Why this worker (by name) was last dropped from the job, e.g. its ring could not be set up; null if never.
        public var lastError: String?
        public init(rank: Int, host: String, heartbeatAgeSeconds: Double, imagesPerSecond: Double, gemm: String = "",
                    gemmGflopPerSecond: Double = 0, lastError: String? = nil) {
            self.rank = rank; self.host = host
            self.heartbeatAgeSeconds = heartbeatAgeSeconds; self.imagesPerSecond = imagesPerSecond
            self.gemm = gemm; self.gemmGflopPerSecond = gemmGflopPerSecond; self.lastError = lastError
        }

        enum CodingKeys: String, CodingKey {
            case rank, host, heartbeatAgeSeconds, imagesPerSecond, gemm, gemmGflopPerSecond, lastError
        }

        /// Every key, `last_error` as an explicit `null` when the worker was never dropped.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(rank, forKey: .rank); try c.encode(host, forKey: .host)
            try c.encode(heartbeatAgeSeconds, forKey: .heartbeatAgeSeconds)
            try c.encode(imagesPerSecond, forKey: .imagesPerSecond); try c.encode(gemm, forKey: .gemm)
            try c.encode(gemmGflopPerSecond, forKey: .gemmGflopPerSecond); try c.encode(lastError, forKey: .lastError)
        }
    }

    /// A worker dropped from the job and why (it may be back, backing off, or gone), at the committed step `step`.
    public struct WorkerError: Codable, Sendable, Equatable {
        public var worker: String
        public var host: String
        public var error: String
        public var step: Int
        public var unixTime: Double
        public init(worker: String, host: String, error: String, step: Int, unixTime: Double) {
            self.worker = worker; self.host = host; self.error = error; self.step = step; self.unixTime = unixTime
        }
    }

    /// An image a worker could not read (and replaced by the next readable one), with the reason.
    public struct SkippedFile: Codable, Sendable, Equatable {
        public var path: String
        public var reason: String
        /// The worker that met it first.
        public var worker: String
        public init(path: String, reason: String, worker: String) {
            self.path = path; self.reason = reason; self.worker = worker
        }
    }

    public struct Losses: Codable, Sendable, Equatable {
        public var instance: Double
        public var localGroup: Double
        public var group: Double
        public var total: Double
        public init(instance: Double, localGroup: Double, group: Double, total: Double) {
            self.instance = instance; self.localGroup = localGroup; self.group = group; self.total = total
        }
    }

    public struct Checkpoint: Codable, Sendable, Equatable {
        public var path: String
        public var step: Int
        public var unixTime: Double
        public init(path: String, step: Int, unixTime: Double) { self.path = path; self.step = step; self.unixTime = unixTime }
    }

    /// The last online kNN evaluation during training (`--online-knn-every`): the teacher at `step`, accuracies in
    /// percent, the images used, the evaluating worker and its wall time. (Named `Knn` so that the JSON key
    /// `online_knn` decodes back with `.convertFromSnakeCase`.)
    public struct OnlineKnn: Codable, Sendable, Equatable {
        public var step: Int
        public var top1: Double
        public var top5: Double
        public var k: Int
        public var trainCount: Int
        public var valCount: Int
        public var seconds: Double
        public var worker: String
        public init(step: Int, top1: Double, top5: Double, k: Int, trainCount: Int, valCount: Int, seconds: Double,
                    worker: String) {
            self.step = step; self.top1 = top1; self.top5 = top5; self.k = k; self.trainCount = trainCount
            self.valCount = valCount; self.seconds = seconds; self.worker = worker
        }
    }

    public var job: String
    /// `waiting` (below min workers), `training`, `paused`, `stopping`, `finished`.
    public var state: String
    public var generation: Int
    public var step: Int
    public var totalSteps: Int
    public var epoch: Int
    /// Fraction of the current epoch's samples committed, 0…1.
    public var epochProgress: Double
    public var globalBatch: Int
    public var minWorkers: Int
    public var workers: [Worker]
    public var losses: Losses?
    public var lr: Double
    public var weightDecay: Double
    public var teacherMomentum: Double
    public var teacherTemperature: Double
    public var imagesPerSecond: Double
    public var etaSeconds: Double?
    public var lastCheckpoint: Checkpoint?
    /// Distinct unreadable images the workers skipped.
    public var skippedFiles: Int
    /// The most recent of them (at most 8, newest last), with reasons.
    public var skippedFilesRecent: [SkippedFile]
    /// The most recent workers dropped from the job (at most 8, newest last) and why.
    public var workerErrors: [WorkerError]
    /// null when online kNN is off or before its first result.
    public var onlineKnn: OnlineKnn?

    enum CodingKeys: String, CodingKey {
        case job, state, generation, step, totalSteps, epoch, epochProgress, globalBatch, minWorkers, workers, losses
        case lr, weightDecay, teacherMomentum, teacherTemperature, imagesPerSecond, etaSeconds, lastCheckpoint
        case skippedFiles, skippedFilesRecent, workerErrors, onlineKnn
    }

    /// Every key, always: an unknown value (no loss yet, no ETA yet, no checkpoint) is an explicit `null`, so that a
    /// client never has to guess whether a key is missing or unknown (the synthesized encoder drops nil optionals).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(job, forKey: .job); try c.encode(state, forKey: .state)
        try c.encode(generation, forKey: .generation); try c.encode(step, forKey: .step)
        try c.encode(totalSteps, forKey: .totalSteps); try c.encode(epoch, forKey: .epoch)
        try c.encode(epochProgress, forKey: .epochProgress); try c.encode(globalBatch, forKey: .globalBatch)
        try c.encode(minWorkers, forKey: .minWorkers); try c.encode(workers, forKey: .workers)
        try c.encode(losses, forKey: .losses); try c.encode(lr, forKey: .lr)
        try c.encode(weightDecay, forKey: .weightDecay); try c.encode(teacherMomentum, forKey: .teacherMomentum)
        try c.encode(teacherTemperature, forKey: .teacherTemperature)
        try c.encode(imagesPerSecond, forKey: .imagesPerSecond); try c.encode(etaSeconds, forKey: .etaSeconds)
        try c.encode(lastCheckpoint, forKey: .lastCheckpoint); try c.encode(skippedFiles, forKey: .skippedFiles)
        try c.encode(skippedFilesRecent, forKey: .skippedFilesRecent); try c.encode(workerErrors, forKey: .workerErrors)
        try c.encode(onlineKnn, forKey: .onlineKnn)
    }

    public init(job: String, state: String, generation: Int, step: Int, totalSteps: Int, epoch: Int,
                epochProgress: Double, globalBatch: Int, minWorkers: Int, workers: [Worker], losses: Losses?,
                lr: Double, weightDecay: Double, teacherMomentum: Double, teacherTemperature: Double,
                imagesPerSecond: Double, etaSeconds: Double?, lastCheckpoint: Checkpoint?, skippedFiles: Int,
                skippedFilesRecent: [SkippedFile] = [], workerErrors: [WorkerError] = [], onlineKnn: OnlineKnn? = nil) {
        self.job = job; self.state = state; self.generation = generation; self.step = step
        self.totalSteps = totalSteps; self.epoch = epoch; self.epochProgress = epochProgress
        self.globalBatch = globalBatch; self.minWorkers = minWorkers; self.workers = workers; self.losses = losses
        self.lr = lr; self.weightDecay = weightDecay; self.teacherMomentum = teacherMomentum
        self.teacherTemperature = teacherTemperature; self.imagesPerSecond = imagesPerSecond
        self.etaSeconds = etaSeconds; self.lastCheckpoint = lastCheckpoint; self.skippedFiles = skippedFiles
        self.skippedFilesRecent = skippedFilesRecent; self.workerErrors = workerErrors
        self.onlineKnn = onlineKnn
    }

    /// Stable JSON (sorted keys, snake_case) as served by the control port.
    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.keyEncodingStrategy = .convertToSnakeCase
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: (try? e.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }

    public static func decode(_ data: Data) throws -> StatusReport {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try d.decode(StatusReport.self, from: data)
    }
}
