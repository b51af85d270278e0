import Foundation
import Testing
@testable import Transport
import Wire

/// Rings whose ranks are threads of the test process: quick checks of forming, results, IPv6, configuration errors,
/// the join timeout and messages from another generation.
@Suite struct RingInProcessTests {
    /// Runs `body(rank)` on one thread per rank and waits at most `timeout` seconds for all of them.
    static func onThreads(_ n: Int, timeout: Double, _ body: @escaping @Sendable (Int) -> Void) -> Bool {
        let group = DispatchGroup()
        for r in 0 ..< n {
            group.enter()
            Thread.detachNewThread { body(r); group.leave() }
        }
        return group.wait(timeout: .now() + timeout) == .success
    }

    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Int: [Float]] = [:]
        private var errors: [Int: String] = [:]
        func set(_ r: Int, _ v: [Float]) { lock.withLock { values[r] = v } }
        func fail(_ r: Int, _ e: Error) { lock.withLock { errors[r] = "\(e)" } }
        var all: [Int: [Float]] { lock.withLock { values } }
        var failures: [Int: String] { lock.withLock { errors } }
    }

    static func allReduce(endpoints: [String], count: Int, options: RingOptions = RingOptions()) -> Results {
        let results = Results()
        let finished = onThreads(endpoints.count, timeout: 60) { r in
            do {
                let ring = try Ring(rank: r, endpoints: endpoints, generation: 3, jobID: 11, options: options)
                defer { ring.close() }
                let buffer = AlignedFloatBuffer(count: count)
                for i in 0 ..< count { buffer.base[i] = Float(r + 1) * 0.5 + Float(i % 7) }
                try ring.allReduce(buffer.buffer, keepingAlive: buffer)
                results.set(r, Array(buffer.buffer))
            } catch { results.fail(r, error) }
        }
        #expect(finished, "ring threads did not finish within 60 s")
        return results
    }

    @Test func threeRanksOnIPv4() {
        var options = RingOptions()
        options.segmentBytes = 1024
        let n = 3, count = 10_007
        let results = Self.allReduce(endpoints: ProbeHarness.endpoints(n), count: count, options: options)
        #expect(results.failures.isEmpty, "\(results.failures)")
        var expected = [Float](repeating: 0, count: count)
        for i in 0 ..< count {
            for r in 0 ..< n { expected[i] += Float(r + 1) * 0.5 + Float(i % 7) }
        }
        for r in 0 ..< n {
            guard let got = results.all[r] else { continue }
            let maxErr = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(maxErr <= 1e-5, "rank \(r) max error \(maxErr)")
            let first: [Float] = results.all[0] ?? []
            #expect(got.map { $0.bitPattern } == first.map { $0.bitPattern })
        }
    }

    @Test func twoRanksOnIPv6Loopback() throws {
        // Skip quietly only if this machine has no IPv6 loopback at all.
        let probe = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        close(probe)
        guard ok == 0 else { return }
        let endpoints = ProbeHarness.freePorts(2).map { "tcp://[::1]:\($0)" }
        let results = Self.allReduce(endpoints: endpoints, count: 5000)
        #expect(results.failures.isEmpty, "\(results.failures)")
        let a: [Float] = results.all[0] ?? [], b: [Float] = results.all[1] ?? []
        #expect(a.count == 5000 && a.first == 1.5)
        #expect(a.map { $0.bitPattern } == b.map { $0.bitPattern })
    }

    @Test func badConfigurationIsATypedError() {
        let e = ["tcp://127.0.0.1:1", "tcp://127.0.0.1:2"]
        #expect(throws: RingError.self) { try Ring(rank: 2, endpoints: e, generation: 1, jobID: 1) }
        #expect(throws: RingError.self) { try Ring(rank: 0, endpoints: [], generation: 1, jobID: 1) }
        #expect(throws: RingError.self) { try Ring(rank: 0, endpoints: ["tcp://nohost"], generation: 1, jobID: 1) }
        var o = RingOptions()
        o.window = 0
        #expect(throws: RingError.self) { try Ring(rank: 0, endpoints: e, generation: 1, jobID: 1, options: o) }
    }

    @Test func aRingOfOneIsTheIdentity() throws {
        let ring = try Ring(rank: 0, endpoints: ["tcp://127.0.0.1:9"], generation: 1, jobID: 1)
        let b = AlignedFloatBuffer(count: 3)
        b.base[1] = 2.5
        var owned: Range<Int>?
        try ring.allReduce(b.buffer, keepingAlive: b) { owned = $0 }
        #expect(Array(b.buffer) == [0, 2.5, 0] && owned == 0 ..< 3)
        let out = GatheredBlocks()
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try ring.allGather($0, into: out) }
        #expect(Array(out.block(0)) == [1, 2, 3])
    }

    /// Rank 0 of a ring of two whose rank 1 never starts: the error its first all-reduce throws, and after how long.
    static func allReduceAlone(joinTimeout: Double, endpoints: [String] = ProbeHarness.endpoints(2),
                               options: (inout RingOptions) -> Void = { _ in }, _ configure: (Ring) -> Void = { _ in })
        throws -> (ring: Ring, endpoints: [String], error: RingError?, seconds: Double) {
        var o = RingOptions()
        o.joinTimeout = joinTimeout
        options(&o)
        let ring = try Ring(rank: 0, endpoints: endpoints, generation: 1, jobID: 1, options: o)
        configure(ring)
        let start = Date()
        var thrown: RingError?
        do {
            let b = AlignedFloatBuffer(count: 4)
            try ring.allReduce(b.buffer, keepingAlive: b)
        } catch { thrown = error }
        return (ring, endpoints, thrown, Date().timeIntervalSince(start))
    }

    /// Nothing listens on the successor's data port: the ring names it unreachable, with the operating system's word
    /// for why (one plain TCP attempt), instead of a bare timeout.
    @Test func aSuccessorNobodyListensForIsNamedUnreachable() throws {
        let (ring, endpoints, error, seconds) = try Self.allReduceAlone(joinTimeout: 0.5)
        guard case let .cannotConnect(rank, endpoint, waited, detail) = error else {
            Issue.record("expected cannotConnect, got \(String(describing: error))")
            return
        }
        #expect(rank == 1 && endpoint == endpoints[1] && waited >= 0.5 && waited < 3, "\(waited)")
        #expect(detail == "connect: Connection refused", "\(detail)")
        #expect(error?.failedRank == 1)
        #expect(seconds < 3)
        // The ring is unusable afterwards and says why.
        let b = AlignedFloatBuffer(count: 1)
        #expect(throws: RingError.self) { try ring.allReduce(b.buffer, keepingAlive: b) }
    }

    /// The successor's port accepts TCP connections (a plain listening socket: a stopped or hung process looks the
    /// same) but no ring answers: a join timeout naming it, not "unreachable" — who is at fault is not known.
    @Test func joinTimesOutNamingASilentNeighbour() throws {
        let port = ProbeHarness.freePorts(1)[0]
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let size = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) }
        }
        #expect(bound == 0 && listen(fd, 4) == 0)
        let endpoints = [ProbeHarness.endpoints(1)[0], "tcp://127.0.0.1:\(port)"]
        let (_, _, error, seconds) = try Self.allReduceAlone(joinTimeout: 1, endpoints: endpoints)
        guard case let .joinTimedOut(waiting, eps, _) = error else {
            Issue.record("expected a join timeout, got \(String(describing: error))")
            return
        }
        #expect(waiting == [1] && eps == [endpoints[1]])
        #expect(seconds < 4)
    }

    /// A data endpoint this machine cannot bind (an address no interface has; a host name, which ZeroMQ reads as
    /// an interface name) is a typed error naming it, thrown when the ring is built.
    @Test func anUnbindableEndpointIsATypedError() throws {
        let port = ProbeHarness.freePorts(1)[0]
        let cases = [("tcp://192.0.2.1:\(port)", EADDRNOTAVAIL), ("tcp://no-such-interface:\(port)", ENODEV)]
        for (bind, expected) in cases {
            var o = RingOptions()
            o.bindEndpoint = bind
            do throws(RingError) {
                _ = try Ring(rank: 0, endpoints: ProbeHarness.endpoints(2), generation: 1, jobID: 1, options: o)
                Issue.record("\(bind) was bound")
            } catch {
                guard case let .bindFailed(endpoint, .zmq(call, code, _)) = error else {
                    Issue.record("\(bind): expected bindFailed, got \(error)")
                    continue
                }
                #expect(endpoint == bind && call == "zmq_bind \(bind)" && code == expected, "\(error)")
                #expect("\(error)".hasPrefix("cannot bind the ring data endpoint \(bind): "), "\(error)")
            }
        }
    }

    /// A rank waiting for a neighbour that never comes gives up as soon as its owner's interruption check says so
    /// (here on the third question), long before the 30 s join timeout, with the owner's reason.
    @Test func interruptionEndsAWaitLongBeforeTheJoinTimeout() throws {
        var asked = 0
        let (_, _, error, seconds) = try Self.allReduceAlone(joinTimeout: 30, options: { _ in }) { ring in
            ring.interruption = {
                asked += 1
                return asked >= 3 ? "generation 2 has started" : nil
            }
        }
        #expect(error == .interrupted("generation 2 has started"), "got \(String(describing: error))")
        #expect(asked == 3)
        #expect(seconds < 5, "gave up after \(seconds) s")
    }

    /// Interrupted after `connectGrace` without ever connecting to the successor: the wait still names the successor
    /// unreachable, so the owner can report what it saw even though another rank's report ended the generation.
    @Test func anInterruptedWaitStillNamesAnUnreachableSuccessor() throws {
        var asked = 0
        let (_, endpoints, error, seconds) = try Self.allReduceAlone(joinTimeout: 30,
                                                                     options: { $0.connectGrace = 0.5 }) {
            $0.interruption = {
                asked += 1
                return asked >= 3 ? "generation 2 has started" : nil
            }
        }
        guard case let .cannotConnect(rank, endpoint, _, detail) = error else {
            Issue.record("expected cannotConnect, got \(String(describing: error))")
            return
        }
        #expect(rank == 1 && endpoint == endpoints[1] && detail.contains("refused"), "\(detail)")
        #expect(seconds < 5)
    }

    @Test func mismatchedSizesAreAProtocolViolation() {
        let endpoints = ProbeHarness.endpoints(2)
        let results = Results()
        let finished = Self.onThreads(2, timeout: 30) { r in
            do {
                var o = RingOptions()
                o.peerTimeout = 2
                let ring = try Ring(rank: r, endpoints: endpoints, generation: 1, jobID: 1, options: o)
                defer { ring.close() }
                let b = AlignedFloatBuffer(count: r == 0 ? 100 : 101)
                try ring.allReduce(b.buffer, keepingAlive: b)
            } catch { results.fail(r, error) }
        }
        #expect(finished)
        #expect(results.failures.count == 2)
        #expect(results.failures.values.contains { $0.contains("broke the protocol") }, "\(results.failures)")
    }

    /// A rank that goes away between operations (here: closes its ring) is named at the start of the next
    /// operation by both neighbours, long before the progress timeout.
    @Test func peerGoneBetweenOperationsIsNamedAtTheNextOne() {
        let endpoints = ProbeHarness.endpoints(3)
        let results = Results()
        let firstDone = DispatchGroup()
        for _ in 0 ..< 3 { firstDone.enter() }
        let finished = Self.onThreads(3, timeout: 60) { r in
            do {
                var o = RingOptions()
                o.peerTimeout = 10
                let ring = try Ring(rank: r, endpoints: endpoints, generation: 2, jobID: 5, options: o)
                defer { ring.close() }
                let b = AlignedFloatBuffer(count: 1000)
                try ring.allReduce(b.buffer, keepingAlive: b)
                firstDone.leave()
                guard r != 2 else { return }  // rank 2 leaves after the first operation
                guard firstDone.wait(timeout: .now() + 30) == .success else { return }
                let start = Date()
                do throws(RingError) {
                    try ring.allReduce(b.buffer, keepingAlive: b)
                    results.fail(r, RingError.invalidConfiguration("second all-reduce returned"))
                } catch {
                    let seconds = Date().timeIntervalSince(start)
                    results.set(r, [Float(error.failedRank ?? -1), Float(seconds)])
                }
            } catch { results.fail(r, error) }
        }
        #expect(finished)
        #expect(results.failures.isEmpty, "\(results.failures)")
        for r in [0, 1] {
            let v = results.all[r] ?? []
            #expect(v.count == 2 && v[0] == 2, "rank \(r) named \(v.first.map { "\($0)" } ?? "nothing")")
            #expect((v.last ?? 99) < 5, "rank \(r) took \(v.last ?? -1) s (peer timeout 10 s)")
        }
    }
}
