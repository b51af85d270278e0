import MugsModel

/// Everything `mugs-coordinator` is told on its command line, checked.
public struct CoordinatorSettings: Sendable {
    /// Dataset spec (`fashion-mnist:train` or an ImageFolder root).
    public var dataSpec: String
    /// The training config, or nil to take it from the checkpoint being resumed.
    public var config: MugsConfig?
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

    public init(dataSpec: String, config: MugsConfig?, checkpointDir: String, listen: String, controlHost: String,
                controlPort: Int, minWorkers: Int, maxWorkers: Int, token: String, totalSteps: Int?,
                checkpointEverySteps: Int, checkpointEveryMinutes: Double, keepCheckpoints: Int,
                heartbeatInterval: Double, heartbeatTimeout: Double, hashEvery: Int, logInterval: Double,
                logSamples: Bool, logFormat: JobLog.Format) {
        self.dataSpec = dataSpec; self.config = config; self.checkpointDir = checkpointDir; self.listen = listen
        self.controlHost = controlHost; self.controlPort = controlPort; self.minWorkers = minWorkers
        self.maxWorkers = maxWorkers; self.token = token; self.totalSteps = totalSteps
        self.checkpointEverySteps = checkpointEverySteps; self.checkpointEveryMinutes = checkpointEveryMinutes
        self.keepCheckpoints = keepCheckpoints; self.heartbeatInterval = heartbeatInterval
        self.heartbeatTimeout = heartbeatTimeout; self.hashEvery = hashEvery; self.logInterval = logInterval
        self.logSamples = logSamples; self.logFormat = logFormat
    }
}
