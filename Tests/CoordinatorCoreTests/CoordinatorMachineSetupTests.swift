import Testing
@testable import CoordinatorCore

/// No hang, ever: rings that cannot be set up are reported and the worker at fault is evicted (`ringSetupFailed`),
/// and every step and every state load is bounded (`stepTimeout`). Scripted scenarios with the exact actions.
@Suite struct CoordinatorMachineSetupTests {
    typealias M = CoordinatorMachine
    let base = CoordinatorMachineTests()

    static func named(_ n: Int) -> WorkerInfo {
        WorkerInfo(host: "h\(n)", dataEndpoint: "tcp://h\(n):5601", threads: 1, name: "w\(n)")
    }

    /// Time passes in 1 s ticks to `t`, every worker heartbeating; returns every action (logs included).
    func idle(_ m: inout M, until t: Double) -> [CoordinatorAction] {
        var out: [CoordinatorAction] = []
        var now = m.now
        while now < t {
            now = min(t, now + 1)
            out += m.handle(.tick(now: now))
            for id in m.workers.keys.sorted() { out += m.handle(.heard(id)) }
        }
        return out
    }

    func withoutLogs(_ a: [CoordinatorAction]) -> [CoordinatorAction] {
        a.filter { if case .log = $0 { return false } else { return true } }
    }

    /// Workers 1, 2, 3 in generation 2 at step 2, running (steps 2 and 3 planned).
    func threeRunning(_ settings: M.Settings = .init(minWorkers: 2, totalSteps: 100)) -> M {
        var m = M(settings: settings, committedStep: 0)
        for id in UInt64(1) ... 3 { _ = base.acts(&m, .joined(id, Self.named(Int(id)), cacheStep: 0)) }
        base.runStep(&m, 0)
        base.runStep(&m, 1)
        _ = base.acts(&m, .stateReceived(3, step: 2))
        precondition(m.ring == [1, 2, 3] && m.generation == 2 && m.phase == .running)
        return m
    }

    /// The hang: every worker of a forming ring failed to bind, and nothing ended the generation. Now the
    /// reporter is evicted with its reason and the ring is re-formed from the rest at once — also while the state is
    /// still being loaded (phase `syncing`), where ring failures used to be ignored.
    @Test func aWorkerThatCannotBindIsEvictedAndTheRingReformsFromTheRest() {
        var m = M(settings: .init(totalSteps: 100), committedStep: 0)
        for id in UInt64(1) ... 3 { _ = base.acts(&m, .joined(id, Self.named(Int(id)), cacheStep: -1)) }
        #expect(m.ring == [1, 2, 3] && m.generation == 3 && m.phase == .syncing)
        let why = "cannot bind the ring data endpoint tcp://vm:5601: No such device (errno 19)"
        let out = m.handle(.ringSetupFailed(2, generation: 3, fault: .reporter(why)))
        #expect(out.contains(.log("generation 3: w2 cannot set up its side of the ring: " + why)))
        #expect(withoutLogs(out) == [.evict(2, reason: "ring setup failed: " + why),
                                     .abortGeneration(generation: 3, reason: "worker 2 left"),
                                     .startGeneration(generation: 4, ring: [1, 3], firstStep: 0),
                                     .sendState(to: 1, step: 0), .sendState(to: 3, step: 0)])
        #expect(m.workers[2] == nil && m.phase == .syncing)
        // A late duplicate report from the evicted worker changes nothing.
        #expect(m.handle(.ringSetupFailed(2, generation: 3, fault: .reporter(why))) == [])
    }

    /// Rank 2 (w3) advertises an address its predecessor cannot reach. Its own report (its predecessor never said
    /// hello: nobody to blame for sure) arrives first and ends the generation; the predecessor's report, about the
    /// generation that already ended, still evicts w3: its data endpoint is the same in every ring.
    @Test func anUnreachablePeerIsEvictedEvenWhenItsReportArrivesAfterItsGenerationEnded() {
        var m = threeRunning()
        let silent = m.handle(.ringSetupFailed(3, generation: 2, fault: .silentPeer(
            rank: 1, "ring did not form within 4.0 s: waiting for rank(s) [1] at [\"tcp://h2:5601\"]")))
        let logged = "generation 2 step 2: rank 2 reports ring failure: ring did not form: ring did not form within "
            + "4.0 s: waiting for rank(s) [1] at [\"tcp://h2:5601\"]"
        #expect(silent.contains(.log(logged)))
        #expect(withoutLogs(silent) == [.abortGeneration(generation: 2, reason: "ring failure"),
                                        .startGeneration(generation: 3, ring: [1, 2, 3], firstStep: 2)]
                    + base.plans(2, gen: 3, ring: [1, 2, 3]) + base.plans(3, gen: 3, ring: [1, 2, 3]))
        let why = "no TCP connection within 4.0 s; connect: No route to host"
        let late = m.handle(.ringSetupFailed(2, generation: 2, fault: .unreachablePeer(rank: 2, why)))
        #expect(late.contains(.log("generation 2: w2 (rank 1) cannot reach rank 2, w3, at tcp://h3:5601: " + why)))
        #expect(withoutLogs(late) == [.evict(3, reason: "its data endpoint tcp://h3:5601 cannot be reached from w2 ("
                                             + why + ")"),
                                      .abortGeneration(generation: 3, reason: "worker 3 left"),
                                      .startGeneration(generation: 4, ring: [1, 2], firstStep: 2)]
                    + base.plans(2, gen: 4, ring: [1, 2]) + base.plans(3, gen: 4, ring: [1, 2]))
        // Reports naming a peer that is gone, or a generation the machine does not remember, change nothing.
        #expect(withoutLogs(m.handle(.ringSetupFailed(1, generation: 2, fault: .unreachablePeer(rank: 2, why)))) == [])
        #expect(withoutLogs(m.handle(.ringSetupFailed(1, generation: 99, fault: .unreachablePeer(rank: 0, why)))) == [])
        #expect(m.ring == [1, 2] && m.phase == .running)
    }

    /// A neighbour that connects but never completes the handshake is not blamed at once (it may be slow), but the
    /// same one named in two consecutive generations is evicted, as for ring failures.
    @Test func aSilentPeerNamedInTwoConsecutiveGenerationsIsEvicted() {
        var m = threeRunning()
        _ = m.handle(.ringSetupFailed(1, generation: 2, fault: .silentPeer(rank: 1, "no hello")))
        #expect(m.generation == 3 && m.ring == [1, 2, 3])
        let second = withoutLogs(m.handle(.ringSetupFailed(3, generation: 3, fault: .silentPeer(rank: 1, "no hello"))))
        #expect(second.first == .evict(2, reason: "ring failures in two consecutive generations"), "\(second)")
        #expect(m.ring == [1, 3] && m.generation == 4)
    }

    /// A step that makes no progress ends its generation after the bound: the floor before any step time is
    /// measured, then the measured step time × the factor when that is larger. A commit restarts the clock.
    @Test func aStepWithoutProgressEndsTheGenerationWithinTheBound() {
        var m = M(settings: .init(totalSteps: 100, stepTimeoutFloor: 30, stepTimeoutFactor: 10), committedStep: 0)
        _ = base.acts(&m, .joined(1, Self.named(1), cacheStep: 0))
        #expect(m.phase == .running && m.stepTimeout == 30)
        #expect(withoutLogs(idle(&m, until: 30)) == [], "30 s is not more than the 30 s bound")
        let out = idle(&m, until: 31)
        let reason = "no progress on step 0 for 31.0 s (bound 30.0 s: the larger of --step-timeout 30 s and 10 × the "
            + "measured step time, none yet)"
        #expect(out.contains(.log("generation 1: " + reason)), "\(out)")
        #expect(withoutLogs(out) == [.abortGeneration(generation: 1, reason: reason),
                                     .startGeneration(generation: 2, ring: [1], firstStep: 0)]
                    + base.plans(0, gen: 2, ring: [1]) + base.plans(1, gen: 2, ring: [1]))
        // Steps every 5 s: the bound becomes 10 × 5 s.
        for s in 0 ..< 4 {
            _ = idle(&m, until: m.now + 5)
            base.runStep(&m, s)
        }
        #expect(m.measuredStepSeconds == 5 && m.stepTimeout == 50)
        #expect(withoutLogs(idle(&m, until: m.now + 50)) == [], "step 4: 50 s is within the bound")
        let late = withoutLogs(idle(&m, until: m.now + 1))
        let reason50 = "no progress on step 4 for 51.0 s (bound 50.0 s: the larger of --step-timeout 30 s and 10 × the "
            + "measured step time, 5.0 s)"
        #expect(late.first == .abortGeneration(generation: 2, reason: reason50), "\(late)")
    }

    /// Nothing in flight is not a stalled step: a paused job, a held step and a coordinator that was itself stopped
    /// never trip the bound.
    @Test func pausesHoldsAndTheCoordinatorsOwnStallsAreNotStalledSteps() {
        var m = M(settings: .init(totalSteps: 100, holdEvery: 2, stepTimeoutFloor: 30), committedStep: 0)
        _ = base.acts(&m, .joined(1, Self.named(1), cacheStep: 0))
        base.runStep(&m, 0)
        base.runStep(&m, 1)
        #expect(m.isHeld(2) && m.planned == 2)
        #expect(withoutLogs(idle(&m, until: 100)) == [], "held at step 2: nothing in flight")
        _ = base.acts(&m, .holdReleased(step: 2))
        #expect(withoutLogs(idle(&m, until: 120)) == [], "step 2 planned at t = 100: 20 s")
        // The coordinator did not run for 60 s (its own stop): the step's clock does not count that gap.
        let stalled = m.handle(.tick(now: 180))
        #expect(withoutLogs(stalled) == [] && m.phase == .running, "\(stalled)")
        #expect(withoutLogs(idle(&m, until: 189)) == [], "29 s of the step's own time")
        _ = base.acts(&m, .pauseRequested)
        base.runStep(&m, 2)
        #expect(base.runStep(&m, 3) == [.paused])
        #expect(withoutLogs(idle(&m, until: 400)) == [], "paused")
    }

    /// A member of a forming generation that never finishes loading the state (alive: it heartbeats) is evicted after
    /// the floor, so the others are not held up forever.
    @Test func aMemberThatNeverLoadsTheStateIsEvictedAfterTheFloor() {
        var m = M(settings: .init(totalSteps: 100, stepTimeoutFloor: 30), committedStep: 0)
        _ = base.acts(&m, .joined(1, Self.named(1), cacheStep: 0))
        _ = base.acts(&m, .joined(2, Self.named(2), cacheStep: -1))
        base.runStep(&m, 0)
        base.runStep(&m, 1)
        #expect(m.phase == .syncing && m.ring == [1, 2] && m.generation == 2)
        #expect(withoutLogs(idle(&m, until: 30)) == [])
        let reason = "did not load the state at step 2 within 30 s (--step-timeout)"
        #expect(withoutLogs(idle(&m, until: 31)) == [.evict(2, reason: reason),
                                                    .abortGeneration(generation: 2, reason: "1 member(s) " + reason),
                                                    .startGeneration(generation: 3, ring: [1], firstStep: 2)]
                    + base.plans(2, gen: 3, ring: [1]) + base.plans(3, gen: 3, ring: [1]))
    }

    /// Random joins, deaths, setup failures of every kind, silent workers and time: steps still commit once each
    /// and in order, and no wait outlives its bound — a running generation commits or ends within `stepTimeout`, a
    /// forming one loads the state or ends within the floor — even in trials where the ring never delivers anything.
    @Test func randomSetupFailuresKeepCommitInvariantsAndNothingWaitsForever() {
        var rng = SplitMix(seed: 13)
        let floor = 5.0
        for trial in 0 ..< 200 {
            var m = M(settings: .init(minWorkers: 1, maxWorkers: 4, heartbeatTimeout: 3, totalSteps: 40,
                                      stepTimeoutFloor: floor, stepTimeoutFactor: 1), committedStep: 0)
            var nextID: UInt64 = 1, now = 0.0
            var pendingCommit: Int?
            var commits: [Int] = []
            var progress = 0.0  // last commit, new generation or empty pipeline: what the step bound counts from
            var formed = 0.0  // when the current generation formed: what the state-load bound counts from
            for n in 0 ..< 600 {
                var events: [CoordinatorEvent] = []
                // The last 100 events are 50 s of quiet: heartbeats and state loads only, nothing delivered; only the
                // bounds can end a generation then.
                let quiet = n >= 500
                let g = m.generation - Int(rng.next() % 2)
                let peer = Int(rng.next() % 4)
                if quiet {
                    now += 0.5
                    events = [.tick(now: now)] + m.workers.keys.sorted().map { .heard($0) }
                    for w in m.workers.keys.sorted() where m.workers[w]!.cacheStep != m.committed {
                        events.append(.stateReceived(w, step: m.committed))
                    }
                } else {
                    switch rng.next() % 12 {
                    case 0: events = [.joined(nextID, Self.named(Int(nextID)), cacheStep: -1)]; nextID += 1
                    case 1: if let w = m.workers.keys.min() { events = [.left(w, reason: "test")] }
                    case 2, 3:
                        now += 0.5
                        events = [.tick(now: now)] + m.workers.keys.sorted().map { .heard($0) }
                    case 4:
                        if let w = m.ring.randomElement(using: &rng) {
                            events = [.ringSetupFailed(w, generation: g, fault: .reporter("b"))]
                        }
                    case 5:
                        if let w = m.ring.randomElement(using: &rng) {
                            events = [.ringSetupFailed(w, generation: g, fault: .unreachablePeer(rank: peer, "u"))]
                        }
                    case 6:
                        if let w = m.ring.randomElement(using: &rng) {
                            events = [.ringSetupFailed(w, generation: g, fault: .silentPeer(rank: peer, "s"))]
                        }
                    case 7:
                        for w in m.workers.keys.sorted() where m.workers[w]!.cacheStep != m.committed {
                            events.append(.stateReceived(w, step: m.committed))
                        }
                    default:
                        guard trial % 4 != 0 else { break }  // every fourth trial: the ring never delivers a segment
                        if let p = pendingCommit {
                            events = [.committed(step: p, stateHash: 0)]
                            pendingCommit = nil
                        } else if m.committed < m.planned, !m.ring.isEmpty {
                            let seg = Int(rng.next() % UInt64(m.ring.count))
                            let step = m.committed + Int(rng.next() % UInt64(m.planned - m.committed))
                            events = [.chunkReceived(m.ring[seg], generation: m.generation, step: step, segment: seg)]
                        }
                    }
                }
                for e in events {
                    for a in m.handle(e) {
                        switch a {
                        case .commit(_, let s):
                            #expect(pendingCommit == nil && s == (commits.last.map { $0 + 1 } ?? 0), "trial \(trial)")
                            commits.append(s)
                            pendingCommit = s
                            progress = now
                        case .startGeneration:
                            progress = now
                            formed = now
                        default:
                            break
                        }
                    }
                    let inFlight = (m.phase == .running || m.phase == .draining) && m.committing == nil
                        && m.committed < m.planned
                    if !inFlight { progress = now }
                }
                if m.phase == .running || m.phase == .draining {
                    #expect(now - progress <= m.stepTimeout, "trial \(trial): no progress for \(now - progress) s")
                }
                if m.phase == .syncing {
                    #expect(now - formed <= floor, "trial \(trial): syncing for \(now - formed) s")
                }
            }
            #expect(commits == Array(0 ..< commits.count), "trial \(trial): \(commits)")
        }
    }
}

extension SplitMix: RandomNumberGenerator {}
