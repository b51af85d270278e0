import Foundation
import MugsModel
import Sampling

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
                for c in 0 ..< 3 {
                    let plane = out + c * size * size
                    let mc = normalization.channel(normalization.mean, c), sc = normalization.channel(normalization.std, c)
                    for y in top ..< top + h {
                        for x in left ..< left + w {
                            let z = Float(rng.normal())
                            plane[y * size + x] = inPixelSpace ? (z - mc) / sc : z
                        }
                    }
                }
                return RandomResizedCrop.Box(top: top, left: left, height: h, width: w)
            }
        }
        return nil
    }
}
