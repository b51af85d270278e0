import Sampling
import Testing
@testable import Wire

@Suite struct WireCodecTests {
    @Test func everyMessageRoundTripsAsFramesAndFlat() throws {
        for e in sampleEnvelopes {
            let frames = e.encodedFrames()
            let (body, data) = e.message.type.frames
            #expect(frames.count == 1 + (body ? 1 : 0) + (data ? 1 : 0))
            #expect(frames[0].count == FrameHeader.size)
            #expect(try Envelope.decode(frames: frames) == e)
            #expect(try Envelope.decode(flat: e.encodedFlat()) == e)
        }
    }

    @Test func headerLayoutIsTheDocumentedLittleEndianRecord() throws {
        let e = Envelope(jobID: 0x0102_0304_0506_0708, generation: 9, step: 10, sender: 11, message: .ringSegment(
            RingSegment(phase: .allGather, sequence: 12, segment: 13, operationBytes: 14, payload: [0xAA, 0xBB])))
        let h = e.encodedFrames()[0]
        #expect(Array(h[0 ..< 4]) == Array("MUGS".utf8))
        #expect(Array(h[4 ..< 8]) == [3, 0, 18, 0])  // version 3, type ringSegment
        #expect(Array(h[8 ..< 16]) == [8, 7, 6, 5, 4, 3, 2, 1])
        #expect(h[16] == 9 && h[24] == 10 && h[32] == 12 && h[40] == 14 && h[48] == 11 && h[52] == 13)
        #expect(h[56] == RingPhase.allGather.rawValue && h[57] == 1)
        #expect(Array(h[58 ..< 72]) == [UInt8](repeating: 0, count: 14))  // reserved, body length 0
        #expect(h[72] == 2 && Array(h[73 ..< 80]) == [UInt8](repeating: 0, count: 7))
    }

    @Test func streamDecoderFedOneByteAtATime() throws {
        let stream = sampleEnvelopes.flatMap { $0.encodedFlat() }
        var decoder = StreamDecoder()
        var decoded: [Envelope] = []
        for byte in stream {
            #expect(try decoder.bytesNeeded() > 0)
            decoder.feed([byte])
            if let e = try decoder.next() { decoded.append(e) }
            #expect(try decoder.next() == nil)  // nothing consumed until complete, nothing returned twice
        }
        #expect(decoded == sampleEnvelopes)
        #expect(decoder.bufferedCount == 0)
    }

    @Test func streamDecoderInRandomPieces() throws {
        let stream = sampleEnvelopes.flatMap { $0.encodedFlat() }
        var rng = SplitMix64(state: 11)
        for _ in 0 ..< 50 {
            var decoder = StreamDecoder()
            var decoded: [Envelope] = []
            var i = 0
            while i < stream.count {
                let n = min(stream.count - i, 1 + rng.below(200))
                decoder.feed(stream[i ..< i + n])
                i += n
                while let e = try decoder.next() { decoded.append(e) }
            }
            #expect(decoded == sampleEnvelopes)
        }
    }

    @Test func everyTruncationIsATypedError() {
        for e in sampleEnvelopes {
            let flat = e.encodedFlat()
            for n in 0 ..< flat.count {
                #expect(throws: WireError.self) { try Envelope.decode(flat: Array(flat[..<n])) }
            }
            var frames = e.encodedFrames()
            for n in 0 ..< FrameHeader.size {
                frames[0] = Array(e.encodedFrames()[0][..<n])
                #expect(throws: WireError.truncated(field: "header", needed: FrameHeader.size, available: n)) {
                    try Envelope.decode(frames: frames)
                }
            }
        }
    }

    @Test func namedErrorsForBadHeaders() {
        let good = sampleEnvelopes[5].encodedFrames()  // commit: header + body
        func mutated(_ at: Int, _ bytes: [UInt8]) -> [[UInt8]] {
            var f = good
            f[0].replaceSubrange(at ..< at + bytes.count, with: bytes)
            return f
        }
        #expect(throws: WireError.badMagic(found: 0x5347_5558)) { try Envelope.decode(frames: mutated(0, [0x58])) }
        #expect(throws: WireError.unsupportedVersion(1)) { try Envelope.decode(frames: mutated(4, [1])) }
        #expect(throws: WireError.unknownType(99)) { try Envelope.decode(frames: mutated(6, [99])) }
        #expect(throws: WireError.invalidValue(field: "header.reserved", detail: "reserved bytes are not zero")) {
            try Envelope.decode(frames: mutated(60, [1]))
        }
        #expect(throws: WireError.frameCountMismatch(declared: 2, actual: 1)) { try Envelope.decode(frames: [good[0]]) }
        #expect(throws: WireError.frameLengthMismatch(frame: "body", declared: 8, actual: 9)) {
            try Envelope.decode(frames: [good[0], good[1] + [0]])
        }
        #expect(throws: WireError.trailingBytes(frame: "header", count: 1)) {
            try Envelope.decode(frames: [good[0] + [0], good[1]])
        }
    }

    @Test func oversizedLengthsAreRejectedBeforeAllocation() {
        var big = FrameHeader(type: .ringSegment, jobID: 1, generation: 1, phase: .reduceScatter, frameCount: 1,
                              dataLength: FrameHeader.maxDataLength + 1)
        #expect(throws: WireError.oversized(field: "header.dataLength", length: FrameHeader.maxDataLength + 1,
                                            limit: FrameHeader.maxDataLength)) {
            try Envelope.decode(flat: big.encoded())
        }
        big = FrameHeader(type: .commit, jobID: 1, generation: 1, frameCount: 1, bodyLength: 1 << 40)
        #expect(throws: WireError.self) { try Envelope.decode(flat: big.encoded()) }
        // A step plan claiming more ranks than allowed, and a string longer than its limit.
        var w = ByteWriter()
        w.u64(0); w.u32(1); w.u32(UInt32(StepPlan.maxRanks + 1))
        let plan = FrameHeader(type: .stepPlan, jobID: 1, generation: 1, frameCount: 1,
                               bodyLength: UInt64(w.bytes.count))
        #expect(throws: WireError.oversized(field: "stepPlan.rankCount", length: UInt64(StepPlan.maxRanks + 1),
                                            limit: UInt64(StepPlan.maxRanks))) {
            try Envelope.decode(frames: [plan.encoded(), w.bytes])
        }
        var s = ByteWriter()
        s.u32(5000)
        let commitLike = FrameHeader(type: .join, jobID: 1, generation: 1, frameCount: 1, bodyLength: 4)
        #expect(throws: WireError.oversized(field: "join.workerID", length: 5000, limit: 4096)) {
            try Envelope.decode(frames: [commitLike.encoded(), s.bytes])
        }
    }

    @Test func invalidUTF8AndBadOptionalFlag() {
        var w = ByteWriter()
        w.u32(2); w.u8(0xC3); w.u8(0x28)  // invalid 2-byte sequence
        let h = FrameHeader(type: .heartbeat, jobID: 1, generation: 1, frameCount: 1, bodyLength: UInt64(w.bytes.count))
        #expect(throws: WireError.invalidUTF8(field: "heartbeat.workerID")) {
            try Envelope.decode(frames: [h.encoded(), w.bytes])
        }
        var v = ByteWriter()
        v.string("w"); v.u8(2); v.u64(0); v.f64(1)
        let h2 = FrameHeader(type: .heartbeat, jobID: 1, generation: 1, frameCount: 1,
                             bodyLength: UInt64(v.bytes.count))
        #expect(throws: WireError.invalidValue(field: "heartbeat.cachedStep.present", detail: "flag 2 is not 0 or 1")) {
            try Envelope.decode(frames: [h2.encoded(), v.bytes])
        }
    }
}
