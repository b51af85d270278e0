import Foundation
@testable import JobService
import MugsModel
import Testing
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
            #expect(WorkerService.supersedes(msg(5, .plan(rank: 0, worldSize: 2, epoch: 0, indices: [1])),
                                             generation: 5) == nil)
            #expect(WorkerService.supersedes(msg(0, .evict(reason: "silent")), generation: 5) == "evicted")
            #expect(WorkerService.supersedes(.terminate, generation: 5) == "terminating")
            #expect(WorkerService.supersedes(.coordinatorLost, generation: 5) == "the coordinator went silent")
            let inbox = WorkerInbox()
            inbox.push(msg(5, .plan(rank: 0, worldSize: 2, epoch: 0, indices: [1])))
            #expect(inbox.firstPending { WorkerService.supersedes($0, generation: 5) } == nil)
            inbox.push(next)
            #expect(inbox.firstPending { WorkerService.supersedes($0, generation: 5) }
                    == "the coordinator started generation 6")
            #expect(inbox.next(timeout: 0) != nil && inbox.next(timeout: 0) != nil, "items stay queued")
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
    }
}
