import Sampling
import Testing
@testable import Wire

/// Fixed-seed fuzzing: the decoders are total (a value or a `WireError`, never a trap), and anything they accept
/// re-encodes to an envelope that decodes to itself.
@Suite struct WireFuzzTests {
    static let cases = 300_000

    @Test func mutatedAndRandomInputsDecodeOrThrowTypedErrors() {
        var rng = SplitMix64(state: 0x5EED_0005)
        let seeds = sampleEnvelopes.map { $0.encodedFlat() }
        var accepted = 0, rejected = 0
        for n in 0 ..< Self.cases {
            var bytes: [UInt8]
            switch n % 4 {
            case 0:  // flip a few bits of a valid message
                bytes = seeds[rng.below(seeds.count)]
                for _ in 0 ... rng.below(3) { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
            case 1:  // overwrite a byte with an edge value, and truncate or extend
                bytes = seeds[rng.below(seeds.count)]
                bytes[rng.below(bytes.count)] = [0, 1, 0x7F, 0x80, 0xFF][rng.below(5)]
                if rng.below(2) == 0 {
                    bytes.removeLast(rng.below(bytes.count))
                } else {
                    bytes += [UInt8(rng.below(256))]
                }
            case 2:  // valid header, random payload of the declared length
                bytes = Array(seeds[rng.below(seeds.count)].prefix(FrameHeader.size))
                let extra = (try? FrameHeader.decodePrefix(bytes.withUnsafeBytes { $0 }).payloadLength) ?? 0
                bytes += (0 ..< min(Int(extra), 512)).map { _ in UInt8(rng.below(256)) }
            default:  // pure noise, sometimes with our magic
                bytes = (0 ..< rng.below(160)).map { _ in UInt8(rng.below(256)) }
                if bytes.count >= 8 && rng.below(2) == 0 {
                    bytes.replaceSubrange(0 ..< 6, with: [0x4D, 0x55, 0x47, 0x53, 1, 0])  // "MUGS", version 1
                }
            }
            do {
                let e = try Envelope.decode(flat: bytes)
                accepted += 1
                // Accepted input re-encodes to bytes that decode to the same bytes (compared as bytes: a flipped
                // float may be a NaN, which is not == itself).
                let once = e.encodedFlat()
                let twice = (try? Envelope.decode(flat: once))?.encodedFlat()
                if twice != once { Issue.record("case \(n): re-encoding changed the envelope"); return }
            } catch {
                rejected += 1
            }
        }
        #expect(accepted + rejected == Self.cases)
        #expect(accepted > 1000 && rejected > 100_000, "accepted \(accepted), rejected \(rejected)")
    }

    @Test func streamDecoderSurvivesNoise() {
        var rng = SplitMix64(state: 77)
        for _ in 0 ..< 2000 {
            var d = StreamDecoder()
            d.feed((0 ..< rng.below(400)).map { _ in UInt8(rng.below(256)) })
            _ = try? d.next()
            _ = try? d.bytesNeeded()
        }
    }
}
