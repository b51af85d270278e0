import Sampling
import Testing
@testable import Wire

/// The distributed job's control messages: every case round-trips, and the decoder is total on mutated input.
@Suite struct JobMessageTests {
    static let samples: [Envelope] = [
        Envelope(jobID: 7, generation: 0, message: .join(Join(workerID: "w", host: "h", dataEndpoint: "tcp://h:1",
                                                               cores: 2, cachedStep: 5, token: "s3cret"))),
        Envelope(jobID: 7, generation: 0, message: .job(.welcome(Welcome(
            configYAML: "arch: custom\nembed_dim: 32\n", datasetSpec: "fashion-mnist:train", datasetFingerprint: "fp",
            seed: .max, hashEvery: 10, heartbeatInterval: 1, heartbeatTimeout: 3)))),
        Envelope(jobID: 7, generation: 3, message: .job(.evict(reason: "no message for 3.2 s"))),
        Envelope(jobID: 7, generation: 3, message: .job(.refused(reason: "wrong job token"))),
        Envelope(jobID: 7, generation: 3, message: .job(.finished(reason: "all 10 steps committed"))),
        Envelope(jobID: 7, generation: 4, step: 12, message: .job(.generation(
            rank: 1, endpoints: ["tcp://a:1", "tcp://[::1]:2", "tcp://c:3"], firstStep: 12))),
        Envelope(jobID: 7, generation: 4, message: .job(.abort(reason: "ring failure"))),
        Envelope(jobID: 7, generation: 4, step: 13, message: .job(.plan)),
        Envelope(jobID: 7, generation: 4, step: 12, message: .job(.stateHeader(StateHeader(
            adamSteps: [0, 12, 12], memoryPointers: [3, 0, 63, 1],
            sections: [StateSection(name: "student", count: 1 << 33), StateSection(name: "center", count: 64)],
            chunkFloats: 1 << 18)))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 1, message: .job(.stateReceived)),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 1, message: .job(.stepApplied(
            stateHash: 0xFEED_F00D, hashed: true, seconds: 0.25))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 2, message: .job(.sliceEntries(SliceEntries(
            count: 2, instanceDim: 1, localGroupDim: 1, memoryDim: 1, weak: [1, 0],
            floatBytes: [UInt8](repeating: 0x3F, count: 4 * 12))))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 2, message: .job(.ringFailed(peerRank: -1, reason: "x"))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 2, message: .job(.leave(reason: "SIGTERM"))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 1, message: .job(.ringSetupFailed(RingSetupFailure(
            kind: .cannotBind, endpoint: "tcp://vm:5600",
            detail: "zmq_bind tcp://vm:5600 failed: No such device (errno 19)")))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 0, message: .job(.ringSetupFailed(RingSetupFailure(
            kind: .peerUnreachable, peerRank: 2, endpoint: "tcp://[fe80::1]:5601",
            detail: "connect: No route to host")))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 3, message: .job(.ringSetupFailed(RingSetupFailure(
            kind: .peerSilent, peerRank: 0, endpoint: "", detail: "")))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 3, message: .job(.unreadableFiles([
            UnreadableFile(path: "/data/train/Dog/zero.jpg", reason: "empty file"),
            UnreadableFile(path: "/data/train/Dög/x.png", reason: "libpng: IDAT: CRC error")]))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 3, message: .job(.unreadableFiles([]))),
        Envelope(jobID: 7, generation: 4, step: 400, message: .job(.onlineKNNRequest(OnlineKNNRequest(
            trainSpec: "fashion-mnist:train", valSpec: "/data/imagenet/val", trainCount: 5000, valCount: 1000, k: 20,
            temperature: 0.07)))),
        Envelope(jobID: 7, generation: 4, step: 400, message: .job(.onlineKNNRequest(OnlineKNNRequest(
            trainSpec: "", valSpec: "", trainCount: .max, valCount: 0, k: 0, temperature: -.infinity)))),
        Envelope(jobID: 7, generation: 5, step: 400, sender: 0, message: .job(.onlineKNNResult(OnlineKNNResult(
            top1: 61.2, top5: 97.1, k: 20, trainCount: 5000, valCount: 1000, seconds: 8.125)))),
        Envelope(jobID: 7, generation: 5, step: 400, sender: 0, message: .job(.onlineKNNResult(OnlineKNNResult(
            top1: 0, top5: 0, k: 20, trainCount: 0, valCount: 0, seconds: 0.01,
            error: "fashion-mnist:test: no such file /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")))),
    ]

    @Test func everyJobMessageRoundTripsAsFramesAndFlat() throws {
        for e in Self.samples {
            #expect(try Envelope.decode(frames: e.encodedFrames()) == e, "\(e.message.type)")
            #expect(try Envelope.decode(flat: e.encodedFlat()) == e, "\(e.message.type)")
        }
    }

    @Test func invalidFieldsAreTypedErrors() {
        func body(_ e: Envelope) -> [[UInt8]] { e.encodedFrames() }
        // A rank outside its ring.
        var frames = body(Envelope(jobID: 1, generation: 1, message: .job(.generation(rank: 0, endpoints: ["a"],
                                                                                      firstStep: 0))))
        frames[1][0] = 5
        #expect(throws: WireError.self) { try Envelope.decode(frames: frames) }
        // Entries whose data frame does not match their dimensions.
        let entries = Envelope(jobID: 1, generation: 1, message: .job(.sliceEntries(SliceEntries(
            count: 1, instanceDim: 1, localGroupDim: 1, memoryDim: 1, weak: [1], floatBytes: [UInt8](repeating: 0, count: 24)))))
        var f = entries.encodedFrames()
        f[2].removeLast(4)
        var h = try! FrameHeader.decode(f[0].withUnsafeBytes { $0 })
        h.dataLength -= 4
        f[0] = h.encoded()
        #expect(throws: WireError.self) { try Envelope.decode(frames: f) }
        // A weak flag that is not 0/1.
        var g = entries.encodedFrames()
        g[1][16] = 2
        #expect(throws: WireError.self) { try Envelope.decode(frames: g) }
        // An online kNN result whose failure flag (after top1, top5, k, counts, seconds) is not 0 or 1.
        let result = Envelope(jobID: 1, generation: 1, message: .job(.onlineKNNResult(OnlineKNNResult(
            top1: 50, top5: 90, k: 20, trainCount: 10, valCount: 5, seconds: 1))))
        var k = result.encodedFrames()
        k[1][8 + 8 + 4 + 4 + 4 + 8] = 2
        #expect(throws: WireError.self) { try Envelope.decode(frames: k) }
        // A failure flag without its message: truncated.
        var t = result.encodedFrames()
        t[1][8 + 8 + 4 + 4 + 4 + 8] = 1
        #expect(throws: WireError.self) { try Envelope.decode(frames: t) }
        // A ring setup failure of an unknown kind, or naming a rank no ring has.
        let setup = Envelope(jobID: 1, generation: 1, message: .job(.ringSetupFailed(RingSetupFailure(
            kind: .peerSilent, peerRank: 1, endpoint: "tcp://a:1", detail: "d"))))
        var u = setup.encodedFrames()
        u[1][0] = 9
        let unknownKind = WireError.invalidValue(field: "ringSetupFailed.kind", detail: "9 is not a known kind (1...4)")
        #expect(throws: unknownKind) { try Envelope.decode(frames: u) }
        var v = setup.encodedFrames()
        v[1].replaceSubrange(1 ..< 5, with: [0xFE, 0xFF, 0xFF, 0xFF])  // -2
        #expect(throws: WireError.invalidValue(field: "ringSetupFailed.peerRank", detail: "rank -2")) {
            try Envelope.decode(frames: v)
        }
        // More unreadable files than a message may hold.
        var files = Envelope(jobID: 1, generation: 1, message: .job(.unreadableFiles([]))).encodedFrames()
        files[1] = [0x01, 0x01, 0, 0]  // 257
        #expect(throws: WireError.self) { try Envelope.decode(frames: files) }
    }

    /// Texts too long for the decoder's string limit are cut by the encoder, so a long path or reason never makes a
    /// message undecodable.
    @Test func longSetupDetailsAndPathsAreCutToFit() throws {
        let long = String(repeating: "é", count: 5000)  // 10 000 UTF-8 bytes
        let e = Envelope(jobID: 1, generation: 1, message: .job(.ringSetupFailed(RingSetupFailure(
            kind: .cannotBind, endpoint: long, detail: long))))
        guard case let .job(.ringSetupFailed(f)) = try Envelope.decode(frames: e.encodedFrames()).message else {
            Issue.record("not a ring setup failure")
            return
        }
        #expect(f.detail.utf8.count <= RingSetupFailure.maxText + 2 && f.detail.hasPrefix("éé"))
        let g = Envelope(jobID: 1, generation: 1,
                         message: .job(.unreadableFiles([UnreadableFile(path: long, reason: long)])))
        guard case let .job(.unreadableFiles(list)) = try Envelope.decode(frames: g.encodedFrames()).message else {
            Issue.record("not unreadable files")
            return
        }
        #expect(list.count == 1 && list[0].path.utf8.count <= 4002 && list[0].reason.utf8.count <= 1002)
    }

    @Test func mutatedJobMessagesDecodeOrThrow() {
        var rng = SplitMix64(state: 0x0B5E_55ED)
        let seeds = Self.samples.map { $0.encodedFlat() }
        var accepted = 0
        for _ in 0 ..< 50_000 {
            var bytes = seeds[rng.below(seeds.count)]
            for _ in 0 ... rng.below(4) { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
            if rng.below(3) == 0 { bytes.removeLast(rng.below(bytes.count)) }
            if let e = try? Envelope.decode(flat: bytes) {
                accepted += 1
                #expect((try? Envelope.decode(flat: e.encodedFlat()))?.encodedFlat() == e.encodedFlat())
            }
        }
        #expect(accepted > 0)
    }

    /// A job refuses a worker that cannot run its precision, naming the worker, its host and what it lacks; a worker
    /// that lists the precision (among others) is taken.
    @Test func joinsAreRefusedForAPrecisionTheWorkerCannotRun() {
        let bf16 = Join(workerID: "w1", host: "zen5", dataEndpoint: "tcp://10.0.0.5:5601", cores: 2, cachedStep: nil,
                        precisions: "fp32,bf16")
        #expect(bf16.refusal(precision: "fp32") == nil)
        #expect(bf16.refusal(precision: "bf16") == nil)
        let old = Join(workerID: "w2", host: "zen2", dataEndpoint: "tcp://10.0.0.6:5601", cores: 2, cachedStep: nil,
                       precisions: "fp32", precisionNote: "precision bf16 needs AVX512_BF16 (vdpbf16ps)")
        #expect(old.refusal(precision: "fp32") == nil)
        #expect(old.refusal(precision: "bf16")
                == "worker w2 on zen2 cannot run this job's precision bf16: precision bf16 needs AVX512_BF16 (vdpbf16ps)")
        // "bf1" is not "bf16": the list is matched by whole names.
        #expect(bf16.refusal(precision: "bf1") != nil)
        let legacy = Join(workerID: "w3", host: "h", dataEndpoint: "", cores: 1, cachedStep: nil, precisions: "")
        #expect(legacy.refusal(precision: "fp32") == "worker w3 on h cannot run this job's precision fp32 (it runs none)")
    }
}
