import Foundation
import JobCommon
import MugsData
import MugsEval
import MugsModel
import Wire

/// What an online kNN evaluator was built for; another key means decoding the subsets again.
struct OnlineKNNKey: Equatable {
    var request: OnlineKNNRequest
    var imageSize: Int
}

/// Online kNN on the worker (the coordinator's side and the protocol: `CoordinatorService+OnlineKNN`). The request
/// names a step; the worker evaluates its teacher once its cache is exactly at that step — between steps, on the
/// compute thread, while the coordinator holds the next step's plan back, so nothing else waits on this worker.
extension WorkerService {
    /// Evaluates the teacher for the request of (`g`, `step`); the machine has checked that the cache is at `step`.
    func runOnlineKNN(generation g: Int, step: Int) {
        guard let request = onlineKNNRequest else { return }
        onlineKNNRequest = nil
        let pending = (step: step, generation: g, request: request)
        let t0 = ProcessLifecycle.now()
        let size = job?.config.global_crop_size ?? 0
        let firstUse = onlineKNN?.key != OnlineKNNKey(request: pending.request, imageSize: size)
        log.log("online_knn", "online kNN @ step \(pending.step): evaluating the teacher"
                + (firstUse ? " (decoding the subsets first)" : ""),
                [("step", .int(pending.step)), ("started", .bool(true))])
        do {
            let r = try evaluateOnlineKNN(pending.request)
            let seconds = ProcessLifecycle.now() - t0
            reply(pending, OnlineKNNResult(top1: r.top1, top5: r.top5, k: UInt32(r.k),
                                           trainCount: UInt32(clamping: onlineKNN?.evaluator.trainCount ?? 0),
                                           valCount: UInt32(clamping: r.total), seconds: seconds))
            log.log("online_knn", String(format: "online kNN @ step %d: top-1 %.2f%% top-5 %.2f%% (k=%d, %.1f s)",
                                         pending.step, r.top1, r.top5, r.k, seconds),
                    [("step", .int(pending.step)), ("top1", .double(r.top1)), ("top5", .double(r.top5)),
                     ("seconds", .double(seconds))])
        } catch {
            // Not fatal: the coordinator logs it and training goes on. Wire strings are bounded (4096 bytes).
            let text = String(String(describing: error).prefix(1000))
            log.log("online_knn", "online kNN @ step \(pending.step) failed: \(text)", [("step", .int(pending.step))])
            reply(pending, OnlineKNNResult(top1: 0, top5: 0, k: pending.request.k, trainCount: 0, valCount: 0,
                                           seconds: ProcessLifecycle.now() - t0, error: text))
        }
    }

    /// The teacher replica's kNN accuracy; the evaluator (decoded subsets) is built on first use and kept.
    private func evaluateOnlineKNN(_ q: OnlineKNNRequest) throws -> KNNResult {
        guard let j = job else { throw JobError("online kNN", "no job") }
        let c = j.config
        let key = OnlineKNNKey(request: q, imageSize: c.global_crop_size)
        let evaluator: OnlineKNN
        if let cached = onlineKNN, cached.key == key { evaluator = cached.evaluator } else {
            onlineKNN = nil // free the old subsets before decoding new ones
            // Evenly spaced subsets: the first images of a class-sorted ImageFolder would be one or two classes.
            let trainSet = try DatasetSpec.open(q.trainSpec)
            let valSet = q.valSpec == q.trainSpec ? trainSet : try DatasetSpec.open(q.valSpec)
            let train = DatasetSubset.evenlySpaced(trainSet, count: Int(q.trainCount))
            let val = DatasetSubset.evenlySpaced(valSet, count: Int(q.valCount))
            evaluator = try OnlineKNN(train: train, val: val, trainCount: Int(q.trainCount), valCount: Int(q.valCount),
                                      k: Int(q.k), temperature: q.temperature, imageSize: c.global_crop_size,
                                      threads: settings.threads)
            onlineKNN = (key, evaluator)
        }
        // The backbone as checkpoints describe it (`BackboneSource`): no relation block, native size = global crop.
        let architecture = ViTConfig(embedDim: c.embedDim, depth: c.blockCount, heads: c.headCount,
                                     patchSize: c.patch_size, imageSize: c.global_crop_size)
        return try evaluator.evaluate(params: j.state.teacher, architecture: architecture)
    }

    private func reply(_ pending: (step: Int, generation: Int, request: OnlineKNNRequest), _ r: OnlineKNNResult) {
        send(.job(.onlineKNNResult(r)), generation: pending.generation, step: pending.step)
    }

    /// Answers the request of (`g`, `step`) with an error: it cannot be evaluated.
    func replyOnlineKNN(generation g: Int, step: Int, error: String) {
        guard let request = onlineKNNRequest else { return }
        onlineKNNRequest = nil
        reply((step, g, request), OnlineKNNResult(top1: 0, top5: 0, k: request.k, trainCount: 0, valCount: 0, seconds: 0,
                                                  error: error))
    }
}
