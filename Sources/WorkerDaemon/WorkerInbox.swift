import Foundation
import JobCommon
import Wire

/// Messages from the I/O thread to the compute thread, in arrival order; the compute thread blocks on it (bounded).
final class WorkerInbox: @unchecked Sendable {
    enum Item {
        case message(Envelope)
        /// The coordinator went silent: drop in-flight work, keep the cache.
        case coordinatorLost
        /// SIGTERM: stop.
        case terminate
    }

    private let cond = NSCondition()
    private var items: [Item] = []
    private var closed = false

    func push(_ item: Item) {
        cond.lock()
        items.append(item)
        cond.broadcast()
        cond.unlock()
    }

    /// The next item, waiting at most `timeout` seconds.
    func next(timeout: Double) -> Item? {
        cond.lock(); defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while items.isEmpty { if !cond.wait(until: deadline) { break } }
        return items.isEmpty ? nil : items.removeFirst()
    }

    /// The first waiting item `predicate` maps to a value (items stay queued), without waiting.
    func firstPending<T>(_ predicate: (Item) -> T?) -> T? {
        cond.lock(); defer { cond.unlock() }
        for item in items { if let v = predicate(item) { return v } }
        return nil
    }

    /// Tells the I/O thread to finish.
    func close() {
        cond.lock()
        closed = true
        cond.unlock()
    }

    var isClosed: Bool { cond.lock(); defer { cond.unlock() }; return closed }
}
