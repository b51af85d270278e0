import JobCommon
import MugsModel

/// Everything `mugs-coordinator` is told on its command line, checked.
public struct CoordinatorSettings: Sendable {
    /// Dataset spec (`fashion-mnist:train` or an ImageFolder root).
    public var dataSpec: String
    /// The training config, or nil to take it from the checkpoint being resumed.
    public var config: MugsConfig?
    /// Overrides the config's (or the resumed checkpoint's) `precision` (`--precision`).
    public var precision: Precision?
    public var checkpointDir: String
    /// ZeroMQ endpoint the ROUTER binds, e.g. `tcp://0.0.0.0:5555`.
    public var listen: String
    public var controlHost: String
    public var controlPort: Int
    public var minWorkers: Int
    public var maxWorkers: Int
    public var token: String
    /// Stop after this many steps in total (default: `epochs` × steps per epoch).
    public var totalSteps: Int?
    public var checkpointEverySteps: Int
    public var checkpointEveryMinutes: Double
    public var keepCheckpoints: Int
    public var heartbeatInterval: Double
    public var heartbeatTimeout: Double
    /// Compare state hashes every this many steps (0 = never).
    public var hashEvery: Int
    /// Seconds between step log lines (0 = every step).
    public var logInterval: Double
    /// Put each committed step's sample indices in the JSON log.
    public var logSamples: Bool
    public var logFormat: JobLog.Format
    /// Online kNN during training (nil: off).
    public var onlineKNN: OnlineKNNSettings?
    /// The floor of the bound on one step, seconds (`CoordinatorMachine.Settings.stepTimeoutFloor`).
    public var stepTimeout: Double = 300
    /// The dataset whose evenly spaced images the dashboard shows attention maps of (nil: the online kNN queries,
    /// else fashion-mnist:test for fashion-mnist:train, else the training data).
    public var dashboardImages: String?

    public init(dataSpec: String, config: MugsConfig?, checkpointDir: String, listen: String, controlHost: String,
                controlPort: Int, minWorkers: Int, maxWorkers: Int, token: String, totalSteps: Int?,
                checkpointEverySteps: Int, checkpointEveryMinutes: Double, keepCheckpoints: Int,
                heartbeatInterval: Double, heartbeatTimeout: Double, hashEvery: Int, logInterval: Double,
                logSamples: Bool, logFormat: JobLog.Format, onlineKNN: OnlineKNNSettings? = nil,
                dashboardImages: String? = nil) {
        self.dataSpec = dataSpec; self.config = config; self.checkpointDir = checkpointDir; self.listen = listen
        self.controlHost = controlHost; self.controlPort = controlPort; self.minWorkers = minWorkers
        self.maxWorkers = maxWorkers; self.token = token; self.totalSteps = totalSteps
        self.checkpointEverySteps = checkpointEverySteps; self.checkpointEveryMinutes = checkpointEveryMinutes
        self.keepCheckpoints = keepCheckpoints; self.heartbeatInterval = heartbeatInterval
        self.heartbeatTimeout = heartbeatTimeout; self.hashEvery = hashEvery; self.logInterval = logInterval
        self.logSamples = logSamples; self.logFormat = logFormat; self.onlineKNN = onlineKNN
        self.dashboardImages = dashboardImages
    }
}

/// Online kNN during training: every `every` committed steps (and at the last step) one worker evaluates the
/// teacher's kNN accuracy on fixed subsets (`OnlineKNN`); the result goes to `/status`, `/metrics` and the log.
public struct OnlineKNNSettings: Sendable, Equatable {
    /// Committed steps between evaluations (≥ 1).
    public var every: Int
    /// Dataset specs of the neighbour bank and of the queries, as `--data` takes them.
    public var trainSpec: String
    public var valSpec: String
    /// This many images of each, evenly spaced over it (`DatasetSubset`).
    public var trainCount: Int
    public var valCount: Int
    public var k: Int
    /// Vote temperature (DINO's 0.07).
    public var temperature: Double
    /// Longest wait for a result before training goes on without it (a worker that stays alive but never answers).
    public var timeoutSeconds: Double

    public init(every: Int, trainSpec: String, valSpec: String, trainCount: Int = 5000, valCount: Int = 1000,
                k: Int = 20, temperature: Double = 0.07, timeoutSeconds: Double = 1800) {
        self.every = every; self.trainSpec = trainSpec; self.valSpec = valSpec; self.trainCount = trainCount
        self.valCount = valCount; self.k = k; self.temperature = temperature; self.timeoutSeconds = timeoutSeconds
    }

    /// The settings the coordinator's options give, checked: nil when `every` is 0. The bank defaults to the training
    /// data; the queries must be named unless the training data is `fashion-mnist:train` (then `fashion-mnist:test`).
    public static func from(every: Int, dataSpec: String, trainSpec: String?, valSpec: String?, trainCount: Int,
                            valCount: Int, k: Int) throws(JobError) -> OnlineKNNSettings? {
        guard every >= 0 else { throw JobError("--online-knn-every \(every)", "must be ≥ 0 (0: off)") }
        guard every > 0 else { return nil }
        guard trainCount >= 1, valCount >= 1, k >= 1 else {
            throw JobError("--online-knn-train-count/--online-knn-val-count/--online-knn-k",
                           "must be ≥ 1 (got \(trainCount), \(valCount), \(k))")
        }
        guard k < trainCount else {
            throw JobError("--online-knn-k \(k)",
                           "needs more bank images than neighbours (--online-knn-train-count \(trainCount))")
        }
        let train = trainSpec ?? dataSpec
        let val: String
        if let valSpec { val = valSpec } else if train == "fashion-mnist:train" { val = "fashion-mnist:test" } else {
            throw JobError("--online-knn-every \(every)", "needs --online-knn-val (held-out images with labels)",
                           hint: "e.g. --online-knn-val /data/imagenet/val; only fashion-mnist:train has a default "
                                 + "(fashion-mnist:test)")
        }
        return OnlineKNNSettings(every: every, trainSpec: train, valSpec: val, trainCount: trainCount,
                                 valCount: valCount, k: k)
    }
}
