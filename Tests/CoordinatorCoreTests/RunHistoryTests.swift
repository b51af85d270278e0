import Foundation
import Testing
@testable import CoordinatorCore

/// The run history: its thinning rule on scripted sequences, its generation marks on a scripted run of the machine,
/// and its two encodings (served and stored).
@Suite struct RunHistoryTests {
    typealias Point = (first: Int, last: Int, count: Int, mean: Double?)

    static func points(_ s: RunHistory.Series, column: Int = 0) -> [Point] {
        s.points.map { (first: $0.firstStep, last: $0.step, count: $0.count, mean: $0.means[column]) }
    }

    static func same(_ a: [Point], _ b: [Point]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.first == $1.first && $0.last == $1.last && $0.count == $1.count
            && $0.mean == $1.mean }
    }

    @Test func thinningMergesNeighboursPairwiseWhenFull() {
        var s = RunHistory.Series(columns: ["v"], capacity: 4)
        for step in 1 ... 4 { s.append(step: step, unixTime: Double(step), values: [Double(step)]) }
        #expect(s.span == 1 && Self.same(Self.points(s), [(1, 1, 1, 1), (2, 2, 1, 2), (3, 3, 1, 3), (4, 4, 1, 4)]))
        // The fifth record would be point 5: pairs merge (span 2), and it opens the third point.
        s.append(step: 5, unixTime: 5, values: [5])
        #expect(s.span == 2 && Self.same(Self.points(s), [(1, 2, 2, 1.5), (3, 4, 2, 3.5), (5, 5, 1, 5)]),
                "\(Self.points(s))")
        for step in 6 ... 8 { s.append(step: step, unixTime: Double(step), values: [Double(step)]) }
        #expect(s.span == 2
                    && Self.same(Self.points(s), [(1, 2, 2, 1.5), (3, 4, 2, 3.5), (5, 6, 2, 5.5), (7, 8, 2, 7.5)]))
        // Step 10's value is not finite: it is left out of its point's mean.
        for (step, v) in [(9, 9.0), (10, Double.nan), (11, 11.0)] {
            s.append(step: step, unixTime: Double(step), values: [v])
        }
        #expect(s.span == 4 && s.records == 11)
        #expect(Self.same(Self.points(s), [(1, 4, 4, 2.5), (5, 8, 4, 6.5), (9, 11, 3, 10)]), "\(Self.points(s))")
        #expect(s.points.last?.unixTime == 11 && s.points.first?.unixTime == 4, "a point's time is its last record's")
    }

    @Test func aPointWithNoFiniteValueIsNull() {
        var s = RunHistory.Series(columns: ["a", "b"], capacity: 2)
        s.append(step: 1, unixTime: 0, values: [1, .nan])
        s.append(step: 2, unixTime: 0, values: [3, .infinity])
        s.append(step: 3, unixTime: 0, values: [5, 7])
        #expect(s.points.map(\.means) == [[2, nil], [5, 7]])
    }

    /// A long run: at most `capacity` points, every one but the newest of exactly `span` steps, span the least power
    /// of two that fits, and no step lost.
    @Test func aLongRunStaysBoundedAtOneResolution() {
        var h = RunHistory()
        let n = 100_003
        for step in 1 ... n {
            h.recordStep(step, unixTime: Double(step), values: [Double](repeating: Double(step % 7), count: 10))
        }
        let s = h.steps
        #expect(s.points.count <= RunHistory.defaultCapacity)
        #expect(s.span == 64, "100 003 steps need span 64 (1563 points); 32 would need 3126")
        #expect(s.points.count == 1563 && s.points.dropLast().allSatisfy { $0.count == 64 }
                    && s.points.last?.count == 35)
        #expect(s.points.map(\.count).reduce(0, +) == n && s.records == n)
        #expect(zip(s.points, s.points.dropFirst()).allSatisfy { $1.firstStep == $0.step + 1 }, "contiguous")
        let total = s.points.map { $0.sums[0] }.reduce(0, +)
        #expect(total == Double((1 ... n).map { $0 % 7 }.reduce(0, +)))
    }

    @Test func listsKeepTheirNewestEntriesAndCountTheRest() {
        var h = RunHistory(capacity: 4)
        for i in 1 ... 6 {
            h.recordCheckpoint(.init(step: i * 10, unixTime: Double(i), path: "ckpt/step-\(i)"))
            h.mark(.init(kind: .abort, step: i, unixTime: Double(i), generation: i, text: "abort \(i)"))
        }
        #expect(h.checkpoints.map(\.step) == [30, 40, 50, 60] && h.checkpointsDropped == 2)
        #expect(h.marks.map(\.step) == [3, 4, 5, 6] && h.marksDropped == 2)
    }

    /// A restarted coordinator decodes the history of its checkpoint (stored mid-point) and goes on: the result is
    /// the history an uninterrupted coordinator has.
    @Test func aStoredHistoryResumesExactlyAsAnUninterruptedOne() throws {
        func record(_ h: inout RunHistory, _ steps: ClosedRange<Int>) {
            for step in steps {
                let x = Double(step)
                h.recordStep(step, unixTime: 1.8e9 + x * 0.37,
                             values: [8 - x / 10, 7.5 - x / 13, 9.1 / x, 1 / 3 * x, 1e-4 * x, 0.04, 0.996, 0.04,
                                      step == 1 ? .nan : 64 / 0.3, 2])
                if step % 5 == 0 { h.recordOnlineKNN(step: step, unixTime: x, top1: 10 + x / 7, top5: 50 + x / 9) }
                if step % 8 == 0 { h.recordCheckpoint(.init(step: step, unixTime: x, path: "ckpt/step-\(step)")) }
            }
        }
        var uninterrupted = RunHistory(capacity: 8)
        uninterrupted.observe([.startGeneration(generation: 1, ring: [1, 2], firstStep: 0)], step: 0, unixTime: 1,
                              name: { "h\($0)" })
        var first = uninterrupted
        record(&uninterrupted, 1 ... 45)
        record(&first, 1 ... 21)
        #expect(first.steps.span == 4 && first.steps.points.last?.count == 1, "stored in the middle of a point")
        let resumedFrom = try RunHistory.decodeStored(first.storedJSON())
        #expect(resumedFrom == first)
        var resumed = resumedFrom
        record(&resumed, 22 ... 45)
        #expect(resumed == uninterrupted)
        #expect(resumed.servedJSON() == uninterrupted.servedJSON())
        #expect(resumed.lastRing == ["h1", "h2"], "the next generation is compared with the ring before the restart")
    }

    @Test func damagedStoredHistoriesAreErrorsWithAReason() throws {
        var h = RunHistory(capacity: 4)
        for step in 1 ... 6 { h.recordStep(step, unixTime: 0, values: [Double](repeating: 1, count: 10)) }
        let good = h.storedJSON()
        #expect(try RunHistory.decodeStored(good) == h)
        let cases: [(String, String)] = [
            ("", "not a stored history"),
            ("{}", "not a stored history"),
            (good.replacingOccurrences(of: "\"schema_version\":1", with: "\"schema_version\":9"), "schema version 9"),
            (good.replacingOccurrences(of: "\"span\":2", with: "\"span\":3"), "span 3"),
            (good.replacingOccurrences(of: "\"loss_total\"", with: "\"loss\""), "columns"),
            (good.replacingOccurrences(of: "\"records\":6", with: "\"records\":7"), "records"),
            (good.replacingOccurrences(of: "\"capacity\":4", with: "\"capacity\":3"), "capacity"),
        ]
        for (text, reason) in cases {
            #expect(text != good || text.isEmpty, "the damage must apply: \(reason)")
            do {
                _ = try RunHistory.decodeStored(text)
                Issue.record("decoded a damaged history (\(reason))")
            } catch {
                #expect("\(error)".contains(reason), "\(error) should say \(reason)")
            }
        }
    }

    @Test func theServedJSONHasTheDocumentedShape() throws {
        var h = RunHistory(capacity: 4)
        h.recordStep(1, unixTime: 100, values: [1, 2, 3, 4, 5, 6, 7, 8, .nan, 2])
        h.recordOnlineKNN(step: 1, unixTime: 101, top1: 55.5, top5: 90)
        h.recordCheckpoint(.init(step: 1, unixTime: 102, path: "ckpt/step-000000001"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(h.servedJSON().utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["schema_version", "capacity", "steps", "online_knn", "marks", "marks_dropped",
                                     "checkpoints", "checkpoints_dropped"])
        let steps = try #require(object["steps"] as? [String: Any])
        #expect(steps["columns"] as? [String] == ["step", "first_step", "count", "unix_time"] + RunHistory.stepColumns)
        let row = try #require((steps["rows"] as? [[Any]])?.first)
        #expect(row.count == 14 && row[0] as? Double == 1 && row[4] as? Double == 1 && row[13] as? Double == 2)
        #expect(row[12] is NSNull, "an unknown throughput is null")
        let knn = try #require((object["online_knn"] as? [String: Any])?["rows"] as? [[Double]])
        #expect(knn == [[1, 1, 1, 101, 55.5, 90]])
        let checkpoint = try #require((object["checkpoints"] as? [[String: Any]])?.first)
        #expect(checkpoint["path"] as? String == "ckpt/step-000000001" && checkpoint["unix_time"] as? Double == 102)
    }
}

/// A scripted run of the coordinator's machine with the history beside it, wired as the service wires them: every
/// batch of actions is observed (before the service carries it out), every `.commit` records the step it commits.
@Suite struct RunHistoryMachineTests {
    struct Run {
        var machine: CoordinatorMachine
        var history: RunHistory
        var now = 0.0
        let start = 1.8e9

        init(capacity: Int) {
            machine = CoordinatorMachine(settings: .init(heartbeatTimeout: 3, totalSteps: 100), committedStep: 0)
            history = RunHistory(capacity: capacity)
        }

        mutating func feed(_ e: CoordinatorEvent) {
            var pending = [e]
            while !pending.isEmpty {
                let actions = machine.handle(pending.removeFirst())
                history.observe(actions, step: machine.committed, unixTime: start + now, name: { "h\($0)" })
                for case let .commit(_, step) in actions {
                    let x = Double(step + 1)
                    history.recordStep(step + 1, unixTime: start + now,
                                       values: [10 - x, 9 - x, 8 - x, 9 - x, x * 1e-4, 0.04, 0.996, 0.04, 100,
                                                Double(machine.ring.count)])
                    pending.append(.committed(step: step, stateHash: 0))
                }
            }
        }

        /// One second passes: heartbeats from `alive` (default: every worker), a tick, and, if every ring member is
        /// alive, each applies and delivers the next step, which commits (a ring with a silent member makes no
        /// progress: its all-reduce cannot finish).
        mutating func step(alive: [UInt64]? = nil) {
            now += 1
            let live = alive ?? Array(machine.workers.keys)
            for id in live { feed(.heard(id)) }
            feed(.tick(now: now))
            guard machine.ring.allSatisfy(live.contains) else { return }
            let g = machine.generation, s = machine.committed
            for (rank, id) in machine.ring.enumerated() {
                feed(.stepApplied(id, generation: g, step: s, stateHash: 0))
                feed(.chunkReceived(id, generation: g, step: s, segment: rank))
            }
        }
    }

    static func info(_ n: Int) -> WorkerInfo { WorkerInfo(host: "h\(n)", dataEndpoint: "tcp://h\(n):5601", threads: 1) }

    @Test func joinsEvictionsAndAbortsAreMarkedAtTheirStepsAndTheRingSizeIsRecorded() throws {
        var r = Run(capacity: 8)
        r.feed(.joined(1, Self.info(1), cacheStep: 0))
        for _ in 0 ..< 3 { r.step() }
        // Worker 2 joins with an empty cache: it enters once the two steps in flight have committed.
        r.feed(.joined(2, Self.info(2), cacheStep: -1))
        for _ in 0 ..< 2 { r.step() }
        #expect(r.machine.phase == .syncing && r.machine.ring == [1, 2] && r.machine.committed == 5)
        r.feed(.stateReceived(2, step: 5))
        for _ in 0 ..< 3 { r.step() }
        #expect(r.machine.committed == 8)
        // Worker 2 goes silent after t = 8: evicted at t = 12 (more than 3 s); worker 1 alone redoes step 8.
        for _ in 0 ..< 4 { r.step(alive: [1]) }
        #expect(r.machine.ring == [1] && r.machine.generation == 3 && r.machine.committed == 9)
        for _ in 0 ..< 2 { r.step() }

        let marks = r.history.marks.map { ($0.kind, $0.step, $0.generation, $0.ringSize, $0.joined, $0.left) }
        let expected: [(RunHistory.Mark.Kind, Int, Int, Int?, [String], [String])] = [
            (.generation, 0, 1, 1, ["h1"], []),
            (.abort, 5, 1, nil, [], []), (.generation, 5, 2, 2, ["h2"], []),
            (.evict, 8, 2, nil, [], []), (.abort, 8, 2, nil, [], []), (.generation, 8, 3, 1, [], ["h2"]),
        ]
        #expect(marks.count == expected.count && zip(marks, expected).allSatisfy {
            $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 && $0.3 == $1.3 && $0.4 == $1.4 && $0.5 == $1.5
        }, "\(r.history.marks.map { "\($0.step): \($0.text)" })")
        #expect(r.history.marks.map(\.text) == [
            "generation 1: ring of 1, joined h1", "generation 1 aborted: ring re-formed",
            "generation 2: ring of 2, joined h2", "h2 evicted: no message for 4.0 s (timeout 3.0 s)",
            "generation 2 aborted: worker 2 left", "generation 3: ring of 1, left h2"])
        #expect(r.history.marks.map(\.unixTime) == [0, 5, 5, 12, 12, 12].map { r.start + $0 })
        // 11 committed steps, thinned to capacity 8: span 2, five points of 2 steps and the open one. Steps 1-5 ran
        // on one worker, 6-8 on two, 9-11 (step 9 is the redone one) on one again.
        let s = r.history.steps
        #expect(s.records == 11 && s.span == 2 && s.points.map(\.count) == [2, 2, 2, 2, 2, 1],
                "\(s.points.map(\.count))")
        #expect(s.points.map(\.firstStep) == [1, 3, 5, 7, 9, 11] && s.points.map(\.step) == [2, 4, 6, 8, 10, 11])
        #expect(s.points.map { $0.means[9] } == [1, 1, 1.5, 2, 1, 1], "ring size means")
        let totalLoss: [Double?] = [7.5, 5.5, 3.5, 1.5, -0.5, -2] // 9 − step, averaged over each point's steps
        #expect(s.points.map { $0.means[3] } == totalLoss, "total loss means")
        let served = try #require(try JSONSerialization.jsonObject(with: Data(r.history.servedJSON().utf8))
                                  as? [String: Any])
        let servedMarks = try #require(served["marks"] as? [[String: Any]])
        #expect(servedMarks.map { $0["kind"] as? String } == ["generation", "abort", "generation", "evict", "abort",
                                                               "generation"])
        #expect(servedMarks[2]["joined"] as? [String] == ["h2"] && servedMarks[2]["ring_size"] as? Int == 2)
        #expect(servedMarks[1]["ring_size"] is NSNull, "every key is present, null when it does not apply")
        let rows = try #require((served["steps"] as? [String: Any])?["rows"] as? [[Double]])
        #expect(rows.map { $0[0] } == [2, 4, 6, 8, 10, 11] && rows.map { $0[13] } == [1, 1, 1.5, 2, 1, 1])
    }
}
