import Foundation
import MugsModel
import Sampling

/// torchvision's `RandomResizedCrop.get_params`: up to 10 tries of (area fraction ~ U(scale),
/// aspect ~ exp(U(log ratio))), w = round(√(A·r)), h = round(√(A/r)) with Python's round-half-even, accepted
/// when it fits, at a uniform position; else the central crop clamped to the ratio range.
public struct RandomResizedCrop: Sendable, Equatable {
    public var scale: (Double, Double)
    public var ratio: (Double, Double)

    public init(scale: (Double, Double), ratio: (Double, Double) = (3.0 / 4.0, 4.0 / 3.0)) {
        self.scale = scale
        self.ratio = ratio
    }

    public static func == (a: Self, b: Self) -> Bool { a.scale == b.scale && a.ratio == b.ratio }

    /// A crop box in pixels.
    public struct Box: Sendable, Equatable {
        public var top: Int, left: Int, height: Int, width: Int
        public init(top: Int, left: Int, height: Int, width: Int) {
            self.top = top; self.left = left; self.height = height; self.width = width
        }
    }

    public func sample(width: Int, height: Int, rng: inout SampleRNG) -> Box {
        let area = Double(height * width)
        let logLo = Foundation.log(ratio.0), logHi = Foundation.log(ratio.1)
        for _ in 0 ..< 10 {
            let targetArea = area * rng.uniform(scale.0, scale.1)
            let aspect = Foundation.exp(rng.uniform(logLo, logHi))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let i = rng.int(below: height - h + 1)
                let j = rng.int(below: width - w + 1)
                return Box(top: i, left: j, height: h, width: w)
            }
        }
        return fallback(width: width, height: height)
    }

    /// The deterministic fallback after 10 failed tries.
    public func fallback(width: Int, height: Int) -> Box {
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < min(ratio.0, ratio.1) {
            w = width
            h = Int((Double(w) / min(ratio.0, ratio.1)).rounded(.toNearestOrEven))
        } else if inRatio > max(ratio.0, ratio.1) {
            h = height
            w = Int((Double(h) * max(ratio.0, ratio.1)).rounded(.toNearestOrEven))
        }
        return Box(top: (height - h) / 2, left: (width - w) / 2, height: h, width: w)
    }
}
