/// Dimensions of a timm-style Vision Transformer as the Mugs reference builds it (`src/vision_transformer.py`):
/// qkv bias, LayerNorm eps 1e-6, exact-erf GELU, MLP ratio 4, pre-norm blocks, CLS token, learned position
/// embedding for `imageSize` (interpolated for other input sizes), stochastic depth rate linspace(0, rate, depth).
public struct ViTConfig: Sendable, Equatable {
    /// Embedding dimension C.
    public var embedDim: Int
    public var depth: Int
    /// Attention heads H; C must be a multiple of H.
    public var heads: Int
    public var patchSize: Int
    /// Image side the position embedding is defined for ((imageSize/patchSize)² patches).
    public var imageSize: Int
    public var inChannels = 3
    public var mlpRatio = 4
    /// Mugs relation blocks (`relation_blocks.N.*`), 0 or 1 in practice.
    public var relationBlocks = 0
    /// Stochastic depth: block l drops its residual branches with probability rate·l/(depth−1).
    public var dropPathRate: Double = 0
    public var layerNormEps: Float = 1e-6

    public init(embedDim: Int, depth: Int, heads: Int, patchSize: Int = 16, imageSize: Int = 224,
                relationBlocks: Int = 0, dropPathRate: Double = 0) {
        self.embedDim = embedDim; self.depth = depth; self.heads = heads
        self.patchSize = patchSize; self.imageSize = imageSize
        self.relationBlocks = relationBlocks; self.dropPathRate = dropPathRate
    }

    /// The reference presets: `vit_tiny` (192/12/3), `vit_small` (384/12/6), `vit_base` (768/12/12),
    /// `vit_large` (1024/24/16).
    public static func preset(_ name: String, patchSize: Int = 16, imageSize: Int = 224, relationBlocks: Int = 0,
                              dropPathRate: Double = 0) throws(ViTError) -> ViTConfig {
        let dims: (Int, Int, Int)
        switch name {
        case "vit_tiny": dims = (192, 12, 3)
        case "vit_small": dims = (384, 12, 6)
        case "vit_base": dims = (768, 12, 12)
        case "vit_large": dims = (1024, 24, 16)
        default: throw ViTError.unknownPreset(name)
        }
        let config = ViTConfig(embedDim: dims.0, depth: dims.1, heads: dims.2, patchSize: patchSize,
                               imageSize: imageSize, relationBlocks: relationBlocks, dropPathRate: dropPathRate)
        try config.validate()
        return config
    }

    /// Head dimension D = C/H.
    public var headDim: Int { embedDim / heads }
    /// MLP hidden width.
    public var hidden: Int { embedDim * mlpRatio }
    /// Patches per side of the native grid, and patches N of the position embedding.
    public var gridSize: Int { imageSize / patchSize }
    public var numPatches: Int { gridSize * gridSize }

    /// Drop-path probability of block `l` (timm's `torch.linspace(0, rate, depth)`, computed in Float as torch
    /// does before `.item()`).
    public func dropPathProbability(block l: Int) -> Double {
        guard depth > 1 else { return 0 }
        return Double(Float(dropPathRate) * Float(l) / Float(depth - 1))
    }

    public func validate() throws(ViTError) {
        func positive(_ v: Int, _ field: String) throws(ViTError) {
            if v <= 0 { throw ViTError.invalidConfig(field: field, reason: "must be positive, got \(v)") }
        }
        try positive(embedDim, "embedDim"); try positive(depth, "depth"); try positive(heads, "heads")
        try positive(patchSize, "patchSize"); try positive(imageSize, "imageSize")
        try positive(inChannels, "inChannels"); try positive(mlpRatio, "mlpRatio")
        if embedDim % heads != 0 {
            throw ViTError.invalidConfig(field: "embedDim", reason: "\(embedDim) is not a multiple of heads \(heads)")
        }
        if imageSize < patchSize {
            throw ViTError.invalidConfig(field: "imageSize", reason: "\(imageSize) is smaller than patch \(patchSize)")
        }
        if relationBlocks < 0 { throw ViTError.invalidConfig(field: "relationBlocks", reason: "must be ≥ 0") }
        if !(dropPathRate >= 0 && dropPathRate < 1) {
            throw ViTError.invalidConfig(field: "dropPathRate", reason: "must be in [0, 1), got \(dropPathRate)")
        }
        if !(layerNormEps > 0) { throw ViTError.invalidConfig(field: "layerNormEps", reason: "must be positive") }
    }
}
