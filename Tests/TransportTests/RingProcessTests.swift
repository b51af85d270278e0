import Foundation
import Testing
import Transport

/// Rings of 2...6 RingProbe processes on loopback: sums equal a Float64 reference and the fixed-order Float32 sum,
/// bitwise identical on every rank; all-gather order; SIGKILL and SIGSTOP of one rank give every other rank a typed
/// error naming it within the bound; a late rank joins; messages of another generation or job are dropped.
/// Serialized: the machine has 2 cores. Every child is killed and reaped when its `ChildProcess` goes away.
@Suite(.serialized) struct RingProcessTests {
    static let counts = [0, 1, 2, 3, 5, 16, 17, 1000, 1023, 4097, 65_541, 300_007]

    /// Payload paths: every link through shared memory (the default for co-located ranks), every link over the
    /// socket, or rank 0 with shared memory off (it makes no offer and declines its predecessor's: a ring of both).
    enum Payloads: String, CustomTestStringConvertible, Sendable {
        case shared, sockets, mixed
        var testDescription: String { rawValue }
    }

    @Test(arguments: [(2, Payloads.shared), (3, .shared), (4, .shared), (5, .shared), (6, .shared), (2, .sockets),
                      (4, .sockets), (3, .mixed)])
    func sumsAreCorrectAndBitwiseIdentical(ranks n: Int, payloads: Payloads) throws {
        let dir = ProbeHarness.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let endpoints = ProbeHarness.endpoints(n)
        // Small segments so even modest buffers take many segments and exercise the credit window.
        let args = ["--counts", Self.counts.map(String.init).joined(separator: ","), "--dir", dir,
                    "--segment-bytes", "4096", "--window", "3", "--job", "21", "--gen", "4"]
        func shared(_ r: Int) -> Bool { payloads == .shared || payloads == .mixed && r != 0 }
        let ranks = try (0 ..< n).map {
            try ProbeHarness.start("allreduce", rank: $0, endpoints: endpoints,
                                   args + ["--shared-memory", shared($0) ? "1" : "0"])
        }
        ProbeHarness.expectSuccess(ranks, timeout: 90)
        // Which path each link took: rank r → r+1 is shared only if both ends allow it.
        for r in 0 ..< n {
            let stats = ranks[r].output.split(separator: "\n").first { $0.hasPrefix("stats") }.map(String.init) ?? ""
            func field(_ name: String) -> String? {
                stats.split(separator: " ").first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
            }
            let linkShared = shared(r) && shared((r + 1) % n)
            let sent = Int(field("sharedSent") ?? "") ?? -1
            #expect(linkShared ? sent > 0 : sent == 0, "rank \(r) (\(payloads)): \(stats)")
            if payloads == .mixed && r == 0 {
                #expect(field("declined") == "shared_memory_is_off_on_this_rank", "rank 0 declines its predecessor's offer: \(stats)")
            }
        }
        for count in Self.counts {
            let inputs = try (0 ..< n).map { try ProbeHarness.floats("\(dir)/in-\($0)-\(count).bin") }
            let outputs = try (0 ..< n).map { try ProbeHarness.floats("\(dir)/out-\($0)-\(count).bin") }
            for r in 0 ..< n {
                #expect(outputs[r].count == count)
                #expect(outputs[r].map { $0.bitPattern } == outputs[0].map { $0.bitPattern },
                        "rank \(r) differs from rank 0 at count \(count)")
            }
            var maxError = 0.0
            for c in 0 ..< n {
                // Chunk c's sum starts at rank c and goes once around the ring: a fixed Float32 order.
                for e in Ring.ownedRange(rank: (c + n - 1) % n, size: n, count: count) {
                    var ordered = inputs[c][e]
                    var exact = 0.0, magnitude = 0.0
                    for k in 1 ..< n { ordered = ordered + inputs[(c + k) % n][e] }
                    for r in 0 ..< n {
                        exact += Double(inputs[r][e])
                        magnitude += abs(Double(inputs[r][e]))
                    }
                    let err = abs(Double(outputs[0][e]) - exact)
                    maxError = max(maxError, err)
                    // Float32 summation of n terms: |error| ≤ (n−1)·2⁻²⁴·Σ|x| (Higham,
                    // recursive summation).
                    let bound = Double(n - 1) * 0x1p-24 * magnitude + 1e-30
                    if err > bound || outputs[0][e].bitPattern != ordered.bitPattern {
                        let got = outputs[0][e]
                        Issue.record("count \(count) element \(e): got \(got), fixed-order \(ordered), exact \(exact)")
                        return
                    }
                }
            }
            #expect(maxError < 1e-5, "count \(count): max error vs Float64 \(maxError)")
        }
    }

    @Test func largeBufferWithDefaultSegments() throws {
        let dir = ProbeHarness.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 3, count = 3_000_001  // 12 MB: several 1 MiB segments per chunk
        let endpoints = ProbeHarness.endpoints(n)
        let ranks = try (0 ..< n).map {
            try ProbeHarness.start("allreduce", rank: $0, endpoints: endpoints, ["--counts", "\(count)", "--dir", dir])
        }
        ProbeHarness.expectSuccess(ranks, timeout: 90)
        let outs = try (0 ..< n).map { try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out-\($0)-\(count).bin")) }
        #expect(outs[0].count == 4 * count && outs[1] == outs[0] && outs[2] == outs[0])
        let ins = try (0 ..< n).map { try ProbeHarness.floats("\(dir)/in-\($0)-\(count).bin") }
        let out = try ProbeHarness.floats("\(dir)/out-0-\(count).bin")
        var maxError = 0.0
        for e in stride(from: 0, to: count, by: 997) {
            maxError = max(maxError, abs(Double(out[e]) - ins.reduce(0.0) { $0 + Double($1[e]) }))
        }
        #expect(maxError < 1e-5, "max error \(maxError)")
    }

    @Test(arguments: [2, 4])
    func allGatherKeepsRankOrder(ranks n: Int) throws {
        let dir = ProbeHarness.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let endpoints = ProbeHarness.endpoints(n)
        let ranks = try (0 ..< n).map {
            try ProbeHarness.start("allgather", rank: $0, endpoints: endpoints,
                                   ["--dir", dir, "--segment-bytes", "1024"])
        }
        ProbeHarness.expectSuccess(ranks, timeout: 60)
        for round in 0 ..< 3 {
            // The probe's blocks: rank r contributes (r·5000 + 3·round) mod 7919 bytes, byte i = r·31 + i + round.
            var expected: [UInt8] = []
            for r in 0 ..< n {
                let length = (r * 5000 + round * 3) % 7919
                expected += (0 ..< length).map { UInt8(truncatingIfNeeded: r * 31 + $0 + round) }
            }
            for r in 0 ..< n {
                let got = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/gather-\(r)-\(round).bin"))
                #expect(Array(got) == expected, "rank \(r) round \(round)")
            }
        }
    }

    /// The benchmark loop (`mugs bench allreduce`) checks the all-reduce's result itself; with and without refilling
    /// the buffer between iterations it must finish and report one row per size with the iterations asked for.
    @Test(arguments: [1, 0])
    func benchmarkLoopRunsAndReportsEverySize(refill: Int) throws {
        let endpoints = ProbeHarness.endpoints(2)
        let ranks = try (0 ..< 2).map {
            try ProbeHarness.start("bench", rank: $0, endpoints: endpoints,
                                   ["--sizes-mib", "1,2", "--iters", "3", "--refill", "\(refill)"])
        }
        ProbeHarness.expectSuccess(ranks, timeout: 60)
        let rows = ranks[0].output.split(separator: "\n").filter { $0.hasPrefix("ranks=2 ") }
        #expect(rows.count == 2, "rank 0 printed:\n\(ranks[0].output)")
        #expect(rows.first?.hasPrefix("ranks=2 size=1 MiB iters=3 ") == true)
        #expect(rows.last?.hasPrefix("ranks=2 size=2 MiB iters=3 ") == true)
        #expect(!ranks[1].output.contains("ranks=2 "), "only rank 0 prints the rows")
    }

    /// Runs `loop` ranks, waits until they are mid-stream, signals `victim`, and checks that every other rank
    /// reports a ring error naming the victim within `bound` seconds of the signal.
    func expectFailureReported(ranks n: Int, victim: Int, signal sig: Int32, peerTimeout: Double,
                               bound: Double) throws {
        let endpoints = ProbeHarness.endpoints(n)
        let ranks = try (0 ..< n).map {
            try ProbeHarness.start("loop", rank: $0, endpoints: endpoints,
                                   ["--counts", "1000000", "--peer-timeout", "\(peerTimeout)"])
        }
        defer { ranks.forEach { $0.signal(SIGKILL) } }
        for p in ranks {
            let line = p.waitForLine(timeout: 30) { $0.hasPrefix("iteration 2 ") || $0.hasPrefix("ringerror") }
            #expect(line?.hasPrefix("iteration") == true, "rank did not get going: \(p.output)")
        }
        let signalledAt = ProbeHarness.monotonic()
        ranks[victim].signal(sig)
        for r in 0 ..< n where r != victim {
            guard let line = ranks[r].waitForLine(timeout: bound + 10, where: { $0.hasPrefix("ringerror") }) else {
                Issue.record("rank \(r) reported nothing:\n\(ranks[r].output)")
                continue
            }
            #expect(line.contains("failedRank=\(victim) "), "rank \(r): \(line)")
            let stamp = line.split(separator: " ").first { $0.hasPrefix("t=") }
            let t = stamp.flatMap { Double($0.dropFirst(2)) } ?? .infinity
            #expect(t - signalledAt < bound, "rank \(r) took \(t - signalledAt) s (bound \(bound) s): \(line)")
            #expect(ranks[r].waitForExit(timeout: 10) == 3)
        }
    }

    @Test(arguments: [(2, 1), (4, 2), (5, 0)])
    func killedRankIsNamedByAllOthers(ranks n: Int, victim: Int) throws {
        try expectFailureReported(ranks: n, victim: victim, signal: SIGKILL, peerTimeout: 3, bound: 3)
    }

    @Test(arguments: [(3, 1), (4, 3)])
    func stoppedRankIsNamedByAllOthers(ranks n: Int, victim: Int) throws {
        // Detection by ZMTP heartbeats (timeout peerTimeout/2) or the progress timeout (peerTimeout); plus slack
        // for an oversubscribed 2-core machine.
        try expectFailureReported(ranks: n, victim: victim, signal: SIGSTOP, peerTimeout: 3, bound: 3 + 1.5)
    }

    @Test func lateRankJoinsWhenItArrives() throws {
        let dir = ProbeHarness.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 4
        let endpoints = ProbeHarness.endpoints(n)
        let args = ["--counts", "1000,50000", "--dir", dir, "--join-timeout", "30"]
        var ranks = try (0 ..< n - 1).map { try ProbeHarness.start("allreduce", rank: $0, endpoints: endpoints, args) }
        for p in ranks { #expect(p.waitForLine(timeout: 30) { $0 == "bound" } != nil) }
        // The early ranks are now waiting for rank 3 (their first operation blocks in the join).
        #expect(ranks[0].readLine(timeout: 0.5) == nil)
        ranks.append(try ProbeHarness.start("allreduce", rank: n - 1, endpoints: endpoints, args))
        ProbeHarness.expectSuccess(ranks, timeout: 60)
        let outs = try (0 ..< n).map { try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out-\($0)-50000.bin")) }
        #expect(outs.allSatisfy { $0 == outs[0] })
    }

    @Test func messagesFromAnotherGenerationOrJobAreDropped() throws {
        let dir = ProbeHarness.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 2
        let endpoints = ProbeHarness.endpoints(n)
        let args = ["--counts", "1000,200000,1000,200000", "--dir", dir, "--job", "21", "--gen", "5",
                    "--segment-bytes", "8192"]
        let rank1 = try ProbeHarness.start("allreduce", rank: 1, endpoints: endpoints, args)
        #expect(rank1.waitForLine(timeout: 30) { $0 == "bound" } != nil)
        // Two intruders pose as rank 0 talking to rank 1: one of the previous generation, one of another job. Their
        // first messages are queued at rank 1 before the real rank 0 exists, so rank 1 must read past them.
        let intruders = try [("4", "21"), ("5", "99")].map { gen, job in
            try ChildProcess(executable: ProbeHarness.executable, arguments: [
                "intruder", "--target", endpoints[1], "--job", job, "--gen", gen, "--sender", "0", "--seconds", "30"])
        }
        defer { intruders.forEach { $0.signal(SIGKILL) } }
        for p in intruders { #expect(p.waitForLine(timeout: 30) { $0 == "intruding" } != nil, "\(p.output)") }
        let ranks = [try ProbeHarness.start("allreduce", rank: 0, endpoints: endpoints, args), rank1]
        ProbeHarness.expectSuccess(ranks, timeout: 60)
        let a = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out-0-200000.bin"))
        let b = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out-1-200000.bin"))
        #expect(a == b)
        let ins = try (0 ..< n).map { try ProbeHarness.floats("\(dir)/in-\($0)-200000.bin") }
        let out = try ProbeHarness.floats("\(dir)/out-1-200000.bin")
        #expect(out.indices.allSatisfy { out[$0] == ins[0][$0] + ins[1][$0] })
        // The intruders' messages did reach rank 1 and were counted as dropped.
        let stats = ranks[1].output.split(separator: "\n").first { $0.hasPrefix("stats") } ?? ""
        let field = stats.split(separator: " ").first { $0.hasPrefix("dropped=") }
        let dropped = field.flatMap { Int($0.dropFirst("dropped=".count)) } ?? 0
        #expect(dropped > 0, "rank 1: \(stats)")
    }
}
