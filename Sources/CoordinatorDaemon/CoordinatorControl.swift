import ControlPort
import CoordinatorCore
import Foundation
import JobCommon

/// The bridge between the control port's thread and the coordinator's loop: the loop publishes a status snapshot,
/// metrics text and (when it changed) the run's history; the control thread reads them and queues actions, which the
/// loop takes each iteration. The history is encoded on the control thread when asked for (at most once per change),
/// never on the loop; attention maps come from `AttentionGallery`'s own thread.
public final class CoordinatorControl: ControlBackend, @unchecked Sendable {
    private let lock = NSLock()
    private var report: StatusReport?
    private var metricsText = ""
    private var actions: [ControlAction] = []
    private var finished = false
    private var history = RunHistory()
    private var historyVersion = 0
    private var historyCache: (version: Int, json: String)?
    let gallery: AttentionGallery

    init(gallery: AttentionGallery) { self.gallery = gallery }

    public func historyJSON() -> String {
        lock.lock()
        if let c = historyCache, c.version == historyVersion { lock.unlock(); return c.json }
        let (h, version) = (history, historyVersion)
        lock.unlock()
        let json = h.servedJSON() // outside the lock: the loop's publish never waits for an encoding
        lock.lock(); defer { lock.unlock() }
        if version > (historyCache?.version ?? -1) { historyCache = (version, json) }
        return json
    }

    public func attentionIndex() -> String { gallery.indexJSON() }

    public func attentionImage(step: Int, image: Int, map: String) -> [UInt8]? {
        gallery.png(step: step, image: image, map: map)
    }

    func publish(history h: RunHistory) {
        lock.lock(); defer { lock.unlock() }
        history = h
        historyVersion += 1
    }

    public func status() -> StatusReport {
        lock.lock(); defer { lock.unlock() }
        return report ?? StatusReport(job: "", state: "starting", generation: 0, step: 0, totalSteps: 0, epoch: 0,
                                      epochProgress: 0, globalBatch: 0, minWorkers: 0, workers: [], losses: nil, lr: 0,
                                      weightDecay: 0, teacherMomentum: 0, teacherTemperature: 0, imagesPerSecond: 0,
                                      etaSeconds: nil, lastCheckpoint: nil, skippedFiles: 0)
    }

    public func metrics() -> String {
        lock.lock(); defer { lock.unlock() }
        return metricsText
    }

    public func perform(_ action: ControlAction) -> (accepted: Bool, message: String) {
        lock.lock(); defer { lock.unlock() }
        guard !finished else { return (false, "the job has finished") }
        actions.append(action)
        let what: String
        switch action {
        case .checkpoint: what = "a checkpoint will be written after the current step"
        case .pause: what = "the job pauses once the steps in flight are committed"
        case .resume: what = "the job resumes"
        case .stop: what = "the job stops once the steps in flight are committed, after a final checkpoint"
        }
        return (true, what)
    }

    func publish(_ r: StatusReport, metrics: String, finished f: Bool) {
        lock.lock(); defer { lock.unlock() }
        report = r
        metricsText = metrics
        finished = f
    }

    func takeActions() -> [ControlAction] {
        lock.lock(); defer { lock.unlock() }
        defer { actions = [] }
        return actions
    }
}
