import Sampling
import Testing
@testable import WorkerCore

/// Scripted scenarios of the worker's protocol: each feeds `WorkerMachine` the events a real worker would see and
/// checks every action it answers with, in order.
@Suite struct WorkerMachineTests {
    typealias M = WorkerMachine
    static let job = JobIdentity(configYAML: "arch: vit_tiny\n", datasetFingerprint: "fp1", seed: 7)
    /// 100 samples, global batch 8: 12 steps per epoch.
    static let plan = EpochPlan(seed: 7, datasetSize: 100, globalBatch: 8)
    static let ring = ["tcp://10.0.0.1:5601", "tcp://10.0.0.2:5601", "tcp://10.0.0.3:5601"]

    /// The share of `step` that rank `rank` of `world` computes, as the coordinator would have planned it.
    static func share(_ step: Int, gen: Int, rank: Int = 0, world: Int = 1) -> PlannedStep {
        let e = plan.epoch(ofStep: step)
        let idx = plan.samples(step: step, rank: rank, worldSize: world, permutation: plan.permutation(epoch: e))
        return PlannedStep(generation: gen, step: step, rank: rank, worldSize: world, epoch: e, indices: idx.map { Int($0) })
    }

    /// A machine that has joined the job (fresh cache) and opened generation `gen` as `rank` of `world` from `first`.
    static func joined(gen: Int = 1, rank: Int = 0, world: Int = 1, first: Int = 0, window: Int = 3) -> M {
        var m = M(settings: .init(window: window))
        #expect(m.handle(.welcomed(job)) == [.setUpJob(job)])
        #expect(m.handle(.jobSetUp(job, plan: plan)) == [])
        let eps = Array(ring.prefix(world))
        #expect(m.handle(.generationStarted(generation: gen, rank: rank, endpoints: eps, firstStep: first))
                    == [.openGeneration(generation: gen, rank: rank, endpoints: eps, firstStep: first,
                                        sliceSize: EpochPlan.slice(rank: rank, worldSize: world, batch: 8).count)])
        _ = m.handle(.generationOpened(generation: gen))
        return m
    }

    @Test func joinPlanRunApply() {
        var m = Self.joined()
        #expect(m.cacheStep == -1)
        // The state at step 0 arrives, then plans; each plan goes to the loader with its derived samples.
        #expect(m.handle(.stateHeaderReceived(step: 0)) == [.beginStateTransfer(step: 0)])
        #expect(m.handle(.stateLoaded(generation: 1, step: 0))
                    == [.cacheAt(step: 0), .resetStateTransfer, .log(event: "state", "loaded the state at step 0"),
                        .send(.stateReceived, generation: 1, step: 0)])
        #expect(m.handle(.planned(generation: 1, step: 0)) == [.submit(Self.share(0, gen: 1))])
        #expect(m.handle(.planned(generation: 1, step: 1)) == [.submit(Self.share(1, gen: 1))])
        #expect(m.hasRunnableStep)
        #expect(m.handle(.idle) == [.runStep(Self.share(0, gen: 1))])
        #expect(!m.hasRunnableStep, "step 1 waits for the cache to reach it")
        #expect(m.handle(.idle) == [])
        #expect(m.handle(.stepApplied(generation: 1, step: 0)) == [.cacheAt(step: 1)])
        #expect(m.handle(.committed(step: 0, stateHash: 0xABC)) == [.verifyStateHash(step: 0, expected: 0xABC)])
        #expect(m.handle(.committed(step: 0, stateHash: 0)) == [], "an unhashed commit is not checked")
        #expect(m.handle(.idle) == [.runStep(Self.share(1, gen: 1))])
        #expect(m.handle(.stepApplied(generation: 1, step: 1)) == [.cacheAt(step: 2)])
        #expect(m.handle(.committed(step: 0, stateHash: 0xABC)) == [], "the cache is past that commit")
    }

    @Test func samplesAreDerivedPerRankAcrossAnEpochBoundary() {
        var m = Self.joined(rank: 1, world: 3, first: 11)
        _ = m.handle(.stateLoaded(generation: 1, step: 11))
        // Step 11 is the last of epoch 0, step 12 the first of epoch 1 (another permutation).
        guard case let .submit(a)? = m.handle(.planned(generation: 1, step: 11)).first,
              case let .submit(b)? = m.handle(.planned(generation: 1, step: 12)).first else {
            Issue.record("plans were not submitted")
            return
        }
        #expect(a == Self.share(11, gen: 1, rank: 1, world: 3) && a.epoch == 0)
        #expect(b == Self.share(12, gen: 1, rank: 1, world: 3) && b.epoch == 1)
        #expect(a.indices.count == 3 && b.indices.count == 3, "rank 1 of 3 in a batch of 8 has [2, 5) — 3 images")
        #expect(a.indices == Self.plan.permutation(epoch: 0)[88 + 2 ..< 88 + 5].map { Int($0) })
        #expect(b.indices == Self.plan.permutation(epoch: 1)[2 ..< 5].map { Int($0) })
    }

    @Test func theLoaderHoldsAtMostTheWindow() {
        var m = Self.joined(window: 2)
        _ = m.handle(.stateLoaded(generation: 1, step: 0))
        #expect(m.handle(.planned(generation: 1, step: 0)).count == 1)
        #expect(m.handle(.planned(generation: 1, step: 1)).count == 1)
        #expect(m.handle(.planned(generation: 1, step: 2)) == [], "the window is full")
        #expect(m.submitted == 2 && m.plans.count == 3)
        #expect(m.handle(.idle) == [.runStep(Self.share(0, gen: 1))])
        #expect(m.handle(.stepApplied(generation: 1, step: 0)) == [.cacheAt(step: 1), .submit(Self.share(2, gen: 1))])
    }

    @Test func stalePlansAreDroppedWithTheirSlices() {
        // The cache applied step 4 in the last generation; the coordinator (which had not committed it) re-forms the
        // ring from step 4.
        var m = Self.joined(gen: 1)
        _ = m.handle(.stateLoaded(generation: 1, step: 4))
        _ = m.handle(.planned(generation: 1, step: 4))
        _ = m.handle(.idle)
        _ = m.handle(.stepApplied(generation: 1, step: 4))
        _ = m.handle(.aborted(generation: 1, reason: "ring re-formed"))
        #expect(m.handle(.generationStarted(generation: 2, rank: 0, endpoints: [Self.ring[0]], firstStep: 4))
                    == [.openGeneration(generation: 2, rank: 0, endpoints: [Self.ring[0]], firstStep: 4,
                                        sliceSize: 8)])
        #expect(m.handle(.generationOpened(generation: 2))
                    == [.send(.stateReceived, generation: 2, step: 5),
                        .log(event: "generation", "generation 2: rank 0 of 1, from step 4 (waiting for the state; "
                             + "cache at 5)")])
        #expect(m.handle(.planned(generation: 2, step: 4)) == [.submit(Self.share(4, gen: 2))])
        #expect(m.handle(.planned(generation: 2, step: 5)) == [.submit(Self.share(5, gen: 2))])
        #expect(m.handle(.idle) == [.discardLoaded(step: 4), .runStep(Self.share(5, gen: 2))])
    }

    @Test func aSupersededGenerationIsIgnored() {
        var m = Self.joined(gen: 3)
        _ = m.handle(.stateLoaded(generation: 3, step: 0))
        _ = m.handle(.planned(generation: 3, step: 0))
        #expect(m.handle(.generationStarted(generation: 4, rank: 1, endpoints: Array(Self.ring.prefix(2)), firstStep: 0))
                    == [.closeGeneration, .openGeneration(generation: 4, rank: 1, endpoints: Array(Self.ring.prefix(2)),
                                                          firstStep: 0, sliceSize: 4)])
        _ = m.handle(.generationOpened(generation: 4))
        #expect(m.handle(.planned(generation: 3, step: 1)) == [], "a plan of the old generation")
        #expect(m.handle(.aborted(generation: 3, reason: "late")) == [], "an abort of the old generation")
        #expect(m.handle(.generationFailed(generation: 3)) == [])
        #expect(m.handle(.generationOpened(generation: 3)) == [])
        #expect(m.handle(.planned(generation: 4, step: 0)) == [.submit(Self.share(0, gen: 4, rank: 1, world: 2))])
        // Aborting the current generation closes it; its later plans are ignored until the next one opens.
        #expect(m.handle(.aborted(generation: 4, reason: "a worker left"))
                    == [.log(event: "abort", "generation 4 aborted: a worker left"), .closeGeneration])
        #expect(m.handle(.planned(generation: 4, step: 1)) == [])
        #expect(!m.hasRunnableStep && m.handle(.idle) == [])
    }

    @Test func aRingThatCannotBeSetUpIsClosedAndNothingRuns() {
        var m = Self.joined(gen: 1)
        #expect(m.handle(.generationStarted(generation: 2, rank: 0, endpoints: [Self.ring[0]], firstStep: 0))
                    == [.closeGeneration, .openGeneration(generation: 2, rank: 0, endpoints: [Self.ring[0]], firstStep: 0,
                                                          sliceSize: 8)])
        #expect(m.handle(.generationFailed(generation: 2)) == [.closeGeneration])
        #expect(m.handle(.planned(generation: 2, step: 0)) == [])
        // A step that fails on the ring ends the generation the same way.
        var n = Self.joined(gen: 1)
        _ = n.handle(.stateLoaded(generation: 1, step: 0))
        _ = n.handle(.planned(generation: 1, step: 0))
        _ = n.handle(.planned(generation: 1, step: 1))
        _ = n.handle(.idle)
        #expect(n.handle(.generationFailed(generation: 1)) == [.closeGeneration])
        #expect(n.plans.isEmpty && n.submitted == 0 && n.cacheStep == 0)
    }

    @Test func theStateIsResentWhenTheCoordinatorAsks() {
        var m = Self.joined()
        _ = m.handle(.stateLoaded(generation: 1, step: 0))
        _ = m.handle(.planned(generation: 1, step: 0))
        _ = m.handle(.idle)
        _ = m.handle(.stepApplied(generation: 1, step: 0))
        // The coordinator decided this cache is not its state (e.g. a hash mismatch) and sends it again.
        #expect(m.handle(.stateHeaderReceived(step: 1)) == [.cacheAt(step: -1), .beginStateTransfer(step: 1)])
        #expect(!m.hasRunnableStep)
        #expect(m.handle(.stateLoaded(generation: 1, step: 1)).prefix(2) == [.cacheAt(step: 1), .resetStateTransfer])
    }

    @Test func theCoordinatorGoesAndComesBack() {
        var m = Self.joined()
        _ = m.handle(.stateLoaded(generation: 1, step: 0))
        _ = m.handle(.planned(generation: 1, step: 0))
        _ = m.handle(.idle)
        _ = m.handle(.stepApplied(generation: 1, step: 0))
        _ = m.handle(.planned(generation: 1, step: 1))
        #expect(m.handle(.coordinatorLost) == [.closeGeneration, .resetStateTransfer, .publishCacheHash])
        #expect(m.cacheStep == 1, "the cache stays")
        // The restarted coordinator is the same job: no set-up, the cache is offered; it resumes from its checkpoint
        // at step 0, behind the cache, so the worker says where its cache is.
        #expect(m.handle(.welcomed(Self.job)) == [.log(event: "join", "joined the job again; cache at step 1")])
        _ = m.handle(.generationStarted(generation: 1, rank: 0, endpoints: [Self.ring[0]], firstStep: 0))
        #expect(m.handle(.generationOpened(generation: 1)).first == .send(.stateReceived, generation: 1, step: 1))
        // A different job (another config) resets the cache.
        var other = Self.job
        other.seed = 8
        #expect(m.handle(.welcomed(other)) == [.setUpJob(other)])
        #expect(m.handle(.jobSetUp(other, plan: EpochPlan(seed: 8, datasetSize: 100, globalBatch: 8)))
                    == [.closeGeneration, .cacheAt(step: -1)])
    }

    @Test func evictionKeepsTheCacheAndDropsTheWork() {
        var m = Self.joined()
        _ = m.handle(.stateLoaded(generation: 1, step: 0))
        _ = m.handle(.onlineKNNRequested(generation: 1, step: 3))
        _ = m.handle(.planned(generation: 1, step: 0))
        #expect(m.handle(.evicted(reason: "silent"))
                    == [.log(event: "evicted", "the coordinator dropped this worker: silent (cache at step 0)"),
                        .closeGeneration, .resetStateTransfer, .publishCacheHash])
        #expect(m.onlineKNN == nil && m.cacheStep == 0)
    }

    @Test func leavingEndsTheMachine() {
        var m = Self.joined()
        _ = m.handle(.stateLoaded(generation: 1, step: 0))
        #expect(m.handle(.finished(reason: "all steps done"))
                    == [.log(event: "finished", "the job is over: all steps done"),
                        .send(.leave(reason: "the job is over"), generation: 1, step: 0), .closeGeneration,
                        .exit(code: 0)])
        #expect(m.handle(.planned(generation: 1, step: 0)) == [], "nothing after exit")
        var t = Self.joined()
        _ = t.handle(.planned(generation: 1, step: 0))
        #expect(t.handle(.terminated) == [.closeGeneration, .exit(code: 0)])
        var r = M(settings: .init(window: 3))
        #expect(r.handle(.refused(reason: "bad token"))
                    == [.log(event: "refused", "the coordinator refuses this worker: bad token"), .exit(code: 1)])
        var s = M(settings: .init(window: 3))
        _ = s.handle(.welcomed(Self.job))
        #expect(s.handle(.jobSetupFailed(reason: "dataset differs"))
                    == [.log(event: "fatal", "cannot take part in this job: dataset differs"),
                        .send(.leave(reason: "dataset differs"), generation: 0, step: 0), .exit(code: 1)])
    }

    @Test func onlineKNNRunsAtItsStepOrAnswersTooLate() {
        var m = Self.joined()
        _ = m.handle(.stateLoaded(generation: 1, step: 0))
        _ = m.handle(.onlineKNNRequested(generation: 1, step: 1))
        _ = m.handle(.planned(generation: 1, step: 0))
        #expect(m.handle(.idle) == [.runStep(Self.share(0, gen: 1))], "the cache is not at step 1 yet")
        _ = m.handle(.stepApplied(generation: 1, step: 0))
        #expect(m.handle(.idle) == [.evaluateOnlineKNN(generation: 1, step: 1)])
        #expect(m.handle(.idle) == [], "answered once")
        _ = m.handle(.onlineKNNRequested(generation: 1, step: 0))
        #expect(m.handle(.idle) == [.answerOnlineKNNTooLate(generation: 1, step: 0, cacheStep: 1)])
    }

    @Test func nothingRunsWithoutAJobOrAGeneration() {
        var m = M(settings: .init(window: 3))
        #expect(m.handle(.generationStarted(generation: 1, rank: 0, endpoints: [Self.ring[0]], firstStep: 0)) == [])
        #expect(m.handle(.planned(generation: 1, step: 0)) == [])
        #expect(m.handle(.stateHeaderReceived(step: 0)) == [])
        _ = m.handle(.welcomed(Self.job))
        _ = m.handle(.jobSetUp(Self.job, plan: Self.plan))
        #expect(m.handle(.generationStarted(generation: 1, rank: 3, endpoints: [Self.ring[0]], firstStep: 0)) == [],
                "a rank outside the ring")
        #expect(m.handle(.planned(generation: 1, step: 0)) == [], "plans before the generation opened")
    }
}
