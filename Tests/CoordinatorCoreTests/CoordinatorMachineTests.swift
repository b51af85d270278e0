import Testing
@testable import CoordinatorCore

/// Scripted scenarios: each feeds events and checks the exact actions, like etcd raft's interaction tests.
@Suite struct CoordinatorMachineTests {
    typealias M = CoordinatorMachine
    static func info(_ n: Int) -> WorkerInfo { WorkerInfo(host: "h\(n)", dataEndpoint: "tcp://h\(n):5601", threads: 1) }

    /// Drops log lines so scenarios read as the protocol.
    func acts(_ m: inout M, _ e: CoordinatorEvent) -> [CoordinatorAction] {
        m.handle(e).filter { if case .log = $0 { return false } else { return true } }
    }

    /// Every ring member applies `step` and delivers its segment; the coordinator commits it. Returns the actions
    /// that follow the commit.
    @discardableResult
    func runStep(_ m: inout M, _ step: Int) -> [CoordinatorAction] {
        let g = m.generation
        for (rank, id) in m.ring.enumerated() {
            _ = acts(&m, .stepApplied(id, generation: g, step: step, stateHash: 0))
            _ = acts(&m, .chunkReceived(id, generation: g, step: step, segment: rank))
        }
        return acts(&m, .committed(step: step, stateHash: 0))
    }

    func plans(_ step: Int, gen: Int, ring: [UInt64]) -> [CoordinatorAction] {
        ring.enumerated().map { .sendPlan(to: $1, generation: gen, step: step, rank: $0, worldSize: ring.count) }
    }

    @Test func singleWorkerSyncsThenStepsCommitInOrder() {
        var m = M(settings: .init(totalSteps: 4), committedStep: 0)
        #expect(acts(&m, .joined(1, Self.info(1), cacheStep: -1))
                    == [.startGeneration(generation: 1, ring: [1], firstStep: 0), .sendState(to: 1, step: 0)])
        #expect(m.phase == .syncing)
        #expect(acts(&m, .stateReceived(1, step: 0)) == plans(0, gen: 1, ring: [1]) + plans(1, gen: 1, ring: [1]))
        #expect(acts(&m, .chunkReceived(1, generation: 1, step: 1, segment: 0)) == [], "step 1 waits for step 0")
        #expect(acts(&m, .chunkReceived(1, generation: 1, step: 0, segment: 0)) == [.commit(generation: 1, step: 0)])
        // Step 1's segment arrived during step 0's commit: it commits right after, and step 2 is planned.
        #expect(acts(&m, .committed(step: 0, stateHash: 0)) == plans(2, gen: 1, ring: [1]) + [.commit(generation: 1, step: 1)])
        #expect(acts(&m, .committed(step: 1, stateHash: 0)) == plans(3, gen: 1, ring: [1]))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 2, segment: 0))
        _ = acts(&m, .committed(step: 2, stateHash: 0))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 3, segment: 0))
        #expect(acts(&m, .committed(step: 3, stateHash: 0)) == [.finish(reason: "all 4 steps committed")])
        #expect(m.phase == .finished && m.committed == 4)
    }

    @Test func workersAtTheCommittedStepNeedNoStateAndStaleChunksAreIgnored() {
        var m = M(settings: .init(minWorkers: 2, totalSteps: 100), committedStep: 10)
        #expect(acts(&m, .joined(1, Self.info(1), cacheStep: 10)) == [])
        #expect(m.phase == .waiting)
        #expect(acts(&m, .joined(2, Self.info(2), cacheStep: 10))
                    == [.startGeneration(generation: 1, ring: [1, 2], firstStep: 10)]
                    + plans(10, gen: 1, ring: [1, 2]) + plans(11, gen: 1, ring: [1, 2]))
        #expect(acts(&m, .chunkReceived(1, generation: 0, step: 10, segment: 0)) == [], "old generation")
        #expect(acts(&m, .chunkReceived(1, generation: 1, step: 12, segment: 0)) == [], "not planned")
        #expect(acts(&m, .chunkReceived(1, generation: 1, step: 10, segment: 5)) == [], "no such segment")
        #expect(acts(&m, .chunkReceived(1, generation: 1, step: 10, segment: 0)) == [])
        #expect(acts(&m, .chunkReceived(2, generation: 1, step: 10, segment: 1)) == [.commit(generation: 1, step: 10)])
    }

    @Test func silentWorkerIsEvictedAndTheStepInFlightIsRedoneBySurvivors() {
        var m = M(settings: .init(heartbeatTimeout: 3, totalSteps: 100), committedStep: 0)
        _ = acts(&m, .joined(1, Self.info(1), cacheStep: 0))
        _ = acts(&m, .joined(2, Self.info(2), cacheStep: 0))
        // Worker 2 joined while generation 1 (worker 1 alone) was running: it enters at the next step boundary,
        // once the steps in flight (0 and 1) have committed.
        #expect(m.phase == .draining && m.ring == [1])
        #expect(runStep(&m, 0) == [])
        let regroup = runStep(&m, 1)
        #expect(regroup == [.abortGeneration(generation: 1, reason: "ring re-formed"),
                            .startGeneration(generation: 2, ring: [1, 2], firstStep: 2), .sendState(to: 2, step: 2)])
        #expect(acts(&m, .stateReceived(2, step: 2)) == plans(2, gen: 2, ring: [1, 2]) + plans(3, gen: 2, ring: [1, 2]))
        _ = acts(&m, .chunkReceived(1, generation: 2, step: 2, segment: 0))
        // Worker 2 goes silent (SIGSTOP) mid step 2 after t = 1; worker 1 keeps heartbeating.
        _ = acts(&m, .tick(now: 1)); _ = acts(&m, .heard(2)); _ = acts(&m, .heard(1))
        _ = acts(&m, .tick(now: 3)); _ = acts(&m, .heard(1))
        #expect(acts(&m, .tick(now: 4)) == [], "3.0 s of silence is not yet more than the 3 s timeout")
        _ = acts(&m, .heard(1))
        let evicted = acts(&m, .tick(now: 4.5))
        #expect(evicted == [.evict(2, reason: "no message for 3.5 s (timeout 3.0 s)"),
                            .abortGeneration(generation: 2, reason: "worker 2 left"),
                            .startGeneration(generation: 3, ring: [1], firstStep: 2)]
                    + plans(2, gen: 3, ring: [1]) + plans(3, gen: 3, ring: [1]))
        #expect(m.committed == 2, "step 2 is redone, nothing committed is lost")
    }

    /// The coordinator itself stalled (the whole job was SIGSTOPped and continued): the silence is not the workers'.
    /// A worker still silent a full timeout after the stall is evicted as usual.
    @Test func aStalledCoordinatorDoesNotEvictWorkersForItsOwnSilence() {
        var m = M(settings: .init(heartbeatTimeout: 3, totalSteps: 100), committedStep: 0)
        _ = acts(&m, .tick(now: 1))
        _ = acts(&m, .joined(1, Self.info(1), cacheStep: 0))
        _ = acts(&m, .joined(2, Self.info(2), cacheStep: 0))
        _ = acts(&m, .tick(now: 1.1))
        #expect(m.handle(.tick(now: 21.1))
                    == [.log("no tick for 20.0 s (this process was stopped or blocked): the workers' silence during it "
                             + "does not count")])
        #expect(Set(m.workers.keys) == [1, 2])
        _ = acts(&m, .heard(1))
        #expect(acts(&m, .tick(now: 23.0)) == [], "2.0 s of silence since the stall")
        _ = acts(&m, .heard(1))
        let late = acts(&m, .tick(now: 24.5))
        #expect(late.first == .evict(2, reason: "no message for 3.5 s (timeout 3.0 s)"), "\(late)")
        #expect(Set(m.workers.keys) == [1])
    }

    @Test func belowMinWorkersTheJobWaitsAndResumesWhenOneJoins() {
        var m = M(settings: .init(minWorkers: 2, totalSteps: 100), committedStep: 5)
        _ = acts(&m, .joined(1, Self.info(1), cacheStep: 5))
        _ = acts(&m, .joined(2, Self.info(2), cacheStep: 5))
        #expect(m.phase == .running)
        let all = m.handle(.left(2, reason: "SIGTERM"))
        #expect(all.contains(.log("waiting: 1 live worker(s), --min-workers is 2")))
        #expect(m.phase == .waiting && m.ring.isEmpty)
        let back = acts(&m, .joined(3, Self.info(3), cacheStep: -1))
        #expect(back == [.startGeneration(generation: 2, ring: [1, 3], firstStep: 5), .sendState(to: 3, step: 5)])
    }

    @Test func aPeerNamedByRingFailuresTwiceIsEvicted() {
        var m = M(settings: .init(totalSteps: 100), committedStep: 0)
        for id in UInt64(1) ... 3 { _ = acts(&m, .joined(id, Self.info(Int(id)), cacheStep: 0)) }
        // Joins during generation 1 drain into one ring of three.
        runStep(&m, 0)
        runStep(&m, 1)
        #expect(m.ring == [1, 2, 3] && m.generation == 2)
        _ = acts(&m, .stateReceived(2, step: 2)); _ = acts(&m, .stateReceived(3, step: 2))
        #expect(m.phase == .running)
        let first = acts(&m, .ringFailed(2, generation: 2, step: 2, peer: 2, reason: "timeout"))
        #expect(first.first == .abortGeneration(generation: 2, reason: "ring failure") && m.ring == [1, 2, 3])
        let second = acts(&m, .ringFailed(2, generation: 3, step: 2, peer: 2, reason: "timeout"))
        #expect(second.first == .evict(3, reason: "ring failures in two consecutive generations"))
        #expect(m.ring == [1, 2] && m.generation == 4)
    }

    @Test func divergedStateHashForcesAResyncOfThatWorker() {
        var m = M(settings: .init(totalSteps: 100, hashCheckEvery: 1), committedStep: 0)
        _ = acts(&m, .joined(1, Self.info(1), cacheStep: 0))
        _ = acts(&m, .stepApplied(1, generation: 1, step: 0, stateHash: 0xBAD))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 0, segment: 0))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 1, segment: 0))
        let out = m.handle(.committed(step: 0, stateHash: 0x600D))
        #expect(out.contains(.log("worker 1 state hash at step 1 differs (0000000000000bad vs 000000000000600d): resyncing")))
        #expect(m.phase == .draining)
        let regroup = acts(&m, .committed(step: 1, stateHash: 0))
        #expect(regroup == [.abortGeneration(generation: 1, reason: "ring re-formed"),
                            .startGeneration(generation: 2, ring: [1], firstStep: 2), .sendState(to: 1, step: 2)])
    }

    @Test func pauseDrainsResumeContinuesStopFinishes() {
        var m = M(settings: .init(totalSteps: 100), committedStep: 0)
        _ = acts(&m, .joined(1, Self.info(1), cacheStep: 0))
        #expect(acts(&m, .pauseRequested) == [] && m.phase == .draining)
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 0, segment: 0))
        #expect(acts(&m, .committed(step: 0, stateHash: 0)) == [], "draining: step 1 is still in flight")
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 1, segment: 0))
        #expect(acts(&m, .committed(step: 1, stateHash: 0)) == [.paused])
        #expect(acts(&m, .resumeRequested) == plans(2, gen: 1, ring: [1]) + plans(3, gen: 1, ring: [1]))
        #expect(acts(&m, .stopRequested) == [] && m.phase == .draining)
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 2, segment: 0))
        _ = acts(&m, .committed(step: 2, stateHash: 0))
        _ = acts(&m, .chunkReceived(1, generation: 1, step: 3, segment: 0))
        #expect(acts(&m, .committed(step: 3, stateHash: 0)) == [.finish(reason: "stop requested")])
        #expect(m.phase == .finished)
        #expect(acts(&m, .joined(9, Self.info(9), cacheStep: 0)) == [.evict(9, reason: "the job has finished")])
    }

    /// Random joins, deaths, ring failures, pauses and chunk arrivals: steps commit exactly once each, in order,
    /// only when every rank of the then-current generation delivered its segment, and plans never run ahead of the
    /// committed step by more than the lookahead.
    @Test func randomScheduleKeepsCommitInvariants() {
        var rng = SplitMix(seed: 42)
        for trial in 0 ..< 200 {
            var m = M(settings: .init(minWorkers: 1, maxWorkers: 4, heartbeatTimeout: 3, lookahead: 2, totalSteps: 30),
                      committedStep: 0)
            var nextID: UInt64 = 1
            var now = 0.0
            var pendingCommit: Int?
            var commits: [Int] = []
            for _ in 0 ..< 400 {
                var events: [CoordinatorEvent] = []
                switch rng.next() % 10 {
                case 0: events = [.joined(nextID, Self.info(Int(nextID)), cacheStep: -1)]; nextID += 1
                case 1: if let w = m.workers.keys.min() { events = [.left(w, reason: "test")] }
                case 2: now += 1; events = [.tick(now: now)] + m.workers.keys.filter { _ in rng.next() % 4 != 0 }.map { .heard($0) }
                case 3: if let w = m.ring.first { events = [.ringFailed(w, generation: m.generation, step: m.committed, peer: nil, reason: "t")] }
                case 4: events = [rng.next() % 2 == 0 ? .pauseRequested : .resumeRequested]
                case 5: for w in m.workers.keys where m.workers[w]!.cacheStep != m.committed { events.append(.stateReceived(w, step: m.committed)) }
                default:
                    if let p = pendingCommit { events = [.committed(step: p, stateHash: 0)]; pendingCommit = nil }
                    else if m.committed < m.planned, !m.ring.isEmpty {
                        let seg = Int(rng.next() % UInt64(m.ring.count))
                        let step = m.committed + Int(rng.next() % UInt64(m.planned - m.committed))
                        events = [.chunkReceived(m.ring[seg], generation: m.generation, step: step, segment: seg)]
                    }
                }
                for e in events {
                    for a in m.handle(e) {
                        if case .commit(_, let s) = a {
                            #expect(pendingCommit == nil && s == (commits.last.map { $0 + 1 } ?? 0), "trial \(trial)")
                            commits.append(s); pendingCommit = s
                        }
                        if case .sendPlan(_, _, let s, _, _) = a {
                            #expect(s < m.committed + (pendingCommit == nil ? 0 : 1) + 2 + 1, "plan \(s) too far ahead")
                        }
                    }
                }
            }
            #expect(commits == Array(0 ..< commits.count), "trial \(trial): \(commits)")
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
