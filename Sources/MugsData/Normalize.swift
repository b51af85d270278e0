import MugsModel

/// `ToTensor()` + `Normalize(mean, std)`: uint8 HWC → float32 CHW, (v/255 − mean[c]) / std[c] in float32
/// as torch computes it.
public struct Normalization: Sendable, Equatable {
    public var mean: (Float, Float, Float)
    public var std: (Float, Float, Float)

    /// ImageNet statistics (timm `IMAGENET_DEFAULT_MEAN/STD`).
    public static let imagenet = Normalization(mean: (0.485, 0.456, 0.406), std: (0.229, 0.224, 0.225))

    public init(mean: (Float, Float, Float), std: (Float, Float, Float)) {
        self.mean = mean
        self.std = std
    }

    public static func == (a: Self, b: Self) -> Bool { a.mean == b.mean && a.std == b.std }

    /// Writes `img` (S × S) as planar normalised floats to `out` (3·S·S values).
    public func write(_ img: RGBImage, to out: UnsafeMutablePointer<Float>) {
        let n = img.width * img.height
        let p = img.pixels
        let m = [mean.0, mean.1, mean.2], s = [std.0, std.1, std.2]
        for c in 0 ..< 3 {
            let mc = m[c], sc = s[c]
            let o = out + c * n
            for i in 0 ..< n { o[i] = (Float(p[3 * i + c]) / 255 - mc) / sc }
        }
    }
}

/// timm's `RandomErasing(probability, mode='pixel', max_count=1)` on one normalised CHW crop: with
/// probability p, up to 10 tries of area ~ U(0.02, 1/3)·HW and aspect ~ exp(U(log 0.3, log 1/0.3)); the
/// first box that fits is filled with per-pixel N(0, 1) noise.
///
/// `inPixelSpace`: the reference runs with `use_prefetcher=True`, where erasing happens on the [0, 1] tensor
/// *before* normalisation (the prefetcher normalises later), so the stored value is (z − mean)/std; with
/// `false` the noise is written directly in normalised space (timm's own usage).
public struct RandomErasing: Sendable {
    public var probability = 0.25
    public var minArea = 0.02, maxArea = 1.0 / 3.0
    public var minAspect = 0.3
    public var inPixelSpace = true

    public init(probability: Double = 0.25, inPixelSpace: Bool = true) {
        self.probability = probability
        self.inPixelSpace = inPixelSpace
    }

    /// Returns the erased box (top, left, h, w) or nil.
    @discardableResult
    public func apply(_ out: UnsafeMutablePointer<Float>, size: Int, normalization: Normalization,
                      rng: inout SampleRNG) -> RandomResizedCrop.Box? {
        if rng.uniform() > probability { return nil }
        let area = Double(size * size)
        let lo = Foundation.log(minAspect), hi = Foundation.log(1 / minAspect)
        for _ in 0 ..< 10 {
            let target = rng.uniform(minArea, maxArea) * area
            let aspect = Foundation.exp(rng.uniform(lo, hi))
            let h = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w < size && h < size {
                let top = rng.int(below: size - h + 1), left = rng.int(below: size - w + 1)
                let m = [normalization.mean.0, normalization.mean.1, normalization.mean.2]
                let s = [normalization.std.0, normalization.std.1, normalization.std.2]
                for c in 0 ..< 3 {
                    let plane = out + c * size * size
                    for y in top ..< top + h {
                        for x in left ..< left + w {
                            let z = Float(rng.normal())
                            plane[y * size + x] = inPixelSpace ? (z - m[c]) / s[c] : z
                        }
                    }
                }
                return RandomResizedCrop.Box(top: top, left: left, height: h, width: w)
            }
        }
        return nil
    }
}

import Foundation
