import SafeTensors

/// A ViT backbone loaded from safetensors weights for feature extraction: the [CLS] token after the final norm,
/// in evaluation mode (no drop path) — the feature DINO/Mugs kNN evaluation uses and `mugs embed` writes.
///
/// The backbone is found in the file by `BackboneWeights` (plain timm names, optionally under a prefix such as
/// `teacher.backbone.`). Embedding dim, patch size, depth and the native image size (from `pos_embed`) are checked
/// against the architecture before anything is loaded; each mismatch is an error that names the tensor and both
/// values. The number of heads cannot be read from the weights (qkv is [3C, C] for any head count); it comes from
/// the architecture.
public final class BackboneEmbedder {
    public let vit: VisionTransformer
    public let params: ParameterBuffer
    /// The prefix the backbone was found under ("" for plain timm names).
    public let prefix: String

    /// Loads the backbone of `architecture` (its embedDim, depth, heads, patchSize, mlpRatio, inChannels; the
    /// image size is taken from `pos_embed`) from `weights`. `name` is the architecture's name for messages.
    public init(weights: SafeTensorsFile, architecture: ViTConfig, name: String = "the architecture",
                prefix: String? = nil) throws(EmbedError) {
        let file = weights.path
        let found = try BackboneWeights(weights, prefix: prefix, inChannels: architecture.inChannels)
        let prefix = found.prefix
        let C = architecture.embedDim, P = architecture.patchSize
        func shape(_ key: String) -> [Int] { weights.shape(of: prefix + key) ?? [] }  // present: `found` checked it
        guard found.embedDim == C else {
            throw EmbedError(.weights, "\(file): the weights have embedding dim \(found.embedDim) "
                             + "('\(prefix)cls_token' is \(shape("cls_token"))) but \(name) has \(C)")
        }
        guard found.patchSize == P else {
            throw EmbedError(.weights, "\(file): the weights use patch size \(found.patchSize) ('\(prefix)"
                             + "patch_embed.proj.weight' is \(shape("patch_embed.proj.weight"))) but the patch size "
                             + "given is \(P)")
        }
        guard found.depth == architecture.depth else {
            throw EmbedError(.weights, "\(file): the weights have \(found.depth) blocks under '\(prefix)blocks.' "
                             + "but \(name) has depth \(architecture.depth)")
        }
        var config = architecture
        config.imageSize = found.imageSize
        config.relationBlocks = 0
        config.dropPathRate = 0
        do {
            vit = try VisionTransformer(config: config)
        } catch {
            throw EmbedError(.configuration, "\(name): \(error)")
        }
        params = ParameterBuffer(layout: vit.layout)
        do throws(SafeTensorsError) {
            try weights.load(into: params, prefix: prefix)
        } catch {
            throw EmbedError(.weights, error.description)
        }
        self.prefix = prefix
    }

    /// The backbone part of a network's parameters — a training network's teacher or student `ParameterBuffer`,
    /// whose backbone tensors carry the plain timm names — loaded through the same checks as a file (online kNN,
    /// the random-network baseline). `name` names the weights in messages.
    public convenience init(parameters: ParameterBuffer, architecture: ViTConfig, name: String) throws(EmbedError) {
        var plain = architecture
        plain.relationBlocks = 0
        let names = Set(plain.makeLayout().specs.map(\.name))
        let file: SafeTensorsFile
        do throws(SafeTensorsError) {
            let bytes = try SafeTensors.encode(tensors: parameters.safeTensorsEntries().filter { names.contains($0.name) })
            file = try SafeTensors.parse(bytes: bytes, name: name)
        } catch {
            throw EmbedError(.weights, error.description)
        }
        try self.init(weights: file, architecture: architecture, name: name, prefix: "")
    }

    /// Native input size of the position embedding, in pixels.
    public var imageSize: Int { vit.config.imageSize }
    public var embedDim: Int { vit.config.embedDim }

    /// CLS features (N, C) of images (N, Cin, H, W), `batch` images per forward. H and W must be multiples of the
    /// patch size (any multiple: the position embedding is interpolated as the reference does).
    public func embed(images: UnsafePointer<Float>, N: Int, H: Int, W: Int, batch: Int,
                      pool: ComputePool) throws(EmbedError) -> [Float] {
        var features = [Float](repeating: 0, count: N * embedDim)
        try features.withUnsafeMutableBufferPointer { (out) throws(EmbedError) in
            try run(N: N, H: H, W: W, batch: batch, pool: pool, out: out.baseAddress!) { start, _ in
                UnsafePointer(images + start * vit.config.inChannels * H * W)
            }
        }
        return features
    }

    /// CLS features (N, C) of the tensor `name` ([N, Cin, H, W], F32/F16/BF16) of `input`, read one batch at a
    /// time. `progress(done, N)` is called after each batch.
    public func embed(input: SafeTensorsFile, name: String = "images", batch: Int, pool: ComputePool,
                      progress: ((Int, Int) -> Void)? = nil) throws(EmbedError) -> HostTensor {
        guard let shape = input.shape(of: name) else {
            let names = input.names.prefix(8).joined(separator: ", ")
            throw EmbedError(.input, "\(input.path): no tensor '\(name)' (the images to embed, "
                             + "[N, \(vit.config.inChannels), H, W]); the file has: "
                             + (names.isEmpty ? "no tensors" : names))
        }
        guard shape.count == 4, shape[0] >= 1, shape[1] == vit.config.inChannels else {
            throw EmbedError(.input, "\(input.path): '\(name)' has shape \(shape), expected [N ≥ 1, "
                             + "\(vit.config.inChannels), H, W]")
        }
        let (N, H, W) = (shape[0], shape[2], shape[3])
        let perImage = vit.config.inChannels * H * W
        try checkGeometry(H: H, W: W, what: "\(input.path): '\(name)' \(shape)")
        let B = min(batch, N)
        var staging = [Float](repeating: 0, count: B * perImage)
        var features = [Float](repeating: 0, count: N * embedDim)
        try staging.withUnsafeMutableBufferPointer { (stage) throws(EmbedError) in
            try features.withUnsafeMutableBufferPointer { (out) throws(EmbedError) in
                try run(N: N, H: H, W: W, batch: batch, pool: pool, out: out.baseAddress!,
                        progress: progress) { (start, b) throws(EmbedError) in
                    let slice = UnsafeMutableBufferPointer(rebasing: stage[0 ..< b * perImage])
                    do throws(SafeTensorsError) {
                        try input.read(name, elements: start * perImage ..< (start + b) * perImage, into: slice)
                    } catch {
                        throw EmbedError(.file, error.description)
                    }
                    return UnsafePointer(stage.baseAddress!)
                }
            }
        }
        return HostTensor(shape: [N, embedDim], data: features)
    }

    private func checkGeometry(H: Int, W: Int, what: String) throws(EmbedError) {
        let P = vit.config.patchSize
        guard H >= P, W >= P, H % P == 0, W % P == 0 else {
            throw EmbedError(.input, "\(what): height \(H) and width \(W) must be positive multiples of the patch "
                             + "size \(P)")
        }
    }

    /// Forward of every batch: `images(start, b)` gives the b images from index `start`; CLS rows go to `out`.
    private func run(N: Int, H: Int, W: Int, batch: Int, pool: ComputePool, out: UnsafeMutablePointer<Float>,
                     progress: ((Int, Int) -> Void)? = nil,
                     images: (Int, Int) throws(EmbedError) -> UnsafePointer<Float>) throws(EmbedError) {
        guard batch >= 1 else { throw EmbedError(.configuration, "batch must be ≥ 1, got \(batch)") }
        guard N >= 1 else { throw EmbedError(.input, "no images to embed (N = 0)") }
        try checkGeometry(H: H, W: W, what: "images \(H)×\(W)")
        let C = embedDim
        var acts: [Int: ViTActivations] = [:]  // by batch size: the full one and the last, smaller one
        var start = 0
        while start < N {
            let b = min(batch, N - start)
            let a: ViTActivations
            if let cached = acts[b] { a = cached } else {
                do { a = try vit.makeActivations(B: b, Hi: H, Wi: W, pool: pool) } catch {
                    throw EmbedError(.input, "images \(H)×\(W): \(error)")
                }
                a.disableDropPath()
                acts[b] = a
            }
            let x = try images(start, b)
            vit.forward(images: x, params: params, acts: a, pool: pool)
            // features(start + i, C) = output(i, token 0, C)
            for i in 0 ..< b {
                (out + (start + i) * C).update(from: a.output.pointer + i * a.T * C, count: C)
            }
            start += b
            progress?(start, N)
        }
    }
}
