/// What the Mugs multi-crop augmentation produces and with which parameters (reference
/// `src/multicropdataset.py`, `DataAugmentation`, with `main.py`'s defaults). See docs/DATA.md.
public struct MultiCropConfig: Sendable, Equatable {
    /// Side of the global crops (teacher and student), pixels.
    public var globalSize: Int
    /// Side of the student's local crops, pixels.
    public var localSize: Int
    /// Number of local crops L.
    public var localCount: Int
    /// RandomResizedCrop area range of global crops (`global_crops_scale`).
    public var globalScale: (Double, Double) = (0.25, 1.0)
    /// RandomResizedCrop area range of local crops (`local_crops_scale`).
    public var localScale: (Double, Double) = (0.05, 0.25)
    /// Aspect-ratio range of every RandomResizedCrop.
    public var ratio: (Double, Double) = (3.0 / 4.0, 4.0 / 3.0)
    /// `prob`: an image's student global crops are weak when U(0,1) ≤ prob (else strong); each local crop
    /// draws its own weak/strong the same way.
    public var weakProbability: Double = 0.5
    /// `vanilla_weak_augmentation`: the student's global crops are copies of the teacher's.
    public var vanillaWeak = false
    /// timm RandAugment config of the strong branch.
    public var randAugment = "rand-m9-mstd0.5-inc1"
    /// RandomErasing probability of the strong branch (`re_prob`).
    public var erasingProbability = 0.25
    /// Erase before normalisation, as the reference's default `use_prefetcher=True` does.
    public var erasingInPixelSpace = true
    /// ColorJitter strengths and its RandomApply probability.
    public var brightness = 0.4, contrast = 0.4, saturation = 0.2, hue = 0.1
    public var jitterProbability = 0.8
    public var grayscaleProbability = 0.2
    /// GaussianBlur radius range (PIL radius = σ).
    public var blurRadius: (Double, Double) = (0.1, 2.0)
    /// Blur probability of the first/second global weak crop and of weak local crops.
    public var blurProbability: (first: Double, second: Double, local: Double) = (1.0, 0.1, 0.5)
    /// Solarization probability of the second global weak crop.
    public var solarizeProbability = 0.2
    /// Horizontal flip probability (weak and strong).
    public var flipProbability = 0.5
    public var normalization = Normalization.imagenet
    /// Decode large JPEGs with libjpeg DCT scaling (1/2, 1/4, 1/8) when even the smallest crop would still
    /// be downscaled by ≥ 2× per side; see `decodeScaleHint`.
    public var dctScaling = true

    public init(globalSize: Int, localSize: Int, localCount: Int) {
        self.globalSize = globalSize
        self.localSize = localSize
        self.localCount = localCount
    }

    /// The paper's crops: 2 + 2 global 224 px, 10 local 96 px.
    public static let paper = MultiCropConfig(globalSize: 224, localSize: 96, localCount: 10)
    /// The CPU Fashion-MNIST preset: global 32 px, 6 local 16 px.
    public static let cpuFashionMNIST = MultiCropConfig(globalSize: 32, localSize: 16, localCount: 6)

    /// The smallest image area (pixels) for which no crop would be upsampled by a factor ≥ ½ per side:
    /// the decoder may shrink an image by 1/d as long as (W/d)·(H/d) stays at least this.
    public var decodeMinimumArea: Int {
        let g = Double(globalSize) * Double(globalSize) / globalScale.0
        let l = localCount > 0 ? Double(localSize) * Double(localSize) / localScale.0 : 0
        return Int(4 * max(g, l))
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.globalSize == b.globalSize && a.localSize == b.localSize && a.localCount == b.localCount
            && a.globalScale == b.globalScale && a.localScale == b.localScale && a.ratio == b.ratio
            && a.weakProbability == b.weakProbability && a.vanillaWeak == b.vanillaWeak
            && a.randAugment == b.randAugment && a.erasingProbability == b.erasingProbability
            && a.erasingInPixelSpace == b.erasingInPixelSpace && a.brightness == b.brightness
            && a.contrast == b.contrast && a.saturation == b.saturation && a.hue == b.hue
            && a.jitterProbability == b.jitterProbability && a.grayscaleProbability == b.grayscaleProbability
            && a.blurRadius == b.blurRadius && a.blurProbability == b.blurProbability
            && a.solarizeProbability == b.solarizeProbability && a.flipProbability == b.flipProbability
            && a.normalization == b.normalization && a.dctScaling == b.dctScaling
    }
}
