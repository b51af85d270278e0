import ControlPort
import CoordinatorCore
import Foundation
import JobCommon
import MugsData
import MugsModel
import Sampling
import Transport
import Wire

/// `mugs-coordinator`'s service: turns the pure `CoordinatorMachine` into a running job. One thread owns the
/// ROUTER socket, the machine and the authoritative `TrainState`; the control port runs on its own thread and talks
/// to this one through `CoordinatorControl` (snapshots out, actions in); checkpoints are written on a background
/// thread from a snapshot.
///
/// Loop: poll the ROUTER (≤ 100 ms) → decode each message → feed the machine → carry out its actions (send plans,
/// stream state, apply and commit steps, checkpoint) → `.tick(now)` → control actions → signals.
public final class CoordinatorService {
    struct Peer {
        var routingID: [UInt8]
        var name: String
        var host: String
        /// The worker's GEMM engine as its join named it, and its last reported GEMM throughput.
        var gemm: String
        var gemmGflopPerSecond: Double = 0
        var imagesPerSecond: Double = 0
        var lastHeard: Double
    }

    /// A state transfer in progress to one worker.
    struct Stream {
        var worker: CoordinatorMachine.WorkerID
        var step: Int
        var headerSent = false
        var section = 0
        var offset = 0
    }

    let settings: CoordinatorSettings
    let log: JobLog
    let config: MugsConfig
    let configYAML: String
    let dataset: ImageDataset
    let plan: EpochPlan
    let totalSteps: Int
    let jobID: UInt64
    let jobName: String
    let state: TrainState
    let sections: StateSections
    var machine: CoordinatorMachine
    let control: CoordinatorControl
    let server: ControlServer
    let writer: CheckpointWriter
    let context: ZMQContext
    let router: ZMQSocket
    let scratch = ZMQMessage()
    static let chunkFloats = 1 << 18

    var peers: [CoordinatorMachine.WorkerID: Peer] = [:]
    var idsByRouting: [[UInt8]: CoordinatorMachine.WorkerID] = [:]
    var nextWorkerID: CoordinatorMachine.WorkerID = 1
    var ringMembers: [CoordinatorMachine.WorkerID] = []
    var streams: [Stream] = []
    var assemblies: [StepAssembly]
    /// The samples of each planned step (`EpochPlan` with its current permutation kept).
    var schedule: SampleSchedule
    var plannedSamples: [Int: [[Int32]]] = [:]
    var lastLosses: StatusReport.Losses?
    var lastApplied: AppliedStep?
    var lastCommitTime: Double?
    var secondsPerStep: Double?
    var lastStepLog = -Double.infinity
    var lastCheckpointStep: Int
    var lastCheckpointTime: Double
    var lastCheckpoint: StatusReport.Checkpoint?
    var lastHeartbeatSent = 0.0
    var refusalsLogged: [String: Double] = [:]
    var lostPeers: Set<CoordinatorMachine.WorkerID> = []
    /// The last error attributed to each worker, by name (its evictions' reasons), kept across its rejoins; and the
    /// most recent ones, newest last (`/status` `worker_errors`).
    var lastErrorByName: [String: String] = [:]
    var recentErrors: [StatusReport.WorkerError] = []
    /// Workers evicted since start (`mugs_worker_errors_total`).
    var evictions = 0
    /// Unreadable files the workers reported: every distinct path (the status counts them) and the most recent few with
    /// their reasons, newest last.
    var unreadablePaths: Set<String> = []
    var recentUnreadable: [StatusReport.SkippedFile] = []
    /// How many recent worker errors and unreadable files `/status` lists.
    static let recentLimit = 8
    var finishedReason: String?
    /// A finish that waits for the last online kNN result (`CoordinatorService+OnlineKNN`).
    var deferredFinish: String?
    var onlineKNNPending: OnlineKNNPending?
    var onlineKNNLast: StatusReport.OnlineKnn?
    var exitCode: Int32 = 0
    let startTime = ProcessLifecycle.now()
    /// The run's history (`CoordinatorService+History`) and whether the control port has its latest value.
    var history: RunHistory
    var historyChanged = true
    /// The dashboard's attention maps, rendered on their own thread.
    let gallery: AttentionGallery

    public init(settings s: CoordinatorSettings, log: JobLog) throws {
        settings = s
        self.log = log
        dataset = try DatasetSpec.open(s.dataSpec)
        // Resume or start fresh.
        var resumed: CheckpointInfo?
        if (try? Checkpoint.resolve(s.checkpointDir)) != nil { resumed = try Checkpoint.readInfo(s.checkpointDir) }
        var c: MugsConfig
        if let r = resumed {
            c = r.config
            if let given = s.config, given != r.config {
                let diff = MugsConfig.fields.filter { $0.render(given) != $0.render(r.config) }.map(\.name)
                throw JobError("--config", "differs from the config of the checkpoint in \(s.checkpointDir) "
                               + "(fields \(diff.joined(separator: ", ")))",
                               hint: "omit --config/--preset to resume with the checkpoint's, or use a new --checkpoint-dir")
            }
            if let fp = r.extra["dataset_fingerprint"], fp != dataset.fingerprint {
                throw JobError("--data \(s.dataSpec)", "is not the dataset the checkpoint was trained on "
                               + "(fingerprint \(dataset.fingerprint), checkpoint \(fp))")
            }
        } else {
            guard let given = s.config else {
                throw JobError("config", "no --config or --preset, and \(s.checkpointDir) holds no checkpoint to resume")
            }
            c = given
        }
        if let p = s.precision, p.rawValue != c.precision {
            log.log("precision", "precision \(p.rawValue) (--precision; the config says \(c.precision))")
            c.precision = p.rawValue
        }
        try c.validate()
        _ = try MultiCropConfig(training: c)
        config = c
        guard dataset.count >= c.batch_size else {
            throw JobError("--data \(s.dataSpec)", "has \(dataset.count) images, fewer than batch_size \(c.batch_size)")
        }
        let seed = UInt64(c.seed)
        plan = EpochPlan(seed: seed, datasetSize: dataset.count, globalBatch: c.batch_size)
        schedule = SampleSchedule(plan: plan)
        totalSteps = s.totalSteps ?? c.epochs * plan.stepsPerEpoch
        configYAML = ConfigYAML.render(c, title: "mugs job config")
        jobID = JobState.jobID(token: s.token, datasetFingerprint: dataset.fingerprint, configYAML: configYAML, seed: seed)
        jobName = "mugs-" + String(jobID >> 32, radix: 16)
        if let r = resumed {
            guard r.stepsPerEpoch == plan.stepsPerEpoch else {
                throw JobError("checkpoint \(r.path)", "has \(r.stepsPerEpoch) steps per epoch, this dataset and batch "
                               + "give \(plan.stepsPerEpoch)")
            }
            state = try JobState.make(config: c, stepsPerEpoch: plan.stepsPerEpoch, seed: seed)
            try Checkpoint.load(into: state, from: r.path)
        } else {
            state = try JobState.initial(config: c, stepsPerEpoch: plan.stepsPerEpoch, seed: seed)
        }
        sections = StateSections(state)
        if let k = s.onlineKNN {
            // Open the evaluation's datasets now, so a wrong spec is an error at start, not at the first evaluation.
            let specs = [("--online-knn-train", k.trainSpec), ("--online-knn-val", k.valSpec)]
            for (flag, spec) in specs where spec != s.dataSpec {
                let d: ImageDataset
                do { d = try DatasetSpec.open(spec) } catch {
                    throw JobError("\(flag) \(spec)", "cannot be opened: \(error)",
                                   hint: "online kNN needs labelled images: fashion-mnist:train|test, an ImageFolder")
                }
                guard d.count > 0 else { throw JobError("\(flag) \(spec)", "holds no images") }
            }
        }
        if let spec = s.dashboardImages, spec != s.dataSpec {
            do { guard try DatasetSpec.open(spec).count > 0 else { throw JobError(spec, "holds no images") } } catch {
                throw JobError("--dashboard-images \(spec)", "cannot be opened: \(error)",
                               hint: "a dataset spec as --data takes: fashion-mnist:train|test, an ImageFolder")
            }
        }
        let lastGeneration = Int(resumed?.extra["generation"] ?? "") ?? 0
        // Every rank needs at least one image of the global batch.
        let maxWorkers = min(s.maxWorkers, c.batch_size)
        guard s.minWorkers <= maxWorkers else {
            throw JobError("--min-workers \(s.minWorkers)", "exceeds the global batch of \(c.batch_size) images",
                           hint: "every worker trains at least one image per step")
        }
        machine = CoordinatorMachine(settings: .init(minWorkers: s.minWorkers, maxWorkers: maxWorkers,
                                                     heartbeatTimeout: s.heartbeatTimeout, lookahead: Pipeline.lookahead,
                                                     totalSteps: totalSteps, hashCheckEvery: s.hashEvery,
                                                     holdEvery: s.onlineKNN?.every ?? 0,
                                                     stepTimeoutFloor: s.stepTimeout),
                                     committedStep: state.step, lastGeneration: lastGeneration)
        lastCheckpointStep = resumed?.step ?? -1
        lastCheckpointTime = ProcessLifecycle.now()
        if let r = resumed {
            lastCheckpoint = StatusReport.Checkpoint(path: r.path, step: r.step, unixTime: Date().timeIntervalSince1970)
        }
        history = Self.restoredHistory(resumed, log: log)
        let imagesSpec = s.dashboardImages ?? s.onlineKNN?.valSpec
            ?? (s.dataSpec == "fashion-mnist:train" ? "fashion-mnist:test" : s.dataSpec)
        gallery = AttentionGallery(spec: imagesSpec) { [log] in log.log("dashboard", $0) }
        if let r = resumed { gallery.checkpointWritten(step: r.step, path: r.path) }
        let layout = try JobState.fusedLayout(config: c).layout
        assemblies = (0 ..< Pipeline.slots).map { _ in StepAssembly(layout: layout, config: c) }
        writer = CheckpointWriter(root: s.checkpointDir, keep: s.keepCheckpoints,
                                  snapshotState: try JobState.make(config: c, stepsPerEpoch: plan.stepsPerEpoch, seed: seed))
        // Sockets.
        context = try ZMQContext(ioThreads: 1)
        router = try ZMQSocket(context, .router)
        let hb = Int32(s.heartbeatInterval * 1000), ttl = Int32(s.heartbeatTimeout * 1000)
        for o: SocketOption in [.linger(milliseconds: 0), .routerMandatory(true), .routerHandover(true),
                                .maxMessageSize(64 << 20), .sendHighWaterMark(100_000), .receiveHighWaterMark(100_000),
                                .heartbeatInterval(milliseconds: hb), .heartbeatTimeout(milliseconds: ttl),
                                .heartbeatTTL(milliseconds: ttl), .ipv6(s.listen.contains("["))] {
            try router.set(o)
        }
        do { try router.bind(s.listen) } catch {
            throw JobError("--listen \(s.listen)", "cannot bind: \(error)", hint: "is another coordinator running?")
        }
        control = CoordinatorControl(gallery: gallery)
        do {
            let ctl = control
            let routerForControl = ControlRouter(backend: ctl, token: s.token)
            server = try ControlServer(host: s.controlHost, port: s.controlPort) { routerForControl.handle($0) }
        } catch {
            throw JobError("--control \(s.controlHost):\(s.controlPort)", "\(error)")
        }
        let how = resumed.map { "resumed from \($0.path) at step \($0.step)" } ?? "new job at step 0"
        log.log("start", "\(jobName): \(how); dataset \(s.dataSpec) (\(dataset.count) images, \(plan.stepsPerEpoch) "
                + "steps/epoch of \(c.batch_size)), \(totalSteps) steps; workers join at \(s.listen); control at "
                + "http://\(s.controlHost):\(server.port) (dashboard: GET /)",
                [("job", .string(jobName)), ("step", .int(state.step)), ("total_steps", .int(totalSteps)),
                 ("control_port", .int(server.port)), ("resumed", .bool(resumed != nil))])
        log.log("gemm", "cpu \(GemmEngine.cpu.summary); the coordinator's update runs no matrix products: each worker "
                + "names its GEMM engine when it joins, and /status and /metrics show it with its GEMM GFLOP/s",
                [("cpu", .string(GemmEngine.cpu.summary))])
        log.log("precision", "precision \(c.precision): "
                + (c.precisionMode == .bf16 ? "the layers' matrix products in bf16 on every worker (workers without "
                   + "AVX512_BF16 are refused); the update stays fp32" : "every matrix product in fp32"),
                [("precision", .string(c.precision))])
        if machine.phase == .finished { finishedReason = "all \(totalSteps) steps were already committed" }
        publishStatus()
    }

    /// Runs the job until it finishes, is stopped, or gets SIGTERM/SIGINT. Returns the process exit code.
    public func run() -> Int32 {
        var poller = ZMQPoller([router])
        while finishedReason == nil {
            poller.setEvents(0, read: true, write: !streams.isEmpty)
            _ = try? poller.poll(timeout: streams.isEmpty ? 0.1 : 0.02)
            receiveAll()
            dropLostPeers()
            pumpStreams()
            let now = ProcessLifecycle.now()
            checkOnlineKNN(now)
            handle(machine.handle(.tick(now: now - startTime)))
            for action in control.takeActions() { perform(action) }
            if now - lastHeartbeatSent >= settings.heartbeatInterval { sendHeartbeats(now) }
            collectCheckpointResults()
            maybePeriodicCheckpoint(now)
            publishStatus()
            if ProcessLifecycle.terminationRequested || ProcessLifecycle.interruptRequested {
                let sig = ProcessLifecycle.terminationRequested ? "SIGTERM" : "SIGINT"
                log.log("signal", "\(sig): checkpointing step \(state.step) and exiting; workers keep their caches and "
                        + "rejoin a restarted coordinator")
                finishedReason = sig
                break
            }
            if ProcessLifecycle.parentGone { finishedReason = "parent exited"; exitCode = 1; break }
        }
        shutdown()
        return exitCode
    }

    private func shutdown() {
        writer.waitIdle(timeout: 600)
        collectCheckpointResults()
        if state.step != lastCheckpointStep { checkpoint(reason: finishedReason ?? "exit", wait: true) }
        if machine.phase == .finished { tellWorkersTheJobIsOver() }
        publishStatus(final: true)
        log.log("exit", "\(jobName) exits at step \(state.step): \(finishedReason ?? "")",
                [("step", .int(state.step))])
        writer.stop()
        gallery.stop()
        server.stop()
        try? router.set(.linger(milliseconds: 2000)) // deliver the last messages (finished) before closing
        router.close()
        context.terminate()
    }

    /// Sends `finished` to every worker until each has acknowledged with `leave` (at most 3 s), so no worker is left
    /// waiting for a coordinator that will not come back.
    private func tellWorkersTheJobIsOver() {
        var pending = Set(peers.values.map(\.routingID))
        let deadline = ProcessLifecycle.now() + 3
        var poller = ZMQPoller([router])
        while !pending.isEmpty && ProcessLifecycle.now() < deadline {
            for id in pending { send(.job(.finished(reason: finishedReason ?? "finished")), to: id) }
            let until = ProcessLifecycle.now() + 0.3
            while !pending.isEmpty && ProcessLifecycle.now() < until {
                _ = try? poller.poll(timeout: 0.05)
                while let r = try? JobChannel.receive(on: router, scratch: scratch, hasRoutingID: true) {
                    if case let .success(env) = r.envelope, case .job(.leave) = env.message { pending.remove(r.routingID) }
                }
            }
        }
        if !pending.isEmpty {
            log.log("exit", "\(pending.count) worker(s) did not acknowledge the end of the job")
        }
    }

    // MARK: sending

    func envelope(_ m: Message, generation g: Int, step: Int) -> Envelope {
        Envelope(jobID: jobID, generation: UInt64(max(0, g)), step: UInt64(max(0, step)), message: m)
    }

    /// Sends to a peer. A peer whose connection is gone (ROUTER_MANDATORY: EHOSTUNREACH — a killed process's TCP
    /// connection closes at once) is reported lost, so it leaves now instead of after the heartbeat timeout.
    @discardableResult
    func send(_ m: Message, to routingID: [UInt8], generation g: Int? = nil, step: Int? = nil) -> Bool {
        do {
            return try JobChannel.send(envelope(m, generation: g ?? machine.generation, step: step ?? state.step),
                                       on: router, to: routingID)
        } catch {
            if case let .zmq(_, errno, _) = error, errno == EHOSTUNREACH, let id = idsByRouting[routingID] {
                lostPeers.insert(id)
            }
            return false
        }
    }

    /// Feeds `.left` for peers found unreachable while sending (outside the action loop that found them).
    func dropLostPeers() {
        while let id = lostPeers.popFirst() {
            guard peers[id] != nil else { continue }
            log.log("leave", "\(peers[id]!.name): connection lost")
            handle(machine.handle(.left(id, reason: "connection lost")))
            forget(id)
        }
    }

    func send(_ m: Message, to id: CoordinatorMachine.WorkerID, generation g: Int? = nil, step: Int? = nil) {
        guard let p = peers[id] else { return }
        send(m, to: p.routingID, generation: g, step: step)
    }

    /// Whether a peer's connection is still there (a heartbeat sent with ROUTER_MANDATORY).
    func probe(_ id: CoordinatorMachine.WorkerID) {
        send(.heartbeat(Heartbeat(workerID: "coordinator", cachedStep: UInt64(state.step), imagesPerSecond: 0)), to: id)
        dropLostPeers()
    }

    private func sendHeartbeats(_ now: Double) {
        lastHeartbeatSent = now
        for (_, p) in peers {
            send(.heartbeat(Heartbeat(workerID: "coordinator", cachedStep: UInt64(state.step), imagesPerSecond: 0)),
                 to: p.routingID)
        }
    }

    /// Sends pending state transfers until the socket would block.
    private func pumpStreams() {
        var budget = 64
        while !streams.isEmpty && budget > 0 {
            var s = streams[0]
            guard let p = peers[s.worker], s.step == state.step else {
                streams.removeFirst()
                continue
            }
            let env: Envelope
            if !s.headerSent {
                env = envelope(.job(.stateHeader(sections.header(chunkFloats: Self.chunkFloats))),
                               generation: machine.generation, step: s.step)
            } else {
                let sec = sections.sections[s.section]
                let n = min(Self.chunkFloats, sec.count - s.offset)
                let values = Array(UnsafeBufferPointer(start: sec.base + s.offset, count: n))
                env = envelope(.stateTransfer(StateTransfer(section: sec.name, offset: UInt64(s.offset),
                                                            totalCount: UInt64(sec.count), values: values)),
                               generation: machine.generation, step: s.step)
            }
            let sent: Bool
            do { sent = try JobChannel.send(env, on: router, to: p.routingID) } catch {
                streams.removeFirst() // the peer is gone; the heartbeat timeout evicts it
                continue
            }
            guard sent else { return }
            budget -= 1
            if !s.headerSent { s.headerSent = true } else {
                s.offset += Self.chunkFloats
                if s.offset >= sections.sections[s.section].count { s.section += 1; s.offset = 0 }
            }
            if s.section >= sections.sections.count {
                streams.removeFirst()
                log.log("state", "sent the state at step \(s.step) to \(p.name)")
            } else {
                streams[0] = s
                streams.append(streams.removeFirst()) // round-robin between transfers
            }
        }
    }
}
