import Sampling
/// Everything a `VisionTransformer` forward keeps for its backward, and the backward's temporaries, for one
/// planned input shape (B images of Cin × Hi × Wi). Allocated once per (batch, image size) and reused each step;
/// the teacher and each crop size get their own instance.
public final class ViTActivations: @unchecked Sendable {
    public let B: Int, Hi: Int, Wi: Int
    /// Tokens per image: 1 + patches.
    public let T: Int
    public let C: Int
    public let geometry: PatchGeometry
    let interpolation: PosEmbedInterpolation
    /// im2col of the images (B·Np, K) and the patch embeddings (B·Np, C).
    let cols: FloatStorage, patchTokens: FloatStorage
    /// The (possibly interpolated) position embedding for this input size (T, C).
    let position: FloatStorage
    /// Input tokens of block 0 (B, T, C).
    public let embedded: FloatStorage
    let blocks: [BlockActivations]
    /// Final norm statistics (B·T) and its output (B, T, C): the backbone's normed tokens.
    let normMean: FloatStorage, normRstd: FloatStorage
    public let output: FloatStorage
    /// Drop-path scale per block, branch (attention, MLP) and sample: (depth, 2, B).
    let pathScale: FloatStorage
    var dropPathActive = false
    // Backward temporaries.
    let scratch: BlockScratch
    let dTokensA: FloatStorage, dTokensB: FloatStorage
    let dPatchTokens: FloatStorage, dPosition: FloatStorage
    private(set) var dCols: FloatStorage?

    /// Plans buffers for `B` images of `Hi`×`Wi` pixels.
    public init(vit: VisionTransformer, B: Int, Hi: Int, Wi: Int, pool: ComputePool) throws(ViTError) {
        let cfg = vit.config
        guard B > 0 else { throw ViTError.invalidConfig(field: "batch", reason: "must be positive, got \(B)") }
        guard Hi >= cfg.patchSize, Wi >= cfg.patchSize else {
            throw ViTError.imageTooSmall(height: Hi, width: Wi, patch: cfg.patchSize)
        }
        self.B = B; self.Hi = Hi; self.Wi = Wi; C = cfg.embedDim
        geometry = PatchGeometry(B: B, Cin: cfg.inChannels, Hi: Hi, Wi: Wi, P: cfg.patchSize)
        interpolation = try PosEmbedInterpolation(N: cfg.numPatches, Hi: Hi, Wi: Wi, P: cfg.patchSize)
        let Np = geometry.Np, T = 1 + Np, C = cfg.embedDim
        self.T = T
        cols = FloatStorage(B * Np * geometry.K); patchTokens = FloatStorage(B * Np * C)
        position = FloatStorage(T * C)
        embedded = FloatStorage(B * T * C)
        blocks = vit.blocks.map { $0.makeActivations(B: B, T: T) }
        normMean = FloatStorage(B * T); normRstd = FloatStorage(B * T)
        output = FloatStorage(B * T * C)
        pathScale = FloatStorage(cfg.depth * 2 * B)
        scratch = BlockScratch(B: B, T: T, C: C, F: cfg.hidden, threads: pool.threads)
        dTokensA = FloatStorage(B * T * C); dTokensB = FloatStorage(B * T * C)
        dPatchTokens = FloatStorage(B * Np * C); dPosition = FloatStorage(T * C)
    }

    /// The last block's output, before the final norm (B, T, C).
    public var preNorm: UnsafeMutablePointer<Float> { blocks[blocks.count - 1].output.pointer }

    /// Scratch for the input-image gradient, allocated on first use.
    func dColsStorage() -> FloatStorage {
        if let dCols { return dCols }
        let s = FloatStorage(B * geometry.Np * geometry.K)
        dCols = s
        return s
    }

    /// No stochastic depth (evaluation, the teacher).
    public func disableDropPath() { dropPathActive = false }

    /// Draws drop-path masks from per-sample seeds: block l of sample b uses `SampleRNG(key: [seed_b, l])`, first
    /// draw for the attention branch, second for the MLP branch (the reference calls its `DropPath` module twice
    /// per block, drawing independently), keeping with probability 1 − p_l; kept samples scale by 1/(1 − p_l).
    /// The masks depend only on the sample's seed, never on the batch it is in.
    public func setDropPath(seeds: [UInt64], config: ViTConfig) {
        precondition(seeds.count == B, "need one seed per sample: \(seeds.count) vs batch \(B)")
        for l in 0 ..< config.depth {
            let p = config.dropPathProbability(block: l), keep = 1 - p
            let scale = Float(1) / Float(keep)
            for b in 0 ..< B {
                var rng = SampleRNG(key: [seeds[b], UInt64(l)])
                for branch in 0 ..< 2 {
                    let kept = p == 0 || rng.uniform() < keep
                    pathScale.pointer[(l * 2 + branch) * B + b] = kept ? scale : 0
                }
            }
        }
        dropPathActive = true
    }

    /// Sets an explicit keep mask (depth, B) of 0/1, applied to both branches of a block (parity tests against a
    /// PyTorch run with the same mask). Blocks with drop probability 0 have no drop path, as in the reference.
    public func setDropPath(keepMask: [Float], config: ViTConfig) throws(ViTError) {
        guard keepMask.count == config.depth * B else {
            throw ViTError.shapeMismatch(what: "drop-path keep mask", expected: [config.depth, B],
                                         got: [keepMask.count])
        }
        for l in 0 ..< config.depth {
            let p = config.dropPathProbability(block: l)
            let scale = Float(1) / Float(1 - p)
            for b in 0 ..< B {
                let s: Float = p == 0 ? 1 : keepMask[l * B + b] * scale
                pathScale.pointer[(l * 2) * B + b] = s
                pathScale.pointer[(l * 2 + 1) * B + b] = s
            }
        }
        dropPathActive = true
    }

    /// Sets explicit per-branch keep masks (depth, 2, B) of 0/1 — axis 1: branch 0 attention, 1 MLP — as the
    /// parity fixtures store them (`keep.K`). Blocks with drop probability 0 always keep, as in the reference.
    public func setDropPath(branchKeepMask mask: [Float], config: ViTConfig) throws(ViTError) {
        guard mask.count == config.depth * 2 * B else {
            throw ViTError.shapeMismatch(what: "drop-path keep mask", expected: [config.depth, 2, B],
                                         got: [mask.count])
        }
        for l in 0 ..< config.depth {
            let p = config.dropPathProbability(block: l)
            let scale = Float(1) / Float(1 - p)
            for i in (l * 2) * B ..< (l * 2 + 2) * B { pathScale.pointer[i] = p == 0 ? 1 : mask[i] * scale }
        }
        dropPathActive = true
    }

    /// Per-sample scales (B) of block l's branch (0 attention, 1 MLP), or nil without drop path.
    func scales(block l: Int, branch: Int, config: ViTConfig) -> UnsafePointer<Float>? {
        guard dropPathActive, config.dropPathProbability(block: l) > 0 else { return nil }
        return UnsafePointer(pathScale.pointer + (l * 2 + branch) * B)
    }
}
