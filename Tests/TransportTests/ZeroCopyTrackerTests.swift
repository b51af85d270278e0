import Foundation
import Testing
@testable import Transport

/// The zero-copy bookkeeping: the owner of a sent buffer lives until libzmq has released every send of it, even
/// when the operation ended (or failed) first; waits for a release are bounded.
@Suite struct ZeroCopyTrackerTests {
    final class Owner {}

    @Test func ownerLivesUntilTheLastReleaseEvenAfterTheOperationEnded() {
        let tracker = ZeroCopyTracker()
        weak var weakOwner: Owner?
        var hints: [UnsafeMutableRawPointer] = []
        do {
            let owner = Owner()
            weakOwner = owner
            tracker.begin(count: 3, keepAlive: owner)
            hints = (0 ..< 2).map { tracker.hint(for: $0) }
            tracker.markCopied(2)
        }
        #expect(weakOwner != nil)  // only the tracker holds it now
        // The operation gives up waiting (as after a failure) while libzmq still holds both messages.
        #expect(!tracker.finish(deadline: Date().addingTimeInterval(0.05)))
        #expect(tracker.outstandingCount == 2 && weakOwner != nil)
        ZeroCopyTracker.release(nil, hints[1])
        #expect(tracker.outstandingCount == 1 && weakOwner != nil)
        ZeroCopyTracker.release(nil, hints[0])  // libzmq is done: the buffer may go
        #expect(tracker.outstandingCount == 0 && weakOwner == nil)
    }

    @Test func waitForOneReleaseIsBoundedAndWakesOnRelease() {
        let tracker = ZeroCopyTracker()
        let owner = Owner()
        tracker.begin(count: 2, keepAlive: owner)
        let h0 = tracker.hint(for: 0)
        let h1 = tracker.hint(for: 1)
        let start = Date()
        #expect(!tracker.waitReleased(0, deadline: start.addingTimeInterval(0.1)))
        #expect(Date().timeIntervalSince(start) >= 0.09)
        // A release from another thread (as libzmq's I/O thread does) wakes the waiter.
        Thread.detachNewThread { ZeroCopyTracker.release(nil, h0) }
        #expect(tracker.waitReleased(0, deadline: Date().addingTimeInterval(10)))
        ZeroCopyTracker.release(nil, h1)
        #expect(tracker.finish(deadline: Date().addingTimeInterval(1)))
    }
}
