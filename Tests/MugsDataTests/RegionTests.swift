import Foundation
import MugsModel
import Sampling
import Testing
@testable import MugsData

/// The strong branch computes RandAugment only where the crop reads; it must equal the whole-image
/// computation the reference performs, exactly.
@Suite("RandAugment on the crop's region only == on the whole image")
struct RegionTests {
    @Test func everyOpOnRegions() {
        let ra = RandAugment()
        let src = Fixtures.shared.image("C") // 130 × 97
        var rng = SampleRNG(key: [99])
        for op in RandAugment.Op.allCases {
            for trial in 0 ..< 12 {
                let p = RandAugment.Planned(op: op, level: rng.uniform(0, 10), negate: trial % 2 == 0,
                                            filter: trial % 4 < 2 ? .bilinear : .bicubic)
                let x0 = rng.int(below: 120), y0 = rng.int(below: 90)
                let out = Region(x0: x0, y0: y0, x1: x0 + 1 + rng.int(below: 130 - x0), y1: y0 + 1 + rng.int(below: 97 - y0))
                let need = ra.inputRegion(p, output: out, width: src.width, height: src.height)
                let whole = RGBImage(), part = RGBImage(), s1 = RGBImage(), s2 = RGBImage()
                whole.copy(from: src)
                ra.apply(p, whole, scratch: s1, region: .full(src.width, src.height))
                // Only `need` of the input is valid: poison everything else.
                part.copy(from: src)
                for y in 0 ..< src.height {
                    for x in 0 ..< src.width where !(x >= need.x0 && x < need.x1 && y >= need.y0 && y < need.y1) {
                        for c in 0 ..< 3 { part.pixels[(y * src.width + x) * 3 + c] = UInt8((x * 13 + y * 7 + c) & 255) }
                    }
                }
                ra.apply(p, part, scratch: s2, region: out)
                var bad = 0
                for y in out.y0 ..< out.y1 {
                    for i in out.x0 * 3 ..< out.x1 * 3 where whole.pixels[y * src.width * 3 + i] != part.pixels[y * src.width * 3 + i] {
                        bad += 1
                    }
                }
                #expect(bad == 0, "\(op) level \(p.level) \(p.filter) on \(out) (input \(need)): \(bad) values differ")
            }
        }
    }

    @Test func strongCropsMatchWholeImagePath() throws {
        for config in [MultiCropConfig.cpuFashionMNIST, MultiCropConfig(globalSize: 48, localSize: 24, localCount: 2)] {
            let aug = try MultiCropAugmenter(config: config)
            for name in ["A", "C"] {
                let img = Fixtures.shared.image(name)
                for seed in 0 ..< 150 {
                    for (box, size) in [(aug.globalCrop, config.globalSize), (aug.localCrop, config.localSize)] {
                        var a = [Float](repeating: 0, count: 3 * size * size), b = a
                        var r1 = SampleRNG(key: [UInt64(seed), 1]), r2 = r1
                        a.withUnsafeMutableBufferPointer { aug.strongCrop(img, box: box, size: size, rng: &r1, to: $0.baseAddress!) }
                        b.withUnsafeMutableBufferPointer {
                            aug.strongCropFullImage(img, box: box, size: size, rng: &r2, to: $0.baseAddress!)
                        }
                        #expect(a == b, "image \(name) seed \(seed) size \(size)")
                    }
                }
            }
        }
    }
}
