import Testing
@testable import Wire

/// The distributed job's control messages: every case round-trips, and the decoder is total on mutated input.
@Suite struct JobMessageTests {
    static let samples: [Envelope] = [
        Envelope(jobID: 7, generation: 0, message: .join(Join(workerID: "w", host: "h", dataEndpoint: "tcp://h:1",
                                                               cores: 2, cachedStep: 5, token: "s3cret"))),
        Envelope(jobID: 7, generation: 0, message: .job(.welcome(Welcome(
            configYAML: "arch: custom\nembed_dim: 32\n", datasetSpec: "fashion-mnist:train", datasetFingerprint: "fp",
            seed: .max, stepsPerEpoch: 7500, hashEvery: 10, heartbeatInterval: 1, heartbeatTimeout: 3)))),
        Envelope(jobID: 7, generation: 3, message: .job(.evict(reason: "no message for 3.2 s"))),
        Envelope(jobID: 7, generation: 3, message: .job(.refused(reason: "wrong job token"))),
        Envelope(jobID: 7, generation: 3, message: .job(.finished(reason: "all 10 steps committed"))),
        Envelope(jobID: 7, generation: 4, step: 12, message: .job(.generation(
            rank: 1, endpoints: ["tcp://a:1", "tcp://[::1]:2", "tcp://c:3"], firstStep: 12))),
        Envelope(jobID: 7, generation: 4, message: .job(.abort(reason: "ring failure"))),
        Envelope(jobID: 7, generation: 4, step: 13, message: .job(.plan(rank: 2, worldSize: 3, epoch: 0,
                                                                         indices: [5, 0, 59_999, 17]))),
        Envelope(jobID: 7, generation: 4, step: 13, message: .job(.plan(rank: 0, worldSize: 1, epoch: 9, indices: []))),
        Envelope(jobID: 7, generation: 4, step: 12, message: .job(.stateHeader(StateHeader(
            adamSteps: [0, 12, 12], memoryPointers: [3, 0, 63, 1],
            sections: [StateSection(name: "student", count: 1 << 33), StateSection(name: "center", count: 64)],
            chunkFloats: 1 << 18)))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 1, message: .job(.stateReceived)),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 1, message: .job(.stepApplied(
            stateHash: 0xFEED_F00D, hashed: true, seconds: 0.25, skippedFiles: 3))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 2, message: .job(.sliceEntries(SliceEntries(
            count: 2, instanceDim: 1, localGroupDim: 1, memoryDim: 1, weak: [1, 0],
            floatBytes: [UInt8](repeating: 0x3F, count: 4 * 12))))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 2, message: .job(.ringFailed(peerRank: -1, reason: "x"))),
        Envelope(jobID: 7, generation: 4, step: 12, sender: 2, message: .job(.leave(reason: "SIGTERM"))),
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
}
