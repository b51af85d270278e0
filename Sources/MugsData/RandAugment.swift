import Foundation
import MugsModel
import Sampling

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

    /// One drawn op: which, at what level, with which sign and resampling filter.
    public struct Planned: Sendable, Equatable {
        public var op: Op
        public var level: Double
        public var negate: Bool
        public var filter: Geometry.Filter
    }

    /// Draws the policy for one image: 2 distinct ops (np.random.choice without replacement), each kept with
    /// probability 0.5, its level N(m, mstd) clipped to [0, 10], a random sign and a random bilinear/bicubic.
    public func plan(rng: inout SampleRNG) -> [Planned] {
        var out: [Planned] = []
        withUnsafeTemporaryAllocation(of: Int.self, capacity: ops.count) { order in
            for i in 0 ..< ops.count { order[i] = i }
            let n = min(numOps, ops.count)
            for k in 0 ..< n { order.swapAt(k, k + rng.int(below: ops.count - k)) }
            for k in 0 ..< n {
                if opProbability < 1 && rng.uniform() > opProbability { continue }
                var level = magnitude
                if magnitudeStd > 0 { level = magnitude + magnitudeStd * rng.normal() }
                level = min(10, max(0, level))
                let negate = rng.uniform() > 0.5
                let filter: Geometry.Filter = rng.int(below: 2) == 0 ? .bilinear : .bicubic
                out.append(Planned(op: ops[order[k]], level: level, negate: negate, filter: filter))
            }
        }
        return out
    }

    /// Applies the policy in place to the whole image; `scratch` is a second image of any size.
    public func apply(_ img: RGBImage, scratch: RGBImage, rng: inout SampleRNG) {
        for p in plan(rng: &rng) { apply(p, img, scratch: scratch, region: .full(img.width, img.height)) }
    }

    /// The affine matrix of a geometric op on a `width` × `height` image, nil for the others.
    public func matrix(_ p: Planned, width: Int, height: Int) -> (Double, Double, Double, Double, Double, Double)? {
        let sign: Double = p.negate ? -1 : 1
        switch p.op {
        case .rotate:
            var angle = (sign * p.level / 10 * 30).truncatingRemainder(dividingBy: 360)
            if angle < 0 { angle += 360 }
            if angle == 0 { return nil } // PIL: a copy
            return Geometry.rotationMatrix(degrees: sign * p.level / 10 * 30, width: width, height: height)
        case .shearX: return (1, sign * p.level / 10 * 0.3, 0, 0, 1, 0)
        case .shearY: return (1, 0, 0, sign * p.level / 10 * 0.3, 1, 0)
        case .translateXRel: return (1, 0, sign * p.level / 10 * translatePct * Double(width), 0, 1, 0)
        case .translateYRel: return (1, 0, 0, 0, 1, sign * p.level / 10 * translatePct * Double(height))
        default: return nil
        }
    }

    /// The region of its input that op `p` reads to produce `output` correctly.
    public func inputRegion(_ p: Planned, output: Region, width: Int, height: Int) -> Region {
        switch p.op {
        case .autoContrast, .equalize, .contrastIncreasing: return .full(width, height) // whole-image statistics
        case .sharpnessIncreasing: return output.expanded(by: 1, width: width, height: height)
        case .rotate, .shearX, .shearY, .translateXRel, .translateYRel:
            guard let m = matrix(p, width: width, height: height) else { return output }
            return Geometry.sourceRegion(of: output, m, width: width, height: height)
        default: return output
        }
    }

    /// Applies a planned op so that `region` of the result is exact (elsewhere it is unspecified).
    public func apply(_ p: Planned, _ img: RGBImage, scratch: RGBImage, region: Region) {
        let sign: Double = p.negate ? -1 : 1
        let enhance = 1.0 + sign * (p.level / 10 * 0.9)
        switch p.op {
        case .autoContrast: ColorOps.autocontrast(img, region: region)
        case .equalize: ColorOps.equalize(img, region: region)
        case .invert: ColorOps.invert(img, region: region)
        case .posterizeIncreasing: ColorOps.posterize(img, bits: 4 - Int(p.level / 10 * 4), region: region)
        case .solarizeIncreasing: ColorOps.solarize(img, threshold: 256 - Int(p.level / 10 * 256), region: region)
        case .solarizeAdd: ColorOps.solarizeAdd(img, add: Int(p.level / 10 * 110), region: region)
        case .colorIncreasing: ColorOps.saturation(img, enhance, region: region)
        case .contrastIncreasing: ColorOps.contrast(img, enhance, region: region)
        case .brightnessIncreasing: ColorOps.brightness(img, enhance, region: region)
        case .sharpnessIncreasing: Sharpness.apply(img, factor: enhance, scratch: scratch, region: region)
        case .rotate, .shearX, .shearY, .translateXRel, .translateYRel:
            guard let m = matrix(p, width: img.width, height: img.height) else { return }
            Geometry.affine(scratch, img, m, filter: p.filter, fill: fill, region: region)
            img.swapContents(with: scratch)
        }
    }

    /// Where each step of a drawn policy must be exact for `output` of the final image to be: `regions[0]` is
    /// the part of the input that must be valid, `regions[k + 1]` the part of op k's result that must be exact
    /// (whole-image statistics force the whole image; geometric ops read a mapped-back box).
    public func regions(_ plan: [Planned], output: Region, width: Int, height: Int) -> [Region] {
        var regions = [Region](repeating: output, count: plan.count + 1)
        var need = output
        for k in stride(from: plan.count - 1, through: 0, by: -1) {
            regions[k + 1] = need
            need = inputRegion(plan[k], output: need, width: width, height: height)
        }
        regions[0] = need
        return regions
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
