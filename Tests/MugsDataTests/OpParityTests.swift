import Foundation
import MugsModel
import Sampling
import Testing
@testable import MugsData

/// Each op against torchvision/PIL/timm outputs at fixed parameters (tools/make_data_fixtures.py).
/// Tolerances (max |Δ| in uint8 levels, documented in docs/DATA.md): 0 for everything reproduced
/// bit-exactly (resize, blends, hue, blur, LUT ops, PIL filters); 1 for the affine transforms, whose
/// rotation matrix rounds cos/sin to 15 decimals the way Python's round() does (we approximate that
/// rounding, which can move a truncation boundary by one level on rare pixels).
@Suite("Data ops vs PIL/torchvision/timm fixtures")
struct OpParityTests {
    let fx = Fixtures.shared

    func check(_ c: Fixtures.Case, _ got: RGBImage, tolerance: Int = 0, maxDiffering: Int = 0) {
        #expect(got.height == c.shape[0] && got.width == c.shape[1], "\(c.file): size \(got.width)×\(got.height)")
        guard got.height == c.shape[0] && got.width == c.shape[1] else { return }
        let (m, n) = compare(got, fx.bytes(c))
        #expect(m <= tolerance && (tolerance == 0 || n <= max(maxDiffering, got.byteCount / 100)),
                "\(c.op) \(c.image) \(c.params): max |Δ| \(m), \(n) of \(got.byteCount) values differ")
    }

    @Test func resizedCrop() {
        let r = Resampler()
        for c in fx.cases("resized_crop") {
            let out = RGBImage()
            r.resizedCrop(out, fx.images[c.image]!, top: c.int("top"), left: c.int("left"), cropHeight: c.int("height"),
                          cropWidth: c.int("width"), outWidth: c.int("size"), outHeight: c.int("size"))
            check(c, out)
        }
    }

    @Test func randomResizedCropFallback() {
        let rrc = RandomResizedCrop(scale: (1.5, 2.0))
        for c in fx.cases("rrc_fallback") {
            let want = fx.floats(c).map { Int($0) }
            var rng = SampleRNG(seed: 1, epoch: 0, index: 0, stream: .augmentation)
            let b = rrc.sample(width: c.int("width"), height: c.int("height"), rng: &rng)
            #expect([b.top, b.left, b.height, b.width] == want, "\(c.params): got \(b), want \(want)")
        }
    }

    @Test func colorJitterOps() {
        for op in ["brightness", "contrast", "saturation", "hue"] {
            for c in fx.cases(op) {
                let img = fx.image(c.image)
                let f = c.double("factor")
                switch op {
                case "brightness": ColorOps.brightness(img, f)
                case "contrast": ColorOps.contrast(img, f)
                case "saturation": ColorOps.saturation(img, f)
                default: ColorOps.hue(img, f)
                }
                check(c, img)
            }
        }
    }

    @Test func grayscaleFlipSolarize() {
        for c in fx.cases("grayscale") { let i = fx.image(c.image); ColorOps.grayscale(i); check(c, i) }
        for c in fx.cases("hflip") { let i = fx.image(c.image); Geometry.flipHorizontal(i); check(c, i) }
        for c in fx.cases("solarize") { let i = fx.image(c.image); ColorOps.solarize(i, threshold: c.int("threshold")); check(c, i) }
    }

    @Test func gaussianBlur() {
        let blur = BoxBlur()
        for c in fx.cases("gaussian_blur") {
            let img = fx.image(c.image)
            blur.gaussian(img, radius: c.double("radius"))
            check(c, img)
        }
    }

    @Test func randAugmentPointOps() {
        let scratch = RGBImage()
        for c in fx.cases.filter({ $0.op.hasPrefix("ra_") }) {
            var img = fx.image(c.image)
            var tolerance = 0
            switch c.op {
            case "ra_autocontrast":
                if c.image == "B" { ColorOps.mapValues(img) { UInt8(60 + $0 / 3) } }
                ColorOps.autocontrast(img)
            case "ra_equalize": ColorOps.equalize(img)
            case "ra_invert": ColorOps.invert(img)
            case "ra_posterize": ColorOps.posterize(img, bits: c.int("bits"))
            case "ra_solarize": ColorOps.solarize(img, threshold: c.int("threshold"))
            case "ra_solarize_add": ColorOps.solarizeAdd(img, add: c.int("add"))
            case "ra_color": ColorOps.saturation(img, c.double("factor"))
            case "ra_contrast": ColorOps.contrast(img, c.double("factor"))
            case "ra_brightness": ColorOps.brightness(img, c.double("factor"))
            case "ra_sharpness": Sharpness.apply(img, factor: c.double("factor"), scratch: scratch)
            default:
                let filter: Geometry.Filter = c.string("filter") == "bilinear" ? .bilinear : .bicubic
                let fill: (UInt8, UInt8, UInt8) = (124, 116, 104)
                let v = c.double("value")
                tolerance = 1
                switch c.op {
                case "ra_rotate":
                    RandAugment.rotate(img, degrees: c.double("degrees"), filter: filter, fill: fill, scratch: scratch)
                case "ra_shear_x": RandAugment.affine(img, (1, v, 0, 0, 1, 0), filter: filter, fill: fill, scratch: scratch)
                case "ra_shear_y": RandAugment.affine(img, (1, 0, 0, v, 1, 0), filter: filter, fill: fill, scratch: scratch)
                case "ra_translate_x_rel":
                    RandAugment.affine(img, (1, 0, v * Double(img.width), 0, 1, 0), filter: filter, fill: fill,
                                       scratch: scratch)
                case "ra_translate_y_rel":
                    RandAugment.affine(img, (1, 0, 0, 0, 1, v * Double(img.height)), filter: filter, fill: fill,
                                       scratch: scratch)
                default:
                    Issue.record("unknown fixture op \(c.op)")
                    img = RGBImage()
                }
            }
            check(c, img, tolerance: tolerance)
        }
    }

    @Test func normalizeAndEval() {
        for c in fx.cases("normalize") + fx.cases("eval") {
            let want = fx.floats(c)
            var got = [Float](repeating: .nan, count: want.count)
            got.withUnsafeMutableBufferPointer { p in
                if c.op == "normalize" {
                    Normalization.imagenet.write(fx.images[c.image]!, to: p.baseAddress!)
                } else {
                    EvalTransform(size: c.int("size")).apply(fx.images[c.image]!, to: p.baseAddress!)
                }
            }
            let maxDiff = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
            #expect(maxDiff <= 1e-6, "\(c.op) \(c.image) \(c.params): max |Δ| \(maxDiff)")
        }
    }

    @Test func decodeMatchesPIL() throws {
        for c in fx.cases("decode") {
            let path = fx.directory.appendingPathComponent(c.string("file")).path
            let img = RGBImage()
            var buffer: [UInt8] = []
            try ImageDecoder.decodeFile(path, into: img, buffer: &buffer)
            check(c, img)
        }
    }
}

/// The fast HSV conversions (tables, exact fmod and round replacements) against a literal transcription of
/// Pillow's `rgb2hsv_row` / `hsv2rgb` over a dense grid of inputs.
@Suite("HSV conversions vs Pillow's formulas")
struct HSVTests {
    static func clip8(_ v: Int) -> UInt8 { UInt8(max(0, min(255, v))) }

    static func referenceRGBToHSV(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> (UInt8, UInt8, UInt8) {
        let maxc = max(r, g, b), minc = min(r, g, b)
        if maxc == minc { return (0, 0, maxc) }
        let cr = Float(maxc - minc), s = cr / Float(maxc)
        let rc = Float(maxc - r) / cr, gc = Float(maxc - g) / cr, bc = Float(maxc - b) / cr
        var h: Float = r == maxc ? bc - gc : (g == maxc ? Float(2.0 + Double(rc) - Double(bc))
                                                         : Float(4.0 + Double(gc) - Double(rc)))
        h = Float(fmod(Double(h) / 6.0 + 1.0, 1.0))
        return (clip8(Int(Double(h) * 255.0)), clip8(Int(Double(s) * 255.0)), maxc)
    }

    static func referenceHSVToRGB(_ h: UInt8, _ s: UInt8, _ v: UInt8) -> (UInt8, UInt8, UInt8) {
        if s == 0 { return (v, v, v) }
        let i = Int(floor(Double(Float(h)) * 6.0 / 255.0))
        let f = Float(Double(Float(h)) * 6.0 / 255.0 - Double(Float(i)))
        let fs = Float(Double(Float(s)) / 255.0)
        let p = clip8(Int(round(Double(Float(v)) * (1.0 - Double(fs)))))
        let q = clip8(Int(round(Double(Float(v)) * (1.0 - Double(fs * f)))))
        let t = clip8(Int(round(Double(Float(v)) * (1.0 - Double(fs) * (1.0 - Double(f))))))
        switch i % 6 {
        case 0: return (v, t, p)
        case 1: return (q, v, p)
        case 2: return (p, v, t)
        case 3: return (p, q, v)
        case 4: return (t, p, v)
        default: return (v, p, q)
        }
    }

    @Test func denseGrid() {
        var mismatches = 0
        for a in stride(from: 0, through: 255, by: 3) {
            for b in stride(from: 0, through: 255, by: 5) {
                for c in 0 ... 255 {
                    let (x, y, z) = (UInt8(a), UInt8(b), UInt8(c))
                    if ColorOps.rgbToHSV(x, y, z) != Self.referenceRGBToHSV(x, y, z) { mismatches += 1 }
                    if ColorOps.rgbToHSV(z, x, y) != Self.referenceRGBToHSV(z, x, y) { mismatches += 1 }
                    if ColorOps.hsvToRGB(x, y, z) != Self.referenceHSVToRGB(x, y, z) { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
    }
}
