import CoordinatorCore
import Foundation
import JobCommon
import MugsModel

/// The run's history (`RunHistory`, served at `GET /history`): recorded on the coordinator's loop as steps commit,
/// generations change, checkpoints are written and online kNN results arrive; handed to the control port once per
/// loop iteration when it changed (a copy-on-write value, encoded on the control thread); stored in every
/// checkpoint's state.json (`history`, encoded on the checkpoint thread) and restored with it.
extension CoordinatorService {
    /// The key of the history in state.json.
    static let historyKey = "history"

    /// The history of the checkpoint being resumed, or a new one. A checkpoint written before mugs kept a history
    /// (or with a history that cannot be read) resumes with a new history starting at its step, and the log says so.
    static func restoredHistory(_ resumed: CheckpointInfo?, log: JobLog) -> RunHistory {
        guard let r = resumed else { return RunHistory() }
        var h = RunHistory()
        if let text = r.extra[historyKey] {
            do {
                let stored = try RunHistory.decodeStored(text)
                if stored.lastStep <= r.step {
                    h = stored
                    log.log("history", "history restored from \(r.path): \(stored.steps.records) steps, "
                            + "\(stored.marks.count) generation changes, \(stored.checkpoints.count) checkpoints")
                } else {
                    log.log("history", "the history in \(r.path) goes to step \(stored.lastStep), past the "
                            + "checkpoint's step \(r.step); a new history starts at step \(r.step)")
                }
            } catch {
                log.log("history", "the history in \(r.path) cannot be read (\(error)); a new history starts at step "
                        + "\(r.step)")
            }
        } else {
            log.log("history", "\(r.path) has no history (written before mugs kept one); the dashboard's curves "
                    + "start at step \(r.step)")
        }
        // The checkpoint's own entry is recorded when its write completes, after its history was snapshotted.
        if h.checkpoints.last?.step != r.step {
            let file = (r.path as NSString).appendingPathComponent("state.json")
            let written = (try? FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date)
                ?? Date()
            h.recordCheckpoint(.init(step: r.step, unixTime: written.timeIntervalSince1970, path: r.path))
        }
        return h
    }

    /// A worker as marks and `/status` name it.
    func displayName(_ id: CoordinatorMachine.WorkerID) -> String {
        let p = peers[id], w = machine.workers[id]
        return "\(p?.host ?? w?.info.host ?? "?") (\(p?.name ?? "worker \(id)"))"
    }

    /// Marks the generation changes among the machine's actions (before they are carried out: an evicted worker
    /// still has its name).
    func recordGenerationChanges(_ actions: [CoordinatorAction]) {
        let changes = actions.contains {
            switch $0 {
            case .startGeneration, .abortGeneration, .evict: return true
            default: return false
            }
        }
        guard changes else { return }
        history.observe(actions, step: state.step, unixTime: Date().timeIntervalSince1970, name: displayName)
        historyChanged = true
    }

    /// Records the step just committed (`state.step` after it). `imagesPerSecond` is this step's: the global batch
    /// over the time since the previous commit (nan for the first commit of this process).
    func recordCommittedStep(_ losses: StepLosses, _ applied: AppliedStep, imagesPerSecond: Double) {
        let values = [losses.instance, losses.localGroup, losses.group, losses.total, applied.learningRate,
                      applied.weightDecay, applied.teacherMomentum, applied.teacherTemperature, imagesPerSecond,
                      Double(ringMembers.count)]
        history.recordStep(state.step, unixTime: Date().timeIntervalSince1970, values: values)
        historyChanged = true
    }

    func recordCheckpoint(step: Int, path: String, unixTime: Double) {
        history.recordCheckpoint(.init(step: step, unixTime: unixTime, path: path))
        historyChanged = true
        gallery.checkpointWritten(step: step, path: path)
    }

    func recordOnlineKNN(step: Int, top1: Double, top5: Double) {
        history.recordOnlineKNN(step: step, unixTime: Date().timeIntervalSince1970, top1: top1, top5: top5)
        historyChanged = true
    }

    /// Hands the history to the control port if it changed since the last call.
    func publishHistoryIfChanged() {
        guard historyChanged else { return }
        historyChanged = false
        control.publish(history: history)
    }
}
