import CoordinatorCore
import Foundation
import MugsData
@testable import CoordinatorDaemon
@testable import JobCommon
@testable import WorkerDaemon
import MugsModel
import Testing
import Transport
import Wire

extension JobTests {
    /// In-process checks of the pieces the daemons are built from: state transfer bookkeeping, entries blocks, the job
    /// token, the crops mapping.
    @Suite struct JobServiceUnitTests {
        static func config() throws -> MugsConfig {
            try ConfigYAML.parse(JobHarness.tinyConfig, source: "tiny")
        }

        @Test func stateTransferCompletesOnlyWhenEveryChunkArrivedAndRejectsMisfits() throws {
            let c = try Self.config()
            let source = try JobState.initial(config: c, stepsPerEpoch: 12, seed: 3)
            source.step = 7
            source.memories.instanceQueue.pointer = 5
            let target = try JobState.make(config: c, stepsPerEpoch: 12, seed: 3)
            let src = StateSections(source), dst = StateSections(target)
            let chunk = 1000
            var r = StateReceiver()
            try r.begin(src.header(chunkFloats: chunk), step: 7, into: dst)
            var messages: [StateTransfer] = []
            for s in src.sections {
                for o in stride(from: 0, to: s.count, by: chunk) {
                    let n = min(chunk, s.count - o)
                    messages.append(StateTransfer(section: s.name, offset: UInt64(o), totalCount: UInt64(s.count),
                                                  values: Array(UnsafeBufferPointer(start: s.base + o, count: n))))
                }
            }
            // A duplicate does not count twice; the transfer completes exactly at the last new chunk.
            var done = try r.receive(messages[0], step: 7, into: dst)
            #expect(!done)
            for (i, m) in messages.enumerated() {
                done = try r.receive(m, step: 7, into: dst)
                #expect(done == (i == messages.count - 1), "chunk \(i)")
            }
            #expect(target.stateHash() == source.stateHash() && target.step == 7)
            // Misfits are typed errors: a chunk past the end, a wrong total, a misaligned offset.
            try r.begin(src.header(chunkFloats: chunk), step: 7, into: dst)
            let s0 = src.sections[0]
            for bad in [StateTransfer(section: s0.name, offset: UInt64(s0.count), totalCount: UInt64(s0.count), values: [1]),
                        StateTransfer(section: s0.name, offset: 0, totalCount: 5, values: [1]),
                        StateTransfer(section: s0.name, offset: 3, totalCount: UInt64(s0.count), values: [1])] {
                #expect(throws: JobError.self) { _ = try r.receive(bad, step: 7, into: dst) }
            }
            // Chunks of another step are ignored.
            #expect(try r.receive(messages[0], step: 8, into: dst) == false)
            // A header of another shape is refused.
            var h = src.header(chunkFloats: chunk)
            h.sections[0].count += 1
            #expect(throws: JobError.self) { try r.begin(h, step: 7, into: dst) }
        }

        @Test func entriesBlocksRoundTripAndMalformedBlocksThrow() throws {
            let c = try Self.config()
            let e = StepEntries(capacity: 3, config: c)
            e.count = 3
            for i in 0 ..< 2 * 3 * c.instance_out_dim { e.instanceTargets[i] = Float(i) * 0.5 }
            for i in 0 ..< 3 * c.embedDim { e.studentMemory[i] = -Float(i) }
            e.weak = [true, false, true]
            let bytes = EntriesCodec.blockBytes(b: 3, config: c)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            defer { raw.deallocate() }
            #expect(EntriesCodec.pack(e, into: raw) == bytes)
            let back = StepEntries(capacity: 3, config: c)
            try EntriesCodec.unpack(UnsafeRawBufferPointer(start: raw, count: bytes), into: back)
            #expect(back.count == 3 && back.weak == [true, false, true])
            #expect(back.instanceTargets[5] == 2.5 && back.studentMemory[7] == -7)
            #expect(throws: JobError.self) {
                try EntriesCodec.unpack(UnsafeRawBufferPointer(start: raw, count: bytes - 4), into: back)
            }
            let small = StepEntries(capacity: 2, config: c)
            #expect(throws: JobError.self) { try EntriesCodec.unpack(UnsafeRawBufferPointer(start: raw, count: bytes), into: small) }
            // The wire form carries the same data.
            let m = EntriesCodec.message(e)
            let viaWire = StepEntries(capacity: 3, config: c)
            try EntriesCodec.fill(viaWire, from: m)
            #expect(viaWire.instanceTargets[5] == 2.5 && viaWire.weak == [true, false, true])
        }

        /// Which queued items end a worker's wait in generation 5's ring (`Ring.interruption`), and which do not.
        @Test func queuedMessagesThatSupersedeARing() {
            func msg(_ g: UInt64, _ m: JobMessage) -> WorkerInbox.Item {
                .message(Envelope(jobID: 1, generation: g, message: .job(m)))
            }
            let next = msg(6, .generation(rank: 0, endpoints: ["tcp://a:1"], firstStep: 9))
            #expect(WorkerService.supersedes(next, generation: 5) == "the coordinator started generation 6")
            #expect(WorkerService.supersedes(msg(5, .generation(rank: 0, endpoints: [], firstStep: 0)),
                                             generation: 5) == nil)
            #expect(WorkerService.supersedes(msg(5, .abort(reason: "x")), generation: 5)
                    == "the coordinator aborted generation 5")
            #expect(WorkerService.supersedes(msg(4, .abort(reason: "old")), generation: 5) == nil)
            #expect(WorkerService.supersedes(msg(5, .plan),
                                             generation: 5) == nil)
            #expect(WorkerService.supersedes(msg(0, .evict(reason: "silent")), generation: 5) == "evicted")
            #expect(WorkerService.supersedes(.terminate, generation: 5) == "terminating")
            #expect(WorkerService.supersedes(.coordinatorLost, generation: 5) == "the coordinator went silent")
            let inbox = WorkerInbox()
            inbox.push(msg(5, .plan))
            #expect(inbox.firstPending { WorkerService.supersedes($0, generation: 5) } == nil)
            inbox.push(next)
            #expect(inbox.firstPending { WorkerService.supersedes($0, generation: 5) }
                    == "the coordinator started generation 6")
            #expect(inbox.next(timeout: 0) != nil && inbox.next(timeout: 0) != nil, "items stay queued")
        }

        /// The data port's defaults: a loopback (or ipc) coordinator keeps the port on loopback; an explicit remote
        /// address binds all interfaces; a host name is resolved before use (a ZeroMQ bind cannot take one); names that
        /// do not resolve are errors naming the option.
        @Test func dataAddressDefaultsAndResolution() throws {
            let local = try DataAddress.plan(coordinator: "tcp://127.0.0.1:5555", dataHost: nil, dataBind: nil,
                                             port: 5601)
            #expect(local.advertised == "tcp://127.0.0.1:5601" && local.bound == "tcp://127.0.0.1:5601")
            #expect(local.source == "the address of the interface that routes to the coordinator 127.0.0.1")
            let byName = try DataAddress.plan(coordinator: "tcp://localhost:5555", dataHost: nil, dataBind: nil,
                                              port: 7)
            #expect(["tcp://127.0.0.1:7", "tcp://[::1]:7"].contains(byName.advertised), "\(byName)")
            #expect(byName.bound == byName.advertised)
            let ipc = try DataAddress.plan(coordinator: "ipc:///tmp/c", dataHost: nil, dataBind: nil, port: 5601)
            #expect(ipc.advertised == "tcp://127.0.0.1:5601" && ipc.bound == "tcp://127.0.0.1:5601")
            let explicit = try DataAddress.plan(coordinator: "tcp://127.0.0.1:5555", dataHost: "10.1.2.3",
                                                dataBind: nil, port: 5601)
            #expect(explicit.advertised == "tcp://10.1.2.3:5601" && explicit.bound == "tcp://0.0.0.0:5601")
            #expect(explicit.summary == "data port: peers connect to tcp://10.1.2.3:5601 (--data-host); bound on "
                    + "tcp://0.0.0.0:5601 (all interfaces)")
            let v6 = try DataAddress.plan(coordinator: "tcp://[::1]:5555", dataHost: "fd00::7", dataBind: nil, port: 9)
            #expect(v6.advertised == "tcp://[fd00::7]:9" && v6.bound == "tcp://[::]:9")
            let named = try DataAddress.plan(coordinator: "tcp://127.0.0.1:5555", dataHost: "localhost",
                                             dataBind: "localhost", port: 5601)
            #expect(named.source == "--data-host localhost" && named.bound == named.advertised, "\(named)")
            #expect(named.warning == nil, "a loopback job may advertise loopback")
            #expect(DataAddress.isLoopback("127.0.1.1") && !DataAddress.isLoopback("10.0.0.1"))
            let interface = try DataAddress.plan(coordinator: "tcp://127.0.0.1:5555", dataHost: nil, dataBind: "lo",
                                                 port: 5601)
            #expect(interface.bound == "tcp://lo:5601", "an interface name is bound as it is")
            do {
                _ = try DataAddress.plan(coordinator: "tcp://127.0.0.1:5555", dataHost: "no-such-host.invalid",
                                         dataBind: nil, port: 5601)
                Issue.record("an unresolvable --data-host was accepted")
            } catch {
                #expect("\(error)".hasPrefix("--data-host no-such-host.invalid: cannot be resolved: "), "\(error)")
            }
            do {
                _ = try DataAddress.plan(coordinator: "tcp://head.invalid:5555", dataHost: nil, dataBind: nil, port: 1)
                Issue.record("an unresolvable coordinator was accepted")
            } catch {
                #expect("\(error)".hasPrefix("--coordinator head.invalid: cannot be resolved: "), "\(error)")
            }
            #expect(throws: JobError.self) {
                try DataAddress.plan(coordinator: "tcp://nohostport", dataHost: nil, dataBind: nil, port: 1)
            }
        }

        /// Which ring errors a worker reports as setup failures, with which kind (who is at fault), and which stay
        /// ordinary ring failures.
        @Test func ringErrorsMapToTypedSetupFailures() {
            let cause = TransportError.zmq(call: "zmq_bind tcp://vm:5601", errno: 19, message: "No such device")
            let bind = RingError.bindFailed(endpoint: "tcp://vm:5601", cause: cause)
            #expect(WorkerService.setupFailure(bind) == RingSetupFailure(
                kind: .cannotBind, endpoint: "tcp://vm:5601",
                detail: "cannot bind the ring data endpoint tcp://vm:5601: No such device (errno 19)"))
            let unreachable = RingError.cannotConnect(rank: 2, endpoint: "tcp://192.0.2.1:5601", seconds: 4,
                                                      detail: "connect: No route to host")
            #expect(WorkerService.setupFailure(unreachable) == RingSetupFailure(
                kind: .peerUnreachable, peerRank: 2, endpoint: "tcp://192.0.2.1:5601",
                detail: "no TCP connection within 4.0 s; connect: No route to host"))
            let silent = RingError.joinTimedOut(waitingFor: [0], endpoints: ["tcp://a:1"], seconds: 4)
            #expect(WorkerService.setupFailure(RingError.ringUnusable(silent))?.kind == .peerSilent)
            #expect(WorkerService.setupFailure(silent)?.peerRank == 0)
            let failed = RingError.peerFailed(rank: 1, endpoint: "tcp://a:1", cause: .disconnected)
            #expect(WorkerService.setupFailure(failed) == nil)
            #expect(WorkerService.setupFailure(RingError.interrupted("generation 3")) == nil)
            // And what the coordinator's machine makes of each kind.
            #expect(CoordinatorService.fault(WorkerService.setupFailure(bind)!) == .reporter(
                "cannot bind the ring data endpoint tcp://vm:5601: No such device (errno 19)"))
            #expect(CoordinatorService.fault(WorkerService.setupFailure(unreachable)!)
                    == .unreachablePeer(rank: 2, "no TCP connection within 4.0 s; connect: No route to host"))
            #expect(CoordinatorService.fault(RingSetupFailure(kind: .peerUnreachable, endpoint: "", detail: "x"))
                    == .silentPeer(rank: nil, "x"), "an unreachable peer without a rank blames nobody")
        }

        @Test func tokensAndJobIdentity() throws {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mugs-token-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            try "  s3cret \n".write(to: dir.appendingPathComponent("t"), atomically: true, encoding: .utf8)
            #expect(try JobToken.read(file: dir.appendingPathComponent("t").path) == "s3cret")
            try "\n".write(to: dir.appendingPathComponent("empty"), atomically: true, encoding: .utf8)
            #expect(throws: JobError.self) { try JobToken.read(file: dir.appendingPathComponent("empty").path) }
            #expect(throws: JobError.self) { try JobToken.read(file: dir.appendingPathComponent("missing").path) }
            let a = JobState.jobID(token: "t", datasetFingerprint: "d", configYAML: "c", seed: 1)
            #expect(a == JobState.jobID(token: "t", datasetFingerprint: "d", configYAML: "c", seed: 1))
            #expect(a != JobState.jobID(token: "u", datasetFingerprint: "d", configYAML: "c", seed: 1))
            #expect(a != JobState.jobID(token: "t", datasetFingerprint: "d", configYAML: "c", seed: 2))
        }

        @Test func theCropsMappingCarriesEveryAugmentationFieldAndKeepsTheReferenceDefaults() throws {
            // Defaults: the reference's hard-coded weak branch (src/multicropdataset.py).
            let d = try MultiCropConfig(training: MugsConfig())
            let r = MultiCropConfig.paper
            #expect(d.jitterProbability == r.jitterProbability && d.blurRadius == r.blurRadius
                    && d.blurProbability == r.blurProbability && d.solarizeProbability == r.solarizeProbability)
            let text = "color_jitter_prob: 0.3\nblur_radius: [0.05, 0.4]\nblur_prob: [0.5, 0.0, 0.25]\n"
                + "solarize_prob: 0.0\nre_prob: 0.1\nprob: 0.7\n"
            let m = try MultiCropConfig(training: ConfigYAML.parse(text, source: "aug.yaml"))
            #expect(m.jitterProbability == 0.3 && m.blurRadius == (0.05, 0.4) && m.solarizeProbability == 0.0)
            #expect(m.blurProbability == (0.5, 0.0, 0.25) && m.erasingProbability == 0.1 && m.weakProbability == 0.7)
            // A reversed radius range and a short probability list are refused, naming the field and the file.
            for bad in ["blur_radius: [2.0, 0.1]\n", "blur_prob: [1.0, 0.1]\n"] {
                do {
                    _ = try ConfigYAML.parse(bad, source: "aug.yaml")
                    Issue.record("accepted: \(bad)")
                } catch {
                    let field = String(bad.prefix { $0 != ":" })
                    #expect("\(error)".contains(field) && "\(error)".contains("aug.yaml"), "\(error)")
                }
            }
        }
    }
}
