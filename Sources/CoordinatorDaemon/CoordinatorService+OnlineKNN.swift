import ControlPort
import CoordinatorCore
import Foundation
import JobCommon
import Wire

/// Online kNN during training (`--online-knn-every N`). At every committed step S that is a multiple of N, and at the
/// last step, the coordinator asks ONE worker — rank 0 of the current ring — to evaluate its teacher replica at S
/// (bitwise the coordinator's: the state hashes say so) with `OnlineKNN`, and records the answer for `/status`,
/// `/metrics` and the log.
///
/// How it fits the pipeline: the machine holds planning at S (`CoordinatorMachine.Settings.holdEvery`), so when the
/// worker evaluates no step is in flight — no ring peer sits inside a collective waiting for it, so no ring timeout
/// can fire, and the worker's heartbeats come from its I/O thread, so it is not evicted while it computes. The hold is
/// released when the result (or an error) arrives, when the worker leaves, or after `timeoutSeconds`: a missing
/// result is logged and the next multiple of N tries again. Training never stops because of an evaluation.
extension CoordinatorService {
    struct OnlineKNNPending {
        var step: Int
        var worker: CoordinatorMachine.WorkerID
        var name: String
        var since: Double
    }

    /// Whether the state at `step` gets an evaluation.
    func onlineKNNDue(at step: Int) -> Bool {
        guard let k = settings.onlineKNN else { return false }
        return step % k.every == 0 || step == totalSteps
    }

    /// Right after the commit that brought the state to `state.step`, before the machine hears of it (so that a
    /// `.finish` the last commit triggers waits for the last result): sends the request if one is due.
    func requestOnlineKNNIfDue() {
        let step = state.step
        guard let k = settings.onlineKNN, onlineKNNDue(at: step) else { return }
        if let p = onlineKNNPending {
            log.log("online_knn", "online kNN @ step \(p.step): no result from \(p.name) before step \(step); "
                    + "dropped", [("step", .int(p.step)), ("missing", .bool(true))])
            onlineKNNPending = nil
        }
        guard let id = ringMembers.first, let p = peers[id] else {
            log.log("online_knn", "online kNN @ step \(step): no worker to evaluate it; skipped",
                    [("step", .int(step)), ("missing", .bool(true))])
            return
        }
        let request = OnlineKNNRequest(trainSpec: k.trainSpec, valSpec: k.valSpec,
                                       trainCount: UInt32(clamping: k.trainCount),
                                       valCount: UInt32(clamping: k.valCount), k: UInt32(clamping: k.k),
                                       temperature: k.temperature)
        onlineKNNPending = OnlineKNNPending(step: step, worker: id, name: p.name, since: ProcessLifecycle.now())
        send(.job(.onlineKNNRequest(request)), to: id, step: step)
    }

    /// After the machine heard of the commit: a held step with nobody evaluating it is released at once.
    func releaseOnlineKNNHoldIfIdle() {
        if onlineKNNPending == nil && machine.isHeld(state.step) { releaseOnlineKNNHold(step: state.step) }
    }

    /// Every loop iteration: gives up on an evaluation whose worker left or that takes longer than the timeout.
    func checkOnlineKNN(_ now: Double) {
        guard let p = onlineKNNPending, let k = settings.onlineKNN else { return }
        let why: String
        if peers[p.worker] == nil { why = "\(p.name) left before answering" }
        else if now - p.since > k.timeoutSeconds { why = String(format: "no answer within %.0f s", k.timeoutSeconds) }
        else { return }
        log.log("online_knn", "online kNN @ step \(p.step): no result (\(why)); the next evaluation is at step "
                + "\(nextOnlineKNNStep(after: p.step))", [("step", .int(p.step)), ("missing", .bool(true))])
        onlineKNNPending = nil
        releaseOnlineKNNHold(step: p.step)
    }

    func nextOnlineKNNStep(after step: Int) -> Int {
        guard let k = settings.onlineKNN else { return totalSteps }
        return min(totalSteps, (step / k.every + 1) * k.every)
    }

    /// A worker's answer for `step`.
    func receivedOnlineKNN(_ r: OnlineKNNResult, from id: CoordinatorMachine.WorkerID, step: Int) {
        guard let p = onlineKNNPending, p.worker == id, p.step == step else {
            log.log("online_knn", "online kNN @ step \(step): late answer from \(peers[id]?.name ?? "?") ignored")
            return
        }
        onlineKNNPending = nil
        if let e = r.error {
            log.log("online_knn", "online kNN @ step \(step) failed on \(p.name): \(e); training continues",
                    [("step", .int(step)), ("worker", .string(p.name)), ("error", .string(e))])
        } else {
            let result = StatusReport.OnlineKnn(step: step, top1: r.top1, top5: r.top5, k: Int(r.k),
                                                trainCount: Int(r.trainCount), valCount: Int(r.valCount),
                                                seconds: r.seconds, worker: p.name)
            onlineKNNLast = result
            recordOnlineKNN(step: step, top1: r.top1, top5: r.top5)
            log.log("online_knn", Self.describe(result),
                    [("step", .int(step)), ("top1", .double(r.top1)), ("top5", .double(r.top5)), ("k", .int(Int(r.k))),
                     ("train_count", .int(Int(r.trainCount))), ("val_count", .int(Int(r.valCount))),
                     ("seconds", .double(r.seconds)), ("worker", .string(p.name))])
        }
        releaseOnlineKNNHold(step: step)
    }

    /// `online kNN @ step 400: top-1 61.20% top-5 97.10% (k=20, 5000/1000 images, worker0, 8.1 s)`
    static func describe(_ r: StatusReport.OnlineKnn) -> String {
        String(format: "online kNN @ step %d: top-1 %.2f%% top-5 %.2f%% (k=%d, %d/%d images, %@, %.1f s)", r.step,
               r.top1, r.top5, r.k, r.trainCount, r.valCount, r.worker, r.seconds)
    }

    /// Lets planning go past `step`; a finish that waited for this evaluation happens now.
    private func releaseOnlineKNNHold(step: Int) {
        handle(machine.handle(.holdReleased(step: step)))
        if onlineKNNPending == nil, let reason = deferredFinish {
            deferredFinish = nil
            finishedReason = reason
        }
    }
}
