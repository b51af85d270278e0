import Foundation
import Sampling
import Testing
import CImage
import MugsModel
@testable import MugsData

/// Fixed-seed fuzzing of the image decoders (JPEG through libjpeg-turbo, PNG through libpng) and of the IDX reader,
/// as the wire decoder is fuzzed: every input — a valid file with bits flipped, bytes set to edge values, cut short or
/// extended, or noise behind the right magic — decodes to a sane image or throws a `DataError` naming its source;
/// nothing traps, hangs or allocates without bound. Bounded and seeded, so it runs in CI on every change.
@Suite struct DecoderFuzzTests {
    /// One mutation of `seed` (the strategies of `WireFuzzTests`), drawn from the project's `SampleRNG`.
    static func mutate(_ seed: [UInt8], magic: [UInt8], case n: Int, _ rng: inout SampleRNG) -> [UInt8] {
        var bytes = seed
        switch n % 5 {
        case 0: // flip a few bits
            for _ in 0 ... rng.below(4) { bytes[rng.below(bytes.count)] ^= UInt8(1 << rng.below(8)) }
        case 1: // an edge value somewhere in the first 200 bytes (headers: sizes, lengths, markers)
            bytes[rng.below(min(200, bytes.count))] = [0, 1, 0x7F, 0x80, 0xFF][rng.below(5)]
        case 2: // cut short
            bytes.removeLast(1 + rng.below(bytes.count - 1))
        case 3: // a run of random bytes over the middle, sometimes extended
            let at = rng.below(bytes.count), len = min(1 + rng.below(32), bytes.count - at)
            for i in at ..< at + len { bytes[i] = UInt8(rng.below(256)) }
            if rng.below(2) == 0 { bytes += (0 ..< rng.below(64)).map { _ in UInt8(rng.below(256)) } }
        default: // noise behind the magic
            bytes = magic + (0 ..< rng.below(400)).map { _ in UInt8(rng.below(256)) }
        }
        return bytes
    }

    /// Decodes `cases` mutations of `seed`; returns (accepted, rejected). An accepted image must have a size within the
    /// decoder's bound and the right pixel count; a rejection must be the typed error naming the source.
    static func fuzz(_ seed: [UInt8], magic: [UInt8], cases: Int, rngSeed: UInt64) -> (Int, Int) {
        var rng = SampleRNG(key: [rngSeed])
        let image = RGBImage()
        var accepted = 0, rejected = 0
        for n in 0 ..< cases {
            let bytes = mutate(seed, magic: magic, case: n, &rng)
            do {
                try bytes.withUnsafeBytes { try ImageDecoder.decode($0, into: image, source: "case \(n)") }
                accepted += 1
                guard image.width > 0, image.height > 0, image.width <= Int(CIMAGE_MAX_SIDE),
                      image.height <= Int(CIMAGE_MAX_SIDE) else {
                    Issue.record("case \(n): accepted an image of \(image.width)×\(image.height)")
                    return (accepted, rejected)
                }
            } catch let e as DataError {
                rejected += 1
                if !"\(e)".contains("case \(n)") { Issue.record("case \(n): the error does not name its source: \(e)") }
            } catch {
                Issue.record("case \(n): an untyped error \(error)")
                return (accepted, rejected)
            }
        }
        return (accepted, rejected)
    }

    @Test func mutatedJPEGsDecodeOrThrowTypedErrors() throws {
        let jpeg = try ImageDecoder.encodeJPEG(testImage(width: 40, height: 24, seed: 3), quality: 85)
        let (accepted, rejected) = Self.fuzz(jpeg, magic: [0xFF, 0xD8, 0xFF], cases: 20000, rngSeed: 0x5EED_0001)
        print("JPEG fuzz: \(accepted) accepted, \(rejected) rejected")
        #expect(accepted + rejected == 20000)
        #expect(accepted > 500 && rejected > 1000, "accepted \(accepted), rejected \(rejected)")
    }

    @Test func mutatedPNGsDecodeOrThrowTypedErrors() throws {
        let png = [UInt8](try Data(contentsOf: Fixtures.shared.directory.appendingPathComponent("enc_gray.png")))
        let (accepted, rejected) = Self.fuzz(png, magic: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], cases: 20000,
                                             rngSeed: 0x5EED_0002)
        print("PNG fuzz: \(accepted) accepted, \(rejected) rejected")
        #expect(accepted + rejected == 20000)
        #expect(accepted > 20 && rejected > 1000, "accepted \(accepted), rejected \(rejected)")
    }

    /// The IDX reader (Fashion-MNIST's files, gzip or plain): mutated headers and sizes are `DataError.badIDX` or
    /// `.io` naming the file — including dimensions whose product overflows — and an accepted file holds exactly the
    /// bytes its dimensions declare.
    @Test func mutatedIDXFilesReadOrThrowTypedErrors() throws {
        let dir = TempDir()
        var valid: [UInt8] = [0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]
        valid += (0 ..< 24).map { UInt8($0 * 10) }
        var rng = SampleRNG(key: [0x5EED_0003])
        var accepted = 0, rejected = 0
        let cases = 1500
        for n in 0 ..< cases {
            var bytes = Self.mutate(valid, magic: [0, 0, 0x08, 3], case: n, &rng)
            if n % 7 == 0 && bytes.count >= 16 { // dimensions whose product overflows Int (found a trap here)
                bytes.replaceSubrange(4 ..< 16, with: [UInt8](repeating: 0xFF, count: 12))
            }
            let path = dir.path + "/case-\(n % 16).idx"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            do {
                let idx = try FashionMNIST.readIDX(path, expectedDims: 3)
                accepted += 1
                #expect(idx.data.count == idx.dims.reduce(1, *) && idx.dims.count == 3, "case \(n): \(idx.dims)")
            } catch let e as DataError {
                rejected += 1
                if !"\(e)".contains(path) { Issue.record("case \(n): the error does not name the file: \(e)") }
            }
        }
        print("IDX fuzz: \(accepted) accepted, \(rejected) rejected")
        #expect(accepted > 50 && rejected > 500, "accepted \(accepted), rejected \(rejected)")
    }
}

extension SampleRNG {
    /// Uniform in 0..<n (0 when n ≤ 1): the mutations' index draws.
    mutating func below(_ n: Int) -> Int { n > 1 ? int(below: n) : 0 }
}
