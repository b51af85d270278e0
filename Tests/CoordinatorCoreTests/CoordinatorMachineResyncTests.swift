import Testing
@testable import CoordinatorCore

/// Scenarios the distributed job met in practice: a member that finishes an aborted generation's step after the new
/// generation was formed, and a restarted coordinator's generation numbers.
@Suite struct CoordinatorMachineResyncTests {
    typealias M = CoordinatorMachine
    static func info(_ n: Int) -> WorkerInfo { WorkerInfo(host: "h\(n)", dataEndpoint: "tcp://h\(n):5601", threads: 1) }

    func acts(_ m: inout M, _ e: CoordinatorEvent) -> [CoordinatorAction] {
        m.handle(e).filter { if case .log = $0 { return false } else { return true } }
    }

    @Test func memberThatAppliedAnAbortedStepGetsTheStateBeforeTheGenerationStarts() {
        // Worker 1 is computing step 5 of generation 1 when worker 2 joins with an empty cache; the join waits for
        // the step boundary, but here generation 1 is ended by a ring failure first, so generation 2 forms at once.
        var n = M(settings: .init(minWorkers: 1, totalSteps: 100), committedStep: 5)
        _ = acts(&n, .joined(1, Self.info(1), cacheStep: 5))
        _ = acts(&n, .joined(2, Self.info(2), cacheStep: -1))
        _ = acts(&n, .ringFailed(1, generation: 1, step: 5, peer: nil, reason: "test"))
        #expect(n.phase == .syncing && n.generation == 2)
        // Worker 1 completes a step 5 of generation 1 (stale): its cache moved to 6 ≠ committed 5.
        #expect(acts(&n, .stepApplied(1, generation: 1, step: 5, stateHash: 0)) == [.sendState(to: 1, step: 5)])
        // Reported once only.
        #expect(acts(&n, .stepApplied(1, generation: 1, step: 5, stateHash: 0)) == [])
        #expect(acts(&n, .stateReceived(2, step: 5)) == [], "worker 1 is not at the committed step yet")
        let started = acts(&n, .stateReceived(1, step: 5))
        #expect(started == [.sendPlan(to: 1, generation: 2, step: 5, rank: 0, worldSize: 2),
                            .sendPlan(to: 2, generation: 2, step: 5, rank: 1, worldSize: 2),
                            .sendPlan(to: 1, generation: 2, step: 6, rank: 0, worldSize: 2),
                            .sendPlan(to: 2, generation: 2, step: 6, rank: 1, worldSize: 2)])
    }

    @Test func restartedCoordinatorContinuesTheGenerationNumbers() {
        var m = M(settings: .init(totalSteps: 10), committedStep: 4, lastGeneration: 17)
        #expect(acts(&m, .joined(9, Self.info(9), cacheStep: 6))
                    == [.startGeneration(generation: 18, ring: [9], firstStep: 4), .sendState(to: 9, step: 4)])
        #expect(acts(&m, .chunkReceived(9, generation: 17, step: 4, segment: 0)) == [], "the old coordinator's generation")
    }

    @Test func membersStillApplyingTheLastCommittedStepAreNotResent() {
        var m = M(settings: .init(minWorkers: 1, lookahead: 2, totalSteps: 100), committedStep: 0)
        _ = acts(&m, .joined(1, Self.info(1), cacheStep: 0))
        #expect(m.phase == .running && m.generation == 1)
        // Steps 0 and 1 commit as soon as the chunk is in; worker 1 has reported applying step 0 only.
        _ = acts(&m, .stepApplied(1, generation: 1, step: 0, stateHash: 0))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 0, segment: 0))
        _ = acts(&m, .committed(step: 0, stateHash: 0))
        _ = acts(&m, .joined(2, Self.info(2), cacheStep: -1)) // drains: steps 1 and 2 are in flight
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 1, segment: 0))
        _ = acts(&m, .committed(step: 1, stateHash: 0))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 2, segment: 0))
        // The last commit regroups; worker 1's cache is at 1 (it reported step 0) but it is still applying 1 and 2.
        #expect(acts(&m, .committed(step: 2, stateHash: 0))
                    == [.abortGeneration(generation: 1, reason: "ring re-formed"),
                        .startGeneration(generation: 2, ring: [1, 2], firstStep: 3), .sendState(to: 2, step: 3)])
        #expect(acts(&m, .stepApplied(1, generation: 1, step: 1, stateHash: 0)) == [], "2 is still coming")
        #expect(acts(&m, .stateReceived(2, step: 3)) == [])
        #expect(acts(&m, .stepApplied(1, generation: 1, step: 2, stateHash: 0))
                    == [.sendPlan(to: 1, generation: 2, step: 3, rank: 0, worldSize: 2),
                        .sendPlan(to: 2, generation: 2, step: 3, rank: 1, worldSize: 2),
                        .sendPlan(to: 1, generation: 2, step: 4, rank: 0, worldSize: 2),
                        .sendPlan(to: 2, generation: 2, step: 4, rank: 1, worldSize: 2)])
    }

    @Test func aMemberWhoseApplyFailedReportsItsCacheAndGetsTheState() {
        var m = M(settings: .init(minWorkers: 1, totalSteps: 100), committedStep: 0)
        _ = acts(&m, .joined(1, Self.info(1), cacheStep: 0))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 0, segment: 0))
        _ = acts(&m, .committed(step: 0, stateHash: 0))
        _ = acts(&m, .joined(2, Self.info(2), cacheStep: -1))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 1, segment: 0))
        _ = acts(&m, .committed(step: 1, stateHash: 0))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 2, segment: 0))
        let regroup = acts(&m, .committed(step: 2, stateHash: 0))
        #expect(regroup.contains(.startGeneration(generation: 2, ring: [1, 2], firstStep: 3)))
        #expect(!regroup.contains(.sendState(to: 1, step: 3)), "worker 1 may still be applying")
        // Worker 1 never applied steps 0...2 (its all-gather failed): on the new generation it reports cache 0.
        #expect(acts(&m, .stateReceived(1, step: 0)) == [.sendState(to: 1, step: 3)])
    }
}
