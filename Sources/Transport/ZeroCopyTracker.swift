import Foundation

/// Tracks zero-copy sends of one ring operation: which have been released by libzmq, and keeps the caller's
/// buffer owner alive until every send is released (so a message still queued after a failure never reads freed
/// memory). The release callback runs on libzmq's I/O thread; waits are bounded.
final class ZeroCopyTracker: @unchecked Sendable {
    /// What a send's `hint` points at: the tracker and the send's index.
    struct Slot {
        var tracker: Unmanaged<ZeroCopyTracker>
        var index: Int
    }

    private let condition = NSCondition()
    private var released: UnsafeMutablePointer<Bool>
    private var slots: UnsafeMutablePointer<Slot>
    private var capacity = 0
    private var outstanding = 0
    private var keepAlive: AnyObject?
    /// True between `begin` and `finish`: the caller is inside the operation, so its buffer is alive anyway.
    private var operationOpen = false

    init() {
        released = .allocate(capacity: 1)
        slots = .allocate(capacity: 1)
    }

    deinit {
        released.deallocate()
        slots.deallocate()
    }

    /// Starts an operation of `count` sends. Only called when nothing is outstanding (grows storage if needed).
    func begin(count: Int, keepAlive owner: AnyObject?) {
        condition.lock()
        precondition(outstanding == 0, "zero-copy sends of a previous operation are still outstanding")
        if count > capacity {
            released.deallocate()
            slots.deallocate()
            capacity = max(count, 2 * capacity)
            released = .allocate(capacity: capacity)
            slots = .allocate(capacity: capacity)
        }
        released.update(repeating: false, count: max(count, 0))
        keepAlive = owner
        operationOpen = true
        condition.unlock()
    }

    /// Registers send `index` as in flight and returns the hint to pass to libzmq (retains the tracker).
    func hint(for index: Int) -> UnsafeMutableRawPointer {
        condition.lock()
        outstanding += 1
        let me = Unmanaged.passRetained(self)
        (slots + index).initialize(to: Slot(tracker: me, index: index))
        condition.unlock()
        return UnsafeMutableRawPointer(slots + index)
    }

    /// Marks a send that libzmq copied (nothing to wait for).
    func markCopied(_ index: Int) {
        condition.lock()
        released[index] = true
        condition.unlock()
    }

    /// The release callback for `ZMQSocket.sendZeroCopy`.
    static let release: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
        guard let hint else { return }
        let slot = hint.assumingMemoryBound(to: Slot.self).pointee
        let tracker = slot.tracker.takeUnretainedValue()
        tracker.didRelease(slot.index)
        slot.tracker.release()
    }

    private func didRelease(_ index: Int) {
        condition.lock()
        released[index] = true
        outstanding -= 1
        var owner: AnyObject? = nil
        if outstanding == 0 && !operationOpen { swap(&owner, &keepAlive) }
        condition.broadcast()
        condition.unlock()
        _ = owner  // the caller's buffer may be freed here, outside the lock
    }

    /// Waits until send `index` is released; false if `deadline` passes first.
    func waitReleased(_ index: Int, deadline: Date) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !released[index] {
            if !condition.wait(until: deadline) { return released[index] }
        }
        return true
    }

    /// Ends the operation and waits until no send is outstanding; false if `deadline` passes first (the owner is
    /// then released by the last release callback instead).
    func finish(deadline: Date) -> Bool {
        condition.lock()
        operationOpen = false
        while outstanding > 0 {
            if !condition.wait(until: deadline) { break }
        }
        let done = outstanding == 0
        var owner: AnyObject? = nil
        if done { swap(&owner, &keepAlive) }
        condition.unlock()
        _ = owner
        return done
    }

    var outstandingCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return outstanding
    }
}
