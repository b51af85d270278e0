import JobCommon
import MugsModel

/// Everything `mugs-worker` is told on its command line, checked.
public struct WorkerSettings: Sendable {
    /// The coordinator's ZeroMQ endpoint, e.g. `tcp://head:5555`.
    public var coordinator: String
    /// Compute threads (BLAS and loops).
    public var threads: Int
    /// Threads decoding and augmenting images ahead of the compute.
    public var loaderThreads: Int
    /// The ring data port, the address peers use to reach it (`--data-host`; nil: the address of the interface that
    /// routes to the coordinator) and the address it binds (`--data-bind`; nil: all interfaces, or the loopback address
    /// for a loopback coordinator). `DataAddress` works out the endpoints.
    public var dataPort: Int
    public var dataHost: String?
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
    /// Longest pause before joining again after evictions in a row without a step applied (a ring that keeps failing
    /// to form with this worker in it): 1 s after the first, then doubling up to this.
    public var maxSetupBackoff: Double = 60
    public var logFormat: JobLog.Format
    /// The GEMM engine to run (`auto`: chosen by the CPU's features, docs/OPERATIONS.md "GEMM engine").
    public var gemm: GemmEngine.Choice = .auto

    public init(coordinator: String, threads: Int, loaderThreads: Int, dataPort: Int, dataHost: String?,
                dataBind: String?, token: String, workerID: String, host: String, ringPeerTimeout: Double,
                ringJoinTimeout: Double, maxBackoff: Double, logFormat: JobLog.Format) {
        self.coordinator = coordinator; self.threads = threads; self.loaderThreads = loaderThreads
        self.dataPort = dataPort; self.dataHost = dataHost; self.dataBind = dataBind; self.token = token
        self.workerID = workerID
        self.host = host; self.ringPeerTimeout = ringPeerTimeout; self.ringJoinTimeout = ringJoinTimeout
        self.maxBackoff = maxBackoff; self.logFormat = logFormat
    }
}
