import ControlPort
import CoordinatorCore
import Foundation
import JobCommon
import MugsModel
import Sampling

/// The status report and Prometheus metrics the control port serves.
extension CoordinatorService {
    func publishStatus(final: Bool = false) {
        let now = ProcessLifecycle.now()
        let phase: String
        switch machine.phase {
        case .waiting: phase = "waiting"
        case .syncing: phase = "syncing"
        case .running: phase = "training"
        case .draining: phase = "draining"
        case .paused: phase = "paused"
        case .finished: phase = "finished"
        }
        let rankOf = Dictionary(uniqueKeysWithValues: ringMembers.enumerated().map { ($1, $0) })
        let workers = machine.workers.values.sorted { $0.joinOrder < $1.joinOrder }.map { w -> StatusReport.Worker in
            let p = peers[w.id]
            return StatusReport.Worker(rank: rankOf[w.id] ?? -1, host: "\(p?.host ?? w.info.host) (\(p?.name ?? "?"))",
                                       heartbeatAgeSeconds: max(0, now - (p?.lastHeard ?? now)),
                                       imagesPerSecond: p?.imagesPerSecond ?? 0, gemm: p?.gemm ?? "",
                                       gemmGflopPerSecond: p?.gemmGflopPerSecond ?? 0,
                                       lastError: p.flatMap { lastErrorByName[$0.name] })
        }
        let epoch = state.epoch
        let progress = plan.fractionDone(ofEpoch: epoch, afterSteps: state.step)
        let ips = secondsPerStep.map { Double(config.batch_size) / $0 } ?? 0
        let eta = secondsPerStep.map { Double(max(0, totalSteps - state.step)) * $0 }
        let step = state.step
        let report = StatusReport(
            job: jobName, state: final && machine.phase != .finished ? "stopped" : phase,
            generation: machine.generation, step: step, totalSteps: totalSteps, epoch: epoch,
            epochProgress: progress, globalBatch: config.batch_size, minWorkers: settings.minWorkers, workers: workers,
            losses: lastLosses, lr: state.schedules.learningRate(step: min(step, max(0, totalSteps - 1))),
            weightDecay: state.schedules.weightDecay(step: min(step, max(0, totalSteps - 1))),
            teacherMomentum: state.schedules.teacherMomentum(step: min(step, max(0, totalSteps - 1))),
            teacherTemperature: state.schedules.teacherTemperature(epoch: epoch), imagesPerSecond: ips,
            etaSeconds: eta, lastCheckpoint: lastCheckpoint,
            skippedFiles: unreadablePaths.count, skippedFilesRecent: recentUnreadable, workerErrors: recentErrors,
            onlineKnn: onlineKNNLast)
        var m = PrometheusText()
        m.gauge("mugs_step", "Steps committed.", Double(step))
        m.gauge("mugs_total_steps", "Steps the job runs.", Double(totalSteps))
        m.gauge("mugs_epoch", "Epoch of the next step.", Double(epoch))
        m.gauge("mugs_epoch_progress_ratio", "Fraction of the current epoch committed.", progress)
        m.gauge("mugs_generation", "Membership generation.", Double(machine.generation))
        m.gauge("mugs_workers", "Live workers.", Double(machine.workers.count))
        m.gauge("mugs_ring_size", "Workers in the current ring.", Double(machine.ring.count))
        m.gauge("mugs_global_batch_images", "Images per step.", Double(config.batch_size))
        m.gauge("mugs_images_per_second", "Training throughput (committed images per second).", ips)
        m.gauge("mugs_step_duration_seconds", "Smoothed wall time per committed step.", secondsPerStep ?? 0)
        m.gauge("mugs_step_timeout_seconds", "Bound on one step: a step not committed this long ends the generation.",
                machine.stepTimeout)
        m.counter("mugs_worker_errors_total", "Workers dropped from the job (evicted) since the coordinator started.",
                  Double(evictions))
        if let eta { m.gauge("mugs_eta_seconds", "Estimated time to the last step.", eta) }
        if let l = lastLosses {
            m.gauges("mugs_loss", "Loss of the last committed step, by granularity.",
                     [([("granularity", "instance")], l.instance), ([("granularity", "local_group")], l.localGroup),
                      ([("granularity", "group")], l.group), ([("granularity", "total")], l.total)])
        }
        m.gauge("mugs_learning_rate", "Learning rate of the next step.", report.lr)
        m.gauge("mugs_weight_decay", "Weight decay of the next step.", report.weightDecay)
        m.gauge("mugs_teacher_momentum", "Teacher EMA momentum of the next step.", report.teacherMomentum)
        m.gauge("mugs_teacher_temperature", "Teacher temperature of the current epoch.", report.teacherTemperature)
        m.counter("mugs_skipped_files_total", "Unreadable images the workers skipped.", Double(report.skippedFiles))
        m.gauge("mugs_paused", "1 when the job is paused or waiting for workers.",
                machine.phase == .paused || machine.phase == .waiting ? 1 : 0)
        if let c = lastCheckpoint {
            m.gauge("mugs_last_checkpoint_step", "Step of the last checkpoint written.", Double(c.step))
            m.gauge("mugs_last_checkpoint_timestamp_seconds", "Unix time of the last checkpoint.", c.unixTime)
        }
        if let o = onlineKNNLast {
            // Ratios (base units); /status shows percentages.
            m.gauge("mugs_online_knn_top1", "Online kNN top-1 accuracy (ratio) of the teacher at mugs_online_knn_step.",
                    o.top1 / 100)
            m.gauge("mugs_online_knn_top5", "Online kNN top-5 accuracy (ratio) of the teacher at mugs_online_knn_step.",
                    o.top5 / 100)
            m.gauge("mugs_online_knn_step", "Step of the teacher the last online kNN result was computed on.",
                    Double(o.step))
        }
        m.gauges("mugs_worker_heartbeat_age_seconds", "Seconds since the worker's last message.",
                 workers.map { ([("host", $0.host), ("rank", String($0.rank))], $0.heartbeatAgeSeconds) })
        m.gauges("mugs_worker_images_per_second", "The worker's own throughput.",
                 workers.map { ([("host", $0.host), ("rank", String($0.rank))], $0.imagesPerSecond) })
        m.gauges("mugs_worker_gemm_gflop_per_second",
                 "GEMM throughput of the worker's last step (GFLOP/s), labelled with its engine and kernel family.",
                 workers.map { ([("host", $0.host), ("rank", String($0.rank)), ("engine", $0.gemm)],
                                $0.gemmGflopPerSecond) })
        control.publish(report, metrics: m.text, finished: machine.phase == .finished || final)
        publishHistoryIfChanged()
    }
}
