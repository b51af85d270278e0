import Testing
@testable import CoordinatorCore

/// `Settings.holdEvery`: the pipeline stops at held steps (online kNN reads the state there) until released.
@Suite struct CoordinatorMachineHoldTests {
    typealias M = CoordinatorMachine
    let base = CoordinatorMachineTests()

    @Test func planningStopsAtAHeldStepUntilReleased() {
        var m = M(settings: .init(totalSteps: 9, holdEvery: 3), committedStep: 0)
        _ = base.acts(&m, .joined(1, CoordinatorMachineTests.info(1), cacheStep: 0))
        // Steps 0, 1, 2 plan freely (the start, 0, is never held); step 3 waits.
        #expect(m.planned == 2)
        #expect(base.runStep(&m, 0) == base.plans(2, gen: 1, ring: [1]))
        #expect(base.runStep(&m, 1) == [], "step 3 is held: the state at 3 is evaluated first")
        #expect(base.runStep(&m, 2) == [])
        #expect(m.committed == 3 && m.planned == 3 && m.isHeld(3))
        // A join while held regroups at once (nothing is in flight) and the new ring still waits.
        #expect(base.acts(&m, .joined(2, CoordinatorMachineTests.info(2), cacheStep: 3))
                    == [.abortGeneration(generation: 1, reason: "ring re-formed"),
                        .startGeneration(generation: 2, ring: [1, 2], firstStep: 3)])
        #expect(base.acts(&m, .holdReleased(step: 3))
                    == base.plans(3, gen: 2, ring: [1, 2]) + base.plans(4, gen: 2, ring: [1, 2]))
        #expect(base.acts(&m, .holdReleased(step: 3)) == [], "a second release changes nothing")
        #expect(base.runStep(&m, 3) == base.plans(5, gen: 2, ring: [1, 2]))
        #expect(base.runStep(&m, 4) == [])
        #expect(base.runStep(&m, 5) == [])
        #expect(m.committed == 6 && m.planned == 6)
    }

    @Test func aRestartedMachineDoesNotHoldItsStartingStepAndPauseStillWorks() {
        var m = M(settings: .init(totalSteps: 8, holdEvery: 2), committedStep: 4)
        _ = base.acts(&m, .joined(1, CoordinatorMachineTests.info(1), cacheStep: 4))
        #expect(m.planned == 6, "4 and 5 planned; 6 is held")
        _ = base.acts(&m, .pauseRequested)
        base.runStep(&m, 4)
        #expect(base.runStep(&m, 5) == [.paused])
        #expect(base.acts(&m, .holdReleased(step: 6)) == [], "paused: nothing is planned")
        #expect(base.acts(&m, .resumeRequested) == base.plans(6, gen: 1, ring: [1]) + base.plans(7, gen: 1, ring: [1]))
    }
}
