import Foundation
import MugsModel

/// timm's RandAugment as the Mugs reference configures it (`src/RandAugment.py`, config string
/// `rand-m9-mstd0.5-inc1`): 2 distinct ops drawn uniformly from the 15 "increasing" ops, each applied with
/// probability 0.5 at magnitude N(9, 0.5) clipped to [0, 10]; geometric ops resample with a random choice of
/// bilinear/bicubic and fill with the ImageNet mean colour (124, 116, 104); translations are relative
/// (0.45 × level/10 of the image side). The reference applies it to the whole (flipped) image before the
/// random resized crop.
public struct RandAugment: Sendable {
    public enum Op: String, CaseIterable, Sendable {
        case autoContrast = "AutoContrast", equalize = "Equalize", invert = "Invert", rotate = "Rotate"
        case posterizeIncreasing = "PosterizeIncreasing", solarizeIncreasing = "SolarizeIncreasing"
        case solarizeAdd = "SolarizeAdd", colorIncreasing = "ColorIncreasing"
        case contrastIncreasing = "ContrastIncreasing", brightnessIncreasing = "BrightnessIncreasing"
        case sharpnessIncreasing = "SharpnessIncreasing", shearX = "ShearX", shearY = "ShearY"
        case translateXRel = "TranslateXRel", translateYRel = "TranslateYRel"
    }

    public var numOps = 2
    public var magnitude = 9.0
    public var magnitudeStd = 0.5
    public var opProbability = 0.5
    public var translatePct = 0.45
    public var fill: (UInt8, UInt8, UInt8) = (124, 116, 104)
    public var ops: [Op] = Op.allCases

    public init() {}

    /// Parses timm's config string (`rand-m9-mstd0.5-inc1`; sections m, n, mstd, inc; w is not supported).
    public init(config: String) throws {
        let parts = config.split(separator: "-").map(String.init)
        guard parts.first == "rand" else {
            throw DataError(.badConfig, config, hint: "a RandAugment config starts with 'rand-'")
        }
        var increasing = false
        for part in parts.dropFirst() {
            guard let digit = part.firstIndex(where: { $0.isNumber }) else { continue }
            let key = String(part[..<digit]), value = String(part[digit...])
            switch key {
            case "m": magnitude = Double(value) ?? magnitude
            case "n": numOps = Int(value) ?? numOps
            case "mstd": magnitudeStd = Double(value) ?? magnitudeStd
            case "inc": increasing = (Int(value) ?? 0) != 0
            default: throw DataError(.badConfig, config, hint: "unknown RandAugment section '\(part)'")
            }
        }
        guard increasing else {
            throw DataError(.badConfig, config, hint: "only the increasing op set (inc1) is implemented")
        }
    }

    /// Applies the policy in place; `scratch` is a second image of any size.
    public func apply(_ img: RGBImage, scratch: RGBImage, rng: inout SampleRNG) {
        // np.random.choice(ops, numOps, replace=False): distinct ops, uniformly (partial Fisher–Yates).
        withUnsafeTemporaryAllocation(of: Int.self, capacity: ops.count) { order in
            for i in 0 ..< ops.count { order[i] = i }
            let n = min(numOps, ops.count)
            for k in 0 ..< n {
                let j = k + rng.int(below: ops.count - k)
                order.swapAt(k, j)
            }
            for k in 0 ..< n {
                if opProbability < 1 && rng.uniform() > opProbability { continue }
                var level = magnitude
                if magnitudeStd > 0 { level = magnitude + magnitudeStd * rng.normal() }
                level = min(10, max(0, level))
                apply(ops[order[k]], level: level, img, scratch: scratch, rng: &rng)
            }
        }
    }

    /// One op at a given level (0…10), drawing its sign and resampling filter from `rng`.
    public func apply(_ op: Op, level: Double, _ img: RGBImage, scratch: RGBImage, rng: inout SampleRNG) {
        func negate(_ v: Double) -> Double { rng.uniform() > 0.5 ? -v : v }
        func filter() -> Geometry.Filter { rng.int(below: 2) == 0 ? .bilinear : .bicubic }
        func enhance() -> Double { 1.0 + negate(level / 10 * 0.9) }
        switch op {
        case .autoContrast: ColorOps.autocontrast(img)
        case .equalize: ColorOps.equalize(img)
        case .invert: ColorOps.invert(img)
        case .rotate:
            let degrees = negate(level / 10 * 30)
            RandAugment.rotate(img, degrees: degrees, filter: filter(), fill: fill, scratch: scratch)
        case .posterizeIncreasing: ColorOps.posterize(img, bits: 4 - Int(level / 10 * 4))
        case .solarizeIncreasing: ColorOps.solarize(img, threshold: 256 - Int(level / 10 * 256))
        case .solarizeAdd: ColorOps.solarizeAdd(img, add: Int(level / 10 * 110))
        case .colorIncreasing: ColorOps.saturation(img, enhance())
        case .contrastIncreasing: ColorOps.contrast(img, enhance())
        case .brightnessIncreasing: ColorOps.brightness(img, enhance())
        case .sharpnessIncreasing: Sharpness.apply(img, factor: enhance(), scratch: scratch)
        case .shearX:
            let f = negate(level / 10 * 0.3)
            RandAugment.affine(img, (1, f, 0, 0, 1, 0), filter: filter(), fill: fill, scratch: scratch)
        case .shearY:
            let f = negate(level / 10 * 0.3)
            RandAugment.affine(img, (1, 0, 0, f, 1, 0), filter: filter(), fill: fill, scratch: scratch)
        case .translateXRel:
            let pixels = negate(level / 10 * translatePct) * Double(img.width)
            RandAugment.affine(img, (1, 0, pixels, 0, 1, 0), filter: filter(), fill: fill, scratch: scratch)
        case .translateYRel:
            let pixels = negate(level / 10 * translatePct) * Double(img.height)
            RandAugment.affine(img, (1, 0, 0, 0, 1, pixels), filter: filter(), fill: fill, scratch: scratch)
        }
    }

    /// `img.transform(img.size, AFFINE, a, resample, fillcolor=fill)` in place.
    public static func affine(_ img: RGBImage, _ a: (Double, Double, Double, Double, Double, Double),
                              filter: Geometry.Filter, fill: (UInt8, UInt8, UInt8), scratch: RGBImage) {
        Geometry.affine(scratch, img, a, filter: filter, fill: fill)
        img.swapContents(with: scratch)
    }

    /// `img.rotate(degrees, resample, fillcolor=fill)` in place (0° is a copy in PIL: unchanged).
    public static func rotate(_ img: RGBImage, degrees: Double, filter: Geometry.Filter, fill: (UInt8, UInt8, UInt8),
                              scratch: RGBImage) {
        var angle = degrees.truncatingRemainder(dividingBy: 360)
        if angle < 0 { angle += 360 }
        if angle == 0 { return }
        let m = Geometry.rotationMatrix(degrees: degrees, width: img.width, height: img.height)
        affine(img, m, filter: filter, fill: fill, scratch: scratch)
    }
}
