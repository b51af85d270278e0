/// The Vision Transformer backbone of Mugs (sail-sg/mugs `src/vision_transformer.py`, timm-compatible names):
///
///     x   = [cls; patch_embed(images)] + interpolate_pos_encoding(pos_embed)
///     x   = blocks[depth−1](… blocks[0](x))          → preNorm
///     out = norm(x)                                  → output
///
/// A value type holding the configuration, the parameter layout and the blocks' views; parameters, gradients
/// and activations live in buffers the caller owns (`ParameterBuffer`, `ViTActivations`). The Mugs relation block
/// (`relation_blocks.0`, when configured) is exposed as `relationBlock` for the caller to run on its own tokens.
public struct VisionTransformer: Sendable {
    public let config: ViTConfig
    public let layout: ParameterLayout
    public let blocks: [TransformerBlock]
    public let relationBlocks: [TransformerBlock]
    let clsToken: Int, posEmbed: Int, patchW: Int, patchB: Int, normW: Int, normB: Int

    public init(config: ViTConfig) throws(ViTError) {
        try config.validate()
        self.config = config
        let layout = config.makeLayout()
        self.layout = layout
        var blocks: [TransformerBlock] = []
        for l in 0 ..< config.depth {
            blocks.append(try TransformerBlock(layout: layout, prefix: "blocks.\(l).", heads: config.heads,
                                               eps: config.layerNormEps))
        }
        var relation: [TransformerBlock] = []
        for r in 0 ..< config.relationBlocks {
            relation.append(try TransformerBlock(layout: layout, prefix: "relation_blocks.\(r).",
                                                 heads: config.heads, eps: config.layerNormEps))
        }
        self.blocks = blocks
        relationBlocks = relation
        func offset(_ name: String) -> Int { layout.offset(of: name)! }
        clsToken = offset("cls_token"); posEmbed = offset("pos_embed")
        patchW = offset("patch_embed.proj.weight"); patchB = offset("patch_embed.proj.bias")
        normW = offset("norm.weight"); normB = offset("norm.bias")
    }

    /// Buffers for B images of Hi×Wi pixels.
    public func makeActivations(B: Int, Hi: Int, Wi: Int, pool: ComputePool) throws(ViTError) -> ViTActivations {
        try ViTActivations(vit: self, B: B, Hi: Hi, Wi: Wi, pool: pool)
    }

    /// Forward of images (B, Cin, Hi, Wi) as planned in `acts`: fills acts.output (normed tokens, (B, T, C)) and
    /// acts.preNorm. Drop path as last set on `acts`.
    public func forward(images: UnsafePointer<Float>, params: ParameterBuffer, acts a: ViTActivations,
                        pool: ComputePool) {
        precondition(params.layout.count == layout.count, "parameter buffer has another layout")
        let p = UnsafePointer(params.base), C = config.embedDim, T = a.T, Np = a.geometry.Np
        // patches(B·Np, C) = im2col(images) · Wᵀ + b
        patchEmbedForward(tokens: a.patchTokens.pointer, cols: a.cols.pointer, images: images, weight: p + patchW,
                          bias: p + patchB, geometry: a.geometry, C: C, pool: pool)
        // embedded(b, 0) = cls + pos(0);  embedded(b, 1+i) = patches(b·Np + i) + pos(1+i)
        let emb = a.embedded.pointer, pos = a.position.pointer, patches = a.patchTokens.pointer, cls = p + clsToken
        KernelProfile.measure(.embedding) {
            a.interpolation.forward(out: pos, pos: p + posEmbed, C: C)
            pool.parallelFor(a.B * T, minChunk: 32) { r in
                for row in r {
                    let b = row / T, t = row % T
                    let src = t == 0 ? cls : UnsafePointer(patches + (b * Np + t - 1) * C)
                    let dst = emb + row * C, ps = pos + t * C
                    for c in 0 ..< C { dst[c] = src[c] + ps[c] }
                }
            }
        }
        var x = UnsafePointer(emb)
        for (l, block) in blocks.enumerated() {
            block.forward(inp: x, params: p, acts: a.blocks[l],
                          attnScale: a.scales(block: l, branch: 0, config: config),
                          mlpScale: a.scales(block: l, branch: 1, config: config), pool: pool)
            x = UnsafePointer(a.blocks[l].output.pointer)
        }
        layerNormForward(out: a.output.pointer, mean: a.normMean.pointer, rstd: a.normRstd.pointer, inp: x,
                         weight: p + normW, bias: p + normB, N: a.B * T, C: C, eps: config.layerNormEps,
                         pool: pool)
    }

    /// Backward of the last `forward` on `acts`: grads += ∂L/∂θ given dOutput = ∂L/∂output and/or
    /// dPreNorm = ∂L/∂preNorm (both (B, T, C), either may be nil), and dImages (B, Cin, Hi, Wi) += ∂L/∂images when
    /// given.
    public func backward(dOutput: UnsafePointer<Float>?, dPreNorm: UnsafePointer<Float>?,
                         dImages: UnsafeMutablePointer<Float>?, params: ParameterBuffer, grads: ParameterBuffer,
                         acts a: ViTActivations, pool: ComputePool) {
        precondition(params.layout.count == layout.count && grads.layout.count == layout.count,
                     "parameter/gradient buffer has another layout")
        let p = UnsafePointer(params.base), g = grads.base, C = config.embedDim, T = a.T, N = a.B * T
        let Np = a.geometry.Np
        var dCur = a.dTokensA.pointer, dNext = a.dTokensB.pointer
        KernelProfile.measure(.residual) {
            if let dPreNorm {
                dCur.update(from: dPreNorm, count: N * C)
            } else {
                dCur.update(repeating: 0, count: N * C)
            }
        }
        if let dOutput {
            layerNormBackward(dInp: dCur, dWeight: g + normW, dBias: g + normB, dOut: dOutput, inp: a.preNorm,
                              weight: p + normW, mean: a.normMean.pointer, rstd: a.normRstd.pointer, N: N, C: C,
                              pool: pool)
        }
        for l in stride(from: blocks.count - 1, through: 0, by: -1) {
            let inp = l == 0 ? a.embedded.pointer : a.blocks[l - 1].output.pointer
            KernelProfile.measure(.residual) { dNext.update(repeating: 0, count: N * C) }
            blocks[l].backward(dInp: dNext, dOut: dCur, inp: inp, params: p, grads: g, acts: a.blocks[l],
                               scratch: a.scratch, attnScale: a.scales(block: l, branch: 0, config: config),
                               mlpScale: a.scales(block: l, branch: 1, config: config), pool: pool)
            swap(&dCur, &dNext)
        }
        // dPosition(T, C) = Σ_b dEmbedded(b); pos_embed += resizeᵀ(dPosition); cls_token += dPosition(0)
        let dPatches = a.dPatchTokens.pointer, dEmb = dCur
        KernelProfile.measure(.embedding) {
            a.dPosition.zero()
            columnSums(into: a.dPosition.pointer, rows: dEmb, N: a.B, C: T * C, pool: pool)
            a.interpolation.backward(dPos: g + posEmbed, dOut: a.dPosition.pointer, C: C)
            for c in 0 ..< C { g[clsToken + c] += a.dPosition.pointer[c] }
            // dPatches(b·Np + i) = dEmbedded(b, 1 + i)
            pool.parallelFor(a.B, minChunk: 1) { r in
                for b in r { (dPatches + b * Np * C).update(from: dEmb + (b * T + 1) * C, count: Np * C) }
            }
        }
        patchEmbedBackward(dImages: dImages, dCols: dImages == nil ? nil : a.dColsStorage().pointer,
                           dWeight: g + patchW, dBias: g + patchB, dTokens: dPatches, cols: a.cols.pointer,
                           weight: p + patchW, geometry: a.geometry, C: C, pool: pool)
    }
}
