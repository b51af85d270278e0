/// A pre-norm transformer block as in timm / the Mugs reference (`Block`):
///
///     x1  = x  + drop_path(proj(attention(qkv(norm1(x)))))
///     out = x1 + drop_path(fc2(gelu(fc1(norm2(x1)))))
///
/// It runs on any token set (B, T, C): the ViT's `blocks.N` over (B, 1 + patches) tokens, and the Mugs relation
/// block `relation_blocks.0` over [query; 8 neighbours] (T = 9). Parameters are views by prefix into a flat
/// buffer laid out by `ViTConfig.addBlock`; gradients use the same layout. Drop path takes per-sample scales for
/// each branch (0 or 1/keep_prob; nil = no drop path).
public struct TransformerBlock: Sendable {
    public let C: Int, H: Int, F: Int
    public let eps: Float
    public let prefix: String
    // Offsets into the parameter (and gradient) buffer.
    let ln1W: Int, ln1B: Int, qkvW: Int, qkvB: Int, projW: Int, projB: Int
    let ln2W: Int, ln2B: Int, fc1W: Int, fc1B: Int, fc2W: Int, fc2B: Int

    /// Resolves the block's tensors under `prefix` ("blocks.3." or "relation_blocks.0.") and checks their shapes.
    public init(layout: ParameterLayout, prefix: String, heads: Int, eps: Float = 1e-6) throws(ViTError) {
        func offset(_ name: String, _ shape: [Int]?) throws(ViTError) -> Int {
            guard let spec = layout.spec(prefix + name), let off = layout.offset(of: prefix + name) else {
                throw ViTError.missingParameter(prefix + name)
            }
            if let shape, spec.shape != shape {
                throw ViTError.shapeMismatch(what: prefix + name, expected: shape, got: spec.shape)
            }
            return off
        }
        guard let w = layout.spec(prefix + "norm1.weight"), let f = layout.spec(prefix + "mlp.fc1.bias") else {
            throw ViTError.missingParameter(prefix + "norm1.weight")
        }
        let C = w.count, F = f.count
        guard heads > 0, C % heads == 0 else {
            throw ViTError.invalidConfig(field: "heads", reason: "\(heads) does not divide embedDim \(C)")
        }
        self.C = C; self.H = heads; self.F = F; self.eps = eps; self.prefix = prefix
        ln1W = try offset("norm1.weight", [C]); ln1B = try offset("norm1.bias", [C])
        qkvW = try offset("attn.qkv.weight", [3 * C, C]); qkvB = try offset("attn.qkv.bias", [3 * C])
        projW = try offset("attn.proj.weight", [C, C]); projB = try offset("attn.proj.bias", [C])
        ln2W = try offset("norm2.weight", [C]); ln2B = try offset("norm2.bias", [C])
        fc1W = try offset("mlp.fc1.weight", [F, C]); fc1B = try offset("mlp.fc1.bias", [F])
        fc2W = try offset("mlp.fc2.weight", [C, F]); fc2B = try offset("mlp.fc2.bias", [C])
    }

    /// Activations for B samples of T tokens.
    public func makeActivations(B: Int, T: Int) -> BlockActivations { BlockActivations(B: B, T: T, C: C, H: H, F: F) }

    /// Backward scratch for B samples of T tokens.
    public func makeScratch(B: Int, T: Int, pool: ComputePool) -> BlockScratch {
        BlockScratch(B: B, T: T, C: C, F: F, threads: pool.threads)
    }

    /// acts.output(B,T,C) = block(inp(B,T,C)). `attnScale`/`mlpScale` (B): drop-path scale per sample.
    public func forward(inp: UnsafePointer<Float>, params: UnsafePointer<Float>, acts a: BlockActivations,
                        attnScale: UnsafePointer<Float>?, mlpScale: UnsafePointer<Float>?, pool: ComputePool) {
        let B = a.B, T = a.T, N = B * T, p = params
        // norm1: ln1(N,C)
        layerNormForward(out: a.ln1.pointer, mean: a.mean1.pointer, rstd: a.rstd1.pointer, inp: inp,
                         weight: p + ln1W, bias: p + ln1B, N: N, C: C, eps: eps, pool: pool)
        // qkv(N,3C) = ln1(N,C) · Wqkvᵀ(C,3C) + b
        linearForward(out: a.qkv.pointer, inp: a.ln1.pointer, weight: p + qkvW, bias: p + qkvB, N: N, C: C, OC: 3 * C,
                      pool: pool)
        // att(N,C) = softmax(Q·Kᵀ·scale)·V per (sample, head)
        attentionForward(out: a.att.pointer, probs: a.probs.pointer, qkv: a.qkv.pointer, B: B, T: T, C: C, H: H,
                         pool: pool)
        // branch(N,C) = att(N,C) · Wprojᵀ(C,C);  x1 = inp + s·(branch + b)
        linearForward(out: a.branch.pointer, inp: a.att.pointer, weight: p + projW, bias: nil, N: N, C: C, OC: C)
        residualBiasForward(out: a.x1.pointer, inp: inp, branch: a.branch.pointer, bias: p + projB,
                            sampleScale: attnScale, B: B, T: T, C: C, pool: pool)
        // norm2: ln2(N,C)
        layerNormForward(out: a.ln2.pointer, mean: a.mean2.pointer, rstd: a.rstd2.pointer, inp: a.x1.pointer,
                         weight: p + ln2W, bias: p + ln2B, N: N, C: C, eps: eps, pool: pool)
        // fc1(N,F) = ln2(N,C) · W1ᵀ(C,F) + b;  gelu(N,F), the bias added in the GELU's pass
        linearForward(out: a.fc1.pointer, inp: a.ln2.pointer, weight: p + fc1W, bias: nil, N: N, C: C, OC: F)
        biasGELUForward(out: a.gelu.pointer, preAct: a.fc1.pointer, bias: p + fc1B, N: N, F: F, pool: pool)
        // branch(N,C) = gelu(N,F) · W2ᵀ(F,C);  out = x1 + s·(branch + b)
        linearForward(out: a.branch.pointer, inp: a.gelu.pointer, weight: p + fc2W, bias: nil, N: N, C: F, OC: C)
        residualBiasForward(out: a.output.pointer, inp: a.x1.pointer, branch: a.branch.pointer, bias: p + fc2B,
                            sampleScale: mlpScale, B: B, T: T, C: C, pool: pool)
    }

    /// Backward of `forward`: dInp(B,T,C) += ∂L/∂inp and grads (same layout as params) += ∂L/∂θ, given
    /// dOut = ∂L/∂output. `inp` and the scales must be those of the forward; dInp must not alias dOut.
    public func backward(dInp: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, inp: UnsafePointer<Float>,
                         params: UnsafePointer<Float>, grads: UnsafeMutablePointer<Float>, acts a: BlockActivations,
                         scratch s: BlockScratch, attnScale: UnsafePointer<Float>?, mlpScale: UnsafePointer<Float>?,
                         pool: ComputePool) {
        let B = a.B, T = a.T, N = B * T, p = params, g = grads
        precondition(s.B * s.T >= N && s.C == C && s.F == F && s.threads >= pool.threads, "scratch too small")
        // MLP branch: dBranch = s·dOut
        residualBranchBackward(dBranch: s.dBranch.pointer, dOut: dOut, sampleScale: mlpScale, B: B, R: T * C,
                               pool: pool)
        // fc2: dHidden(N,F) = dBranch(N,C) · W2(C,F); dW2, db2
        linearBackward(dInp: s.dHidden.pointer, dWeight: g + fc2W, dBias: g + fc2B, dOut: s.dBranch.pointer,
                       inp: a.gelu.pointer, weight: p + fc2W, N: N, C: F, OC: C, accumulateInput: false, pool: pool)
        geluBackward(dInp: s.dPreAct.pointer, dOut: s.dHidden.pointer, inp: a.fc1.pointer, count: N * F,
                     accumulate: false, pool: pool)
        // fc1: dNormed(N,C) = dPreAct(N,F) · W1(F,C); dW1, db1
        linearBackward(dInp: s.dNormed.pointer, dWeight: g + fc1W, dBias: g + fc1B, dOut: s.dPreAct.pointer,
                       inp: a.ln2.pointer, weight: p + fc1W, N: N, C: C, OC: F, accumulateInput: false, pool: pool)
        // dx1 = dOut (identity path) + norm2ᵀ(dNormed)
        KernelProfile.measure(.residual) { s.dx1.pointer.update(from: dOut, count: N * C) }
        layerNormBackward(dInp: s.dx1.pointer, dWeight: g + ln2W, dBias: g + ln2B, dOut: s.dNormed.pointer,
                          inp: a.x1.pointer, weight: p + ln2W, mean: a.mean2.pointer, rstd: a.rstd2.pointer, N: N,
                          C: C, pool: pool)
        // Attention branch: dBranch = s·dx1
        residualBranchBackward(dBranch: s.dBranch.pointer, dOut: s.dx1.pointer, sampleScale: attnScale, B: B,
                               R: T * C, pool: pool)
        // proj: dAtt(N,C) = dBranch(N,C) · Wproj(C,C); dWproj, dbproj
        linearBackward(dInp: s.dAtt.pointer, dWeight: g + projW, dBias: g + projB, dOut: s.dBranch.pointer,
                       inp: a.att.pointer, weight: p + projW, N: N, C: C, OC: C, accumulateInput: false, pool: pool)
        attentionBackward(dQKV: s.dQKV.pointer, scratch: s.dScores.pointer, dOut: s.dAtt.pointer, qkv: a.qkv.pointer,
                          probs: a.probs.pointer, B: B, T: T, C: C, H: H, accumulate: false, pool: pool)
        // qkv: dNormed(N,C) = dQKV(N,3C) · Wqkv(3C,C); dWqkv, dbqkv
        linearBackward(dInp: s.dNormed.pointer, dWeight: g + qkvW, dBias: g + qkvB, dOut: s.dQKV.pointer,
                       inp: a.ln1.pointer, weight: p + qkvW, N: N, C: C, OC: 3 * C, accumulateInput: false,
                       pool: pool)
        // dInp += dx1 (identity path) + norm1ᵀ(dNormed)
        addInPlace(dInp, s.dx1.pointer, count: N * C, pool: pool)
        layerNormBackward(dInp: dInp, dWeight: g + ln1W, dBias: g + ln1B, dOut: s.dNormed.pointer, inp: inp,
                          weight: p + ln1W, mean: a.mean1.pointer, rstd: a.rstd1.pointer, N: N, C: C, pool: pool)
    }
}
