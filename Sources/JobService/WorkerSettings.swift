import MugsModel

/// Everything `mugs-worker` is told on its command line, checked.
public struct WorkerSettings: Sendable {
    /// The coordinator's ZeroMQ endpoint, e.g. `tcp://head:5555`.
    public var coordinator: String
    /// Compute threads (BLAS and loops).
    public var threads: Int
    /// Threads decoding and augmenting images ahead of the compute.
    public var loaderThreads: Int
    /// This worker's ring data endpoint as peers connect to it (`tcp://HOST:PORT`), and what it binds.
    public var dataEndpoint: String
    public var dataBind: String?
    public var token: String
    /// A stable name for logs and the status table (default host-pid).
    public var workerID: String
    public var host: String
    /// Ring: seconds without progress before a peer is declared failed, and to wait for a ring to form.
    public var ringPeerTimeout: Double
    public var ringJoinTimeout: Double
    /// Ring links to co-located peers carry payloads through shared memory (`RingOptions.sharedMemory`).
    public var ringSharedMemory = true
    /// Longest pause between attempts to reach a coordinator that is gone.
    public var maxBackoff: Double
    public var logFormat: JobLog.Format
    /// The GEMM engine to run (`auto`: chosen by the CPU's features, docs/OPERATIONS.md "GEMM engine").
    public var gemm: GemmEngine.Choice = .auto

    public init(coordinator: String, threads: Int, loaderThreads: Int, dataEndpoint: String, dataBind: String?,
                token: String, workerID: String, host: String, ringPeerTimeout: Double, ringJoinTimeout: Double,
                maxBackoff: Double, logFormat: JobLog.Format) {
        self.coordinator = coordinator; self.threads = threads; self.loaderThreads = loaderThreads
        self.dataEndpoint = dataEndpoint; self.dataBind = dataBind; self.token = token; self.workerID = workerID
        self.host = host; self.ringPeerTimeout = ringPeerTimeout; self.ringJoinTimeout = ringJoinTimeout
        self.maxBackoff = maxBackoff; self.logFormat = logFormat
    }
}
