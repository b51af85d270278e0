import ControlPort
import CoordinatorCore
import Foundation
import JobCommon
import MugsModel
import Sampling
import Wire

/// Carrying out the machine's actions: generations, plans, state transfers, commits (APPLY on the authoritative
/// state with the same code the workers run), evictions, checkpoints.
extension CoordinatorService {
    func handle(_ actions: [CoordinatorAction]) {
        recordGenerationChanges(actions)
        for a in actions {
            switch a {
            case let .startGeneration(g, ring, firstStep):
                ringMembers = ring
                plannedSamples = [:]
                let endpoints = ring.map { machine.workers[$0]?.info.dataEndpoint ?? "" }
                for (rank, id) in ring.enumerated() {
                    send(.job(.generation(rank: UInt32(rank), endpoints: endpoints, firstStep: UInt64(firstStep))),
                         to: id, generation: g, step: firstStep)
                }
                log.log("generation", "generation \(g): ring of \(ring.count) [\(ring.map { peers[$0]?.name ?? "?" }.joined(separator: ", "))] "
                        + "from step \(firstStep)", [("generation", .int(g)), ("world", .int(ring.count)),
                                                     ("step", .int(firstStep))])
            case let .abortGeneration(g, reason):
                for id in ringMembers { send(.job(.abort(reason: reason)), to: id, generation: g) }
                log.log("abort", "generation \(g) aborted: \(reason)", [("generation", .int(g))])
            case let .sendState(to, step):
                guard step == state.step else {
                    log.log("error", "asked to send the state at step \(step), the coordinator is at \(state.step)")
                    continue
                }
                streams.removeAll { $0.worker == to }
                streams.append(Stream(worker: to, step: step))
            case let .sendPlan(to, g, step, rank, world):
                let samples = samplesOf(step: step, rank: rank, worldSize: world)
                plannedSamples[step, default: [[Int32]](repeating: [], count: world)][rank] = samples
                send(.job(.plan), to: to, generation: g, step: step)
            case let .commit(g, step):
                commit(generation: g, step: step)
            case let .evict(id, reason):
                send(.job(.evict(reason: reason)), to: id)
                let name = peers[id]?.name ?? "worker \(id)"
                log.log("evict", "\(name) evicted: \(reason)", [("worker", .string(name))])
                noteError(reason, worker: name, host: peers[id]?.host ?? machine.workers[id]?.info.host ?? "?")
                forget(id)
            case .paused:
                log.log("pause", "paused at step \(state.step); POST /resume continues")
            case let .finish(reason):
                if let p = onlineKNNPending {
                    // The last evaluation is under way: finish when it answers (or its worker leaves, or times out).
                    log.log("online_knn", "waiting for the online kNN result at step \(p.step) before finishing")
                    deferredFinish = reason
                } else {
                    finishedReason = reason
                }
            case let .log(text):
                log.log("machine", text)
            }
        }
    }

    /// Remembers why a worker was dropped, for `/status` (its `last_error`, and the recent `worker_errors`).
    func noteError(_ error: String, worker: String, host: String) {
        lastErrorByName[worker] = error
        evictions += 1
        recentErrors.append(StatusReport.WorkerError(worker: worker, host: host, error: error, step: state.step,
                                                     unixTime: Date().timeIntervalSince1970))
        if recentErrors.count > Self.recentLimit { recentErrors.removeFirst(recentErrors.count - Self.recentLimit) }
    }

    /// Dataset indices of one rank's share of a step.
    func samplesOf(step: Int, rank: Int, worldSize: Int) -> [Int32] {
        Array(schedule.samples(step: step, rank: rank, worldSize: worldSize))
    }

    /// Every rank's chunk and entries of `step` are here: apply the update to the authoritative state.
    private func commit(generation g: Int, step: Int) {
        guard let a = assemblies.first(where: { $0.generation == g && $0.step == step }), step == state.step else {
            log.log("error", "commit of step \(step) (generation \(g)) without its assembly; state at \(state.step)")
            finishedReason = "internal error"
            exitCode = 2
            return
        }
        let losses: StepLosses, applied: AppliedStep
        do { (losses, applied) = try state.applyUpdate(fused: a.fused, entries: a.entries) } catch {
            log.log("error", "step \(step): \(error)")
            finishedReason = "cannot apply step \(step): \(error)"
            exitCode = 2
            return
        }
        let hashNow = settings.hashEvery > 0 && state.step % settings.hashEvery == 0
        let hash = hashNow ? state.stateHash() : 0
        let now = ProcessLifecycle.now()
        let stepImagesPerSecond = lastCommitTime.map { Double(config.batch_size) / max(1e-9, now - $0) } ?? .nan
        if let t = lastCommitTime {
            let dt = now - t
            secondsPerStep = secondsPerStep.map { 0.8 * $0 + 0.2 * dt } ?? dt
        }
        lastCommitTime = now
        lastLosses = StatusReport.Losses(instance: losses.instance, localGroup: losses.localGroup, group: losses.group,
                                         total: losses.total)
        lastApplied = applied
        recordCommittedStep(losses, applied, imagesPerSecond: stepImagesPerSecond)
        let samples = plannedSamples.removeValue(forKey: step) ?? []
        for (_, id) in ringMembers.enumerated() {
            send(.commit(Commit(stateHash: hash)), to: id, generation: g, step: step)
        }
        logStep(applied, losses, generation: g, samples: samples.flatMap { $0 }, hash: hashNow ? hash : nil, now: now)
        requestOnlineKNNIfDue()
        handle(machine.handle(.committed(step: step, stateHash: hash)))
        releaseOnlineKNNHoldIfIdle()
        if settings.checkpointEverySteps > 0 && state.step % settings.checkpointEverySteps == 0 {
            checkpoint(reason: "every \(settings.checkpointEverySteps) steps", wait: false)
        }
    }

    private func logStep(_ a: AppliedStep, _ l: StepLosses, generation g: Int, samples: [Int32], hash: UInt64?,
                         now: Double) {
        let pct = 100 * plan.fractionDone(ofEpoch: a.epoch, afterSteps: state.step)
        let ips = secondsPerStep.map { Double(config.batch_size) / $0 } ?? 0
        let eta = secondsPerStep.map { Double(totalSteps - state.step) * $0 }
        var fields: [(String, JobLog.Value)] = [
            ("step", .int(a.step)), ("epoch", .int(a.epoch)), ("epoch_percent", .double(pct)),
            ("generation", .int(g)), ("world", .int(ringMembers.count)),
            ("loss_total", .double(l.total)), ("loss_instance", .double(l.instance)),
            ("loss_local_group", .double(l.localGroup)), ("loss_group", .double(l.group)),
            ("lr", .double(a.learningRate)), ("wd", .double(a.weightDecay)), ("momentum", .double(a.teacherMomentum)),
            ("images_per_second", .double(ips)), ("eta_seconds", .double(eta ?? -1))]
        if let hash { fields.append(("state_hash", .string(String(format: "%016llx", hash)))) }
        if settings.logSamples { fields.append(("samples", .ints(samples.map { Int($0) }))) }
        guard settings.logFormat == .json || settings.logInterval <= 0 || now - lastStepLog >= settings.logInterval
        else { return }
        lastStepLog = now
        let text = String(format: "step %d/%d  epoch %d (%.1f%%)  loss %.4f (inst %.4f, lg %.4f, grp %.4f)  lr %.3e  "
                          + "%.1f img/s  ETA %@", a.step, totalSteps, a.epoch, pct, l.total, l.instance, l.localGroup,
                          l.group, a.learningRate, ips, eta.map(StatusReport.duration) ?? "-")
        log.log("step", text, fields)
    }

    // MARK: control actions

    func perform(_ action: ControlAction) {
        switch action {
        case .checkpoint:
            checkpoint(reason: "requested on the control port", wait: false)
        case .pause:
            handle(machine.handle(.pauseRequested))
        case .resume:
            handle(machine.handle(.resumeRequested))
        case .stop:
            handle(machine.handle(.stopRequested))
        }
    }

    // MARK: checkpoints

    func checkpoint(reason: String, wait: Bool) {
        if state.step == lastCheckpointStep {
            log.log("checkpoint", "checkpoint at step \(state.step) already written (\(reason))")
            return
        }
        if wait { writer.waitIdle(timeout: 600) }
        let extra = ["generation": String(machine.generation), "job_id": jobName,
                     "dataset": settings.dataSpec, "dataset_fingerprint": dataset.fingerprint]
        guard writer.request(sections, extra: extra, reason: reason,
                             history: (key: Self.historyKey, value: history)) else {
            log.log("checkpoint", "checkpoint at step \(state.step) skipped: the previous one is still being written")
            return
        }
        lastCheckpointStep = state.step
        lastCheckpointTime = ProcessLifecycle.now()
        log.log("checkpoint", "writing checkpoint at step \(state.step) (\(reason))", [("step", .int(state.step))])
        if wait {
            writer.waitIdle(timeout: 600)
            collectCheckpointResults()
        }
    }

    func maybePeriodicCheckpoint(_ now: Double) {
        guard settings.checkpointEveryMinutes > 0, now - lastCheckpointTime >= 60 * settings.checkpointEveryMinutes,
              state.step != lastCheckpointStep else { return }
        checkpoint(reason: "every \(settings.checkpointEveryMinutes) min", wait: false)
    }

    func collectCheckpointResults() {
        for r in writer.drainResults() {
            if let p = r.path {
                lastCheckpoint = StatusReport.Checkpoint(path: p, step: r.step, unixTime: r.unixTime)
                recordCheckpoint(step: r.step, path: p, unixTime: r.unixTime)
                log.log("checkpoint", String(format: "checkpoint written: %@ (step %d, %.2f s)", p, r.step, r.seconds),
                        [("step", .int(r.step)), ("path", .string(p))])
            } else {
                log.log("error", "checkpoint at step \(r.step) failed: \(r.error ?? "?")")
                if lastCheckpointStep == r.step { lastCheckpointStep = -1 }
            }
        }
    }
}
