import ArgumentParser
import Foundation
import CoordinatorDaemon
import JobCommon
import MugsModel

/// `mugs-coordinator`: the head of a distributed Mugs job (docs/OPERATIONS.md).
@main
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mugs-coordinator",
        abstract: "Run a Mugs pretraining job: membership, step plans, the authoritative state, checkpoints.",
        discussion: """
        Workers (mugs-worker) connect to --listen; the control port (--control) serves the dashboard (GET /), GET \
        /status, /metrics, /history and POST /checkpoint|/pause|/resume|/stop (with the job token). With a \
        checkpoint in --checkpoint-dir the job resumes from it. SIGTERM writes a checkpoint and exits; running workers \
        wait and rejoin a restarted coordinator.
        """)

    @Option(help: "Dataset: fashion-mnist:train, fashion-mnist:test, or an ImageFolder root.")
    var data: String

    @Option(help: "Training config YAML (see `mugs config show`).")
    var config: String?

    @Option(help: "Named config preset (\(MugsConfig.presetNames.joined(separator: ", "))).")
    var preset: String?

    @Option(help: ArgumentHelp("Precision of the layers' matrix products for the whole job, overriding the config's: "
                               + "fp32, or bf16 (every worker needs AVX512_BF16; others are refused).",
                               valueName: "fp32|bf16"))
    var precision: Precision?

    @Option(help: "Directory for checkpoints; a checkpoint already there is resumed.")
    var checkpointDir: String

    @Option(help: "ZeroMQ endpoint workers connect to.")
    var listen = "tcp://127.0.0.1:5555"

    @Option(help: "Control port HOST:PORT (HTTP). Binding a non-loopback host needs --public-control.")
    var control = "127.0.0.1:8750"

    @Flag(help: "Allow --control on a non-loopback address (anyone who can reach it can read the status).")
    var publicControl = false

    @Option(help: "Fewest workers to train with; below it the job waits.")
    var minWorkers = 1

    @Option(help: "Most workers in the ring; later joiners are refused.")
    var maxWorkers = 64

    @Option(help: "File holding the job token (else $MUGS_TOKEN).")
    var tokenFile: String?

    @Option(help: "Stop after this many steps in total (default: epochs × steps per epoch).")
    var steps: Int?

    @Option(help: "Checkpoint every N committed steps (0: off).")
    var checkpointEvery = 500

    @Option(help: "Checkpoint every M minutes (0: off).")
    var checkpointMinutes = 30.0

    @Option(help: "Checkpoints to keep.")
    var keepCheckpoints = 3

    @Option(help: "Seconds between heartbeats.")
    var heartbeatInterval = 1.0

    @Option(help: "Seconds of silence after which a worker is dropped.")
    var heartbeatTimeout = 3.0

    @Option(help: """
        Bound on one step, seconds: a step not committed within the larger of this and 10 × the measured step time \
        ends the generation (the ring is re-formed); a worker that has not loaded the state this long after a ring \
        formed is dropped.
        """)
    var stepTimeout = 300.0

    @Option(help: "Compare the workers' state hashes with the coordinator's every N steps (0: never).")
    var hashEvery = 10

    @Option(help: "Seconds between step log lines in text format (0: every step).")
    var logInterval = 0.0

    @Flag(help: "Add each committed step's sample indices to the JSON log.")
    var logSamples = false

    @Option(help: "Log format: text or json.")
    var logFormat = "text"

    /// One worker (rank 0) evaluates between steps while the ring waits; docs/OPERATIONS.md.
    @Option(help: """
        Evaluate the teacher by kNN every N committed steps and at the last step; shown in /status, /metrics and \
        the log (0: off).
        """)
    var onlineKnnEvery = 0

    @Option(help: "Online kNN neighbour bank: a dataset spec (default: --data).")
    var onlineKnnTrain: String?

    @Option(help: """
        Online kNN queries: a labelled held-out dataset spec (required unless the bank is fashion-mnist:train: then \
        fashion-mnist:test).
        """)
    var onlineKnnVal: String?

    @Option(help: "Online kNN: N images of the bank, evenly spaced over it.")
    var onlineKnnTrainCount = 5000

    @Option(help: "Online kNN: N images of the queries, evenly spaced over them.")
    var onlineKnnValCount = 1000

    @Option(help: "Online kNN: neighbours per query (T = 0.07).")
    var onlineKnnK = 20

    @Option(help: """
        Dataset spec of the images whose attention maps the dashboard (GET /) shows for the latest checkpoint (4, \
        evenly spaced; default: --online-knn-val, else fashion-mnist:test for fashion-mnist:train, else --data).
        """)
    var dashboardImages: String?

    func validate() throws {
        guard (config == nil) || (preset == nil) else { throw ValidationError("give --config or --preset, not both") }
        if let preset, MugsConfig.preset(named: preset) == nil {
            throw ValidationError("unknown preset '\(preset)' (known: \(MugsConfig.presetNames.joined(separator: ", ")))")
        }
        guard minWorkers >= 1, maxWorkers >= minWorkers else {
            throw ValidationError("need 1 ≤ --min-workers ≤ --max-workers (got \(minWorkers), \(maxWorkers))")
        }
        if let steps, steps < 1 { throw ValidationError("--steps must be ≥ 1") }
        guard checkpointEvery >= 0, checkpointMinutes >= 0, keepCheckpoints >= 1, hashEvery >= 0, logInterval >= 0 else {
            throw ValidationError("--checkpoint-every, --checkpoint-minutes, --hash-every, --log-interval ≥ 0; "
                                  + "--keep-checkpoints ≥ 1")
        }
        guard heartbeatInterval > 0, heartbeatTimeout > heartbeatInterval else {
            throw ValidationError("need 0 < --heartbeat-interval < --heartbeat-timeout")
        }
        guard stepTimeout > 0, stepTimeout.isFinite else {
            throw ValidationError("--step-timeout must be a positive number of seconds (got \(stepTimeout))")
        }
        guard JobLog.Format(rawValue: logFormat) != nil else { throw ValidationError("--log-format is text or json") }
        let (host, port) = try Self.hostPort(control)
        if !publicControl && !["127.0.0.1", "localhost", "::1"].contains(host) {
            throw ValidationError("--control \(control) is not a loopback address; add --public-control to allow it")
        }
        _ = port
        do { _ = try onlineKNNSettings() } catch { throw ValidationError("\(error)") }
    }

    func onlineKNNSettings() throws(JobError) -> OnlineKNNSettings? {
        try OnlineKNNSettings.from(every: onlineKnnEvery, dataSpec: data, trainSpec: onlineKnnTrain,
                                   valSpec: onlineKnnVal, trainCount: onlineKnnTrainCount,
                                   valCount: onlineKnnValCount, k: onlineKnnK)
    }

    static func hostPort(_ s: String) throws -> (String, Int) {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0 ... 65535).contains(port)
        else { throw ValidationError("--control must be HOST:PORT, got '\(s)'") }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ValidationError("--control needs a host, e.g. 127.0.0.1:8750") }
        return (host, port)
    }

    func run() throws {
        ProcessLifecycle.install()
        let log = JobLog(format: JobLog.Format(rawValue: logFormat)!, component: "coordinator")
        do {
            var c: MugsConfig?
            if let preset { c = MugsConfig.preset(named: preset) }
            if let config {
                guard let text = try? String(contentsOfFile: config, encoding: .utf8) else {
                    throw JobError("--config \(config)", "cannot be read")
                }
                c = try ConfigYAML.parse(text, source: config)
            }
            let (host, port) = try Self.hostPort(control)
            var settings = CoordinatorSettings(
                dataSpec: data, config: c, checkpointDir: checkpointDir, listen: listen, controlHost: host,
                controlPort: port, minWorkers: minWorkers, maxWorkers: maxWorkers,
                token: try JobToken.read(file: tokenFile), totalSteps: steps, checkpointEverySteps: checkpointEvery,
                checkpointEveryMinutes: checkpointMinutes, keepCheckpoints: keepCheckpoints,
                heartbeatInterval: heartbeatInterval, heartbeatTimeout: heartbeatTimeout, hashEvery: hashEvery,
                logInterval: logInterval, logSamples: logSamples, logFormat: JobLog.Format(rawValue: logFormat)!,
                onlineKNN: try onlineKNNSettings(), dashboardImages: dashboardImages)
            settings.stepTimeout = stepTimeout
            settings.precision = precision
            let service = try CoordinatorService(settings: settings, log: log)
            let code = service.run()
            if code != 0 { throw ExitCode(code) }
        } catch let e as ExitCode {
            throw e
        } catch {
            log.log("fatal", "mugs-coordinator: \(error)")
            throw ExitCode(1)
        }
    }
}
extension Precision: ExpressibleByArgument {}
