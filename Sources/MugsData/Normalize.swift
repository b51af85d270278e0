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
        for c in 0 ..< 3 {
            let mc = channel(mean, c), sc = channel(std, c)
            let o = out + c * n
            for i in 0 ..< n { o[i] = (Float(p[3 * i + c]) / 255 - mc) / sc }
        }
    }

    /// Component c of an RGB triple (no array allocation in the per-crop path).
    @inline(__always)
    public func channel(_ t: (Float, Float, Float), _ c: Int) -> Float { c == 0 ? t.0 : (c == 1 ? t.1 : t.2) }
}
