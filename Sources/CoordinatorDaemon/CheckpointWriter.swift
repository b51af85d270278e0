import CoordinatorCore
import Foundation
import JobCommon
import MugsModel

/// Writes checkpoints on a background thread so training does not stall: `request` copies the live state into a
/// snapshot (a memory copy, on the caller's thread) and returns; the thread writes the snapshot with
/// `Checkpoint.save` (atomic directory, keep the last K, `latest` link). One write at a time: a request while a
/// write is running is refused (the caller tries again at a later step). The run's history, taken with the snapshot,
/// is encoded on that thread too and stored as one more state.json field, so it is in the same atomic rename.
public final class CheckpointWriter: @unchecked Sendable {
    public struct Result: Sendable {
        public var step: Int
        public var path: String?
        public var error: String?
        public var seconds: Double
        public var unixTime: Double
    }

    public let root: String
    public let keep: Int
    private let snapshot: StateSections
    private let cond = NSCondition()
    private var pending: (extra: [String: String], reason: String, history: (key: String, value: RunHistory)?)?
    private var busy = false
    private var stopping = false
    private var finished: [Result] = []
    private var thread: Thread?

    public init(root: String, keep: Int, snapshotState: TrainState) {
        self.root = root
        self.keep = keep
        snapshot = StateSections(snapshotState)
        let t = Thread { [unowned self] in self.work() }
        t.name = "mugs-checkpoint"
        thread = t
        t.start()
    }

    /// Snapshots `live` and starts writing it, with `history` (a value taken now) under its key in state.json.
    /// Returns false if a write is still running.
    public func request(_ live: StateSections, extra: [String: String], reason: String,
                        history: (key: String, value: RunHistory)? = nil) -> Bool {
        cond.lock(); defer { cond.unlock() }
        guard !busy, !stopping else { return false }
        snapshot.copy(from: live)
        busy = true
        pending = (extra, reason, history)
        cond.broadcast()
        return true
    }

    public var isBusy: Bool { cond.lock(); defer { cond.unlock() }; return busy }

    /// Results of the writes finished since the last call.
    public func drainResults() -> [Result] {
        cond.lock(); defer { cond.unlock() }
        defer { finished = [] }
        return finished
    }

    /// Waits until no write is running (at most `timeout` seconds). Returns false on timeout.
    @discardableResult
    public func waitIdle(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        cond.lock(); defer { cond.unlock() }
        while busy { if !cond.wait(until: deadline) { return false } }
        return true
    }

    /// Stops the thread after the running write.
    public func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        cond.unlock()
        waitIdle(timeout: 3600)
    }

    private func work() {
        cond.lock()
        while true {
            while pending == nil && !stopping { cond.wait() }
            guard let job = pending else { break }
            pending = nil
            cond.unlock()
            let t0 = ProcessLifecycle.now()
            var r = Result(step: snapshot.state.step, path: nil, error: nil, seconds: 0, unixTime: 0)
            var extra = job.extra
            if let h = job.history { extra[h.key] = h.value.storedJSON() }
            do { r.path = try Checkpoint.save(snapshot.state, root: root, keep: keep, extra: extra) } catch {
                r.error = "\(error)"
            }
            r.seconds = ProcessLifecycle.now() - t0
            r.unixTime = Date().timeIntervalSince1970
            cond.lock()
            finished.append(r)
            busy = false
            cond.broadcast()
        }
        cond.unlock()
    }
}
