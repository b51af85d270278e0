import ArgumentParser
import Foundation
import WorkerDaemon
import JobCommon
import MugsModel

/// `mugs-worker`: one per machine; joins a coordinator and computes its share of every step (docs/OPERATIONS.md).
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mugs-worker",
        abstract: "Join a Mugs job and train: load and augment this worker's slices, compute, all-reduce, update.",
        discussion: """
        The worker holds only a cache of the training state, which the coordinator re-sends when needed. When the \
        coordinator is gone it keeps the cache and retries with back-off; SIGTERM leaves the job cleanly.
        """)

    @Option(help: "The coordinator's endpoint (its --listen), e.g. tcp://head:5555.")
    var coordinator = "tcp://127.0.0.1:5555"

    @Option(help: "Compute threads (BLAS and loops). Use the machine's cores; 1 when workers share a machine.")
    var threads = 1

    @Option(help: "Threads decoding and augmenting images ahead of the compute.")
    var loaderThreads = 1

    @Option(help: "TCP port of this worker's ring data endpoint.")
    var dataPort = 5601

    @Option(help: """
        Address ring peers use to reach this worker; a host name is resolved here (default: the address of the \
        interface that routes to the coordinator).
        """)
    var dataHost: String?

    @Option(help: """
        Address to bind the data port on, e.g. 10.0.0.7; a host name is resolved here (default: all interfaces, or \
        127.0.0.1 when the coordinator is on this machine's loopback).
        """)
    var dataBind: String?

    @Option(help: "File holding the job token (else $MUGS_TOKEN).")
    var tokenFile: String?

    @Option(help: "A name for this worker in logs and status (default: host-pid).")
    var name: String?

    @Option(help: "Seconds without ring progress before a peer counts as failed.")
    var ringTimeout = 5.0

    @Option(help: "Seconds to wait for a new ring to form.")
    var ringJoinTimeout = 10.0

    @Flag(help: "Send every ring payload over the sockets, even to a worker on this host (by default co-located workers exchange segment bytes through shared memory).")
    var noSharedMemory = false

    @Option(help: "Longest pause between attempts to reach a coordinator that is gone, seconds.")
    var maxBackoff = 5.0

    @Option(help: """
        Longest pause before joining again when evictions follow each other without a step applied (a ring that \
        keeps failing to form with this worker), seconds; the pause starts at 1 s and doubles.
        """)
    var maxSetupBackoff = 60.0

    @Option(help: "GEMM engine: auto (chosen by the CPU's features: oneDNN where the CPU has AVX2/AVX-512, else OpenBLAS), onednn or openblas (default: $MUGS_GEMM, else auto).")
    var gemm = ProcessInfo.processInfo.environment["MUGS_GEMM"] ?? "auto"

    @Option(help: "Log format: text or json.")
    var logFormat = "text"

    func validate() throws {
        guard (1 ... 1024).contains(threads), (1 ... 64).contains(loaderThreads) else {
            throw ValidationError("--threads in 1...1024, --loader-threads in 1...64")
        }
        guard (1 ... 65535).contains(dataPort) else { throw ValidationError("--data-port in 1...65535") }
        guard ringTimeout > 0, ringJoinTimeout > 0, maxBackoff > 0, maxSetupBackoff >= 1 else {
            throw ValidationError("--ring-timeout, --ring-join-timeout and --max-backoff must be positive, "
                                  + "--max-setup-backoff at least 1")
        }
        for (flag, value) in [("--data-host", dataHost), ("--data-bind", dataBind)] {
            if let v = value, v.isEmpty || v.contains("://") || v.contains("/") {
                throw ValidationError("\(flag) takes a host name or address, e.g. 10.0.0.7 (got '\(v)')")
            }
        }
        guard JobLog.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format is text or json") }
        guard GemmEngine.Choice(rawValue: gemm) != nil else {
            throw ValidationError("--gemm is auto, onednn or openblas (got '\(gemm)')")
        }
        guard coordinator.hasPrefix("tcp://") || coordinator.hasPrefix("ipc://") else {
            throw ValidationError("--coordinator must be tcp://HOST:PORT (got '\(coordinator)')")
        }
    }

    func run() throws {
        ProcessLifecycle.install()
        let format = JobLog.Format(rawValue: logFormat)!
        let hostName = ProcessInfo.processInfo.hostName
        let id = name ?? "\(hostName)-\(getpid())"
        let log = JobLog(format: format, component: "worker \(id)")
        do {
            var settings = WorkerSettings(
                coordinator: coordinator, threads: threads, loaderThreads: loaderThreads, dataPort: dataPort,
                dataHost: dataHost.map(Self.unbracketed), dataBind: dataBind.map(Self.unbracketed),
                token: try JobToken.read(file: tokenFile), workerID: id, host: hostName, ringPeerTimeout: ringTimeout,
                ringJoinTimeout: ringJoinTimeout, maxBackoff: maxBackoff, logFormat: format)
            settings.maxSetupBackoff = maxSetupBackoff
            settings.ringSharedMemory = !noSharedMemory
            settings.gemm = GemmEngine.Choice(rawValue: gemm)!
            let service = try WorkerService(settings: settings, log: log)
            let code = service.run()
            if code != 0 { throw ExitCode(code) }
        } catch let e as ExitCode {
            throw e
        } catch {
            log.log("fatal", "mugs-worker: \(error)")
            throw ExitCode(1)
        }
    }

    /// `[::1]` → `::1` (an IPv6 address may be given in brackets, as in endpoints).
    static func unbracketed(_ s: String) -> String {
        s.hasPrefix("[") && s.hasSuffix("]") ? String(s.dropFirst().dropLast()) : s
    }
}
