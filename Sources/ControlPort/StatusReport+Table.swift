import Foundation

extension StatusReport {
    /// One line for a progress loop (`mugs status --progress`, deploy/quickstart.sh), whatever the job's age:
    /// `state training  step 120/9360 (1.3%)  loss 5.5000  16.0 img/s  2 workers  ETA 1h02m`, with `-` for what is
    /// not known yet (no committed step, no ETA).
    public func progressLine() -> String {
        let pct = totalSteps > 0 ? Double(step) / Double(totalSteps) * 100 : 0
        let loss = losses.map { String(format: "%.4f", $0.total) } ?? "-"
        let ring = workers.count
        return String(format: "state %@  step %d/%d (%.1f%%)  loss %@  %.1f img/s  %d worker%@",
                      state, step, totalSteps, pct, loss, imagesPerSecond, ring, ring == 1 ? "" : "s")
            + "  ETA " + (etaSeconds.map(Self.duration) ?? "-")
    }

    /// The human view printed by `mugs status`.
    public func table() -> String {
        var lines: [String] = []
        let pct = String(format: "%.1f%%", epochProgress * 100)
        lines.append("job \(job)  state \(state)  generation \(generation)")
        lines.append("step \(step)/\(totalSteps)  epoch \(epoch) (\(pct))  global batch \(globalBatch)")
        if let l = losses {
            lines.append(String(format: "loss total %.4f  instance %.4f  local-group %.4f  group %.4f",
                                l.total, l.instance, l.localGroup, l.group))
        } else {
            lines.append("loss (no step committed yet)")
        }
        lines.append(String(format: "lr %.3e  wd %.4f  teacher momentum %.6f  teacher temp %.4f",
                            lr, weightDecay, teacherMomentum, teacherTemperature))
        let eta = etaSeconds.map(Self.duration) ?? "-"
        lines.append(String(format: "throughput %.1f img/s  ETA ", imagesPerSecond) + eta)
        if let c = lastCheckpoint {
            lines.append("last checkpoint step \(c.step) at \(c.path)")
        } else {
            lines.append("last checkpoint none")
        }
        if let o = onlineKnn {
            lines.append(String(format: "online kNN step %d  top-1 %.2f%%  top-5 %.2f%%  "
                                + "(k=%d, %d/%d images, %@, %.1f s)", o.step, o.top1, o.top5, o.k, o.trainCount,
                                o.valCount, o.worker, o.seconds))
        }
        if skippedFiles > 0 {
            lines.append("skipped unreadable files \(skippedFiles)"
                         + (skippedFilesRecent.isEmpty ? "" : ", the latest \(skippedFilesRecent.count):"))
            for f in skippedFilesRecent { lines.append("  \(f.path): \(f.reason)") }
        }
        lines.append("workers \(workers.count) (min \(minWorkers))")
        lines.append("  rank  host                            heartbeat   img/s  gemm GFLOP/s  engine")
        let sorted = workers.sorted(by: { $0.rank < $1.rank })
        for w in sorted {
            let host = w.host.count > 30 ? String(w.host.prefix(29)) + "…" : w.host
            lines.append(String(format: "  %4d  ", w.rank) + host.padding(toLength: 30, withPad: " ", startingAt: 0)
                         + String(format: "  %7.1f s  %6.1f  %12.0f  ", w.heartbeatAgeSeconds, w.imagesPerSecond,
                                  w.gemmGflopPerSecond) + (w.gemm.isEmpty ? "-" : w.gemm))
        }
        for w in sorted { if let e = w.lastError { lines.append("  last error of \(w.host): \(e)") } }
        if !workerErrors.isEmpty {
            lines.append("workers dropped recently (newest last):")
            for e in workerErrors { lines.append("  step \(e.step)  \(e.worker) (\(e.host)): \(e.error)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `3h07m`, `12m05s`, `42s`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }
}
