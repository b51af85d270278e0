/// Instance / local-group head of Mugs (reference: `Instance_Superivsion_Head`, `Local_Group_Superivsion_Head` in
/// sail-sg/mugs `src/model.py`, with `nlayers = 3`, no batch norm, `norm_before_pred = True`):
///
///     z      = W4 · gelu(W2 · gelu(W0 · x))          projector.0 / .2 / .4, Linear without bias
///     target = normalize(z)                          teacher (no predictor)
///     pred   = normalize(P2 · gelu(P0 · target))     student: predictor.0 / .2
///
/// Parameters live in the network's flat buffer under `<prefix>projector.0.weight` etc.; the head keeps its own
/// activations for up to `maxRows` rows, allocated once.
public final class ContrastHead {
    public let prefix: String
    /// Input width C, projector hidden H, output D, predictor hidden PH (0: no predictor).
    public let C: Int, H: Int, D: Int, PH: Int
    public let maxRows: Int
    private let w0: Int, w2: Int, w4: Int, p0: Int, p2: Int

    // Activations (rows × width).
    private let h1, a1, h2, a2, z, zn, zNorm: ScratchBuffer
    private let q1, b1, q, pred, predNorm: ScratchBuffer
    // Backward scratch.
    private let dWide1, dWide2, dNarrow1, dNarrow2: ScratchBuffer

    /// Adds the head's parameters (reference names and PyTorch shapes) to `layout`.
    public static func addParameters(to layout: inout ParameterLayout, prefix: String, C: Int, H: Int, D: Int,
                                     PH: Int) {
        layout.add(prefix + "projector.0.weight", [H, C])
        layout.add(prefix + "projector.2.weight", [H, H])
        layout.add(prefix + "projector.4.weight", [D, H])
        if PH > 0 {
            layout.add(prefix + "predictor.0.weight", [PH, D])
            layout.add(prefix + "predictor.2.weight", [D, PH])
        }
    }

    /// A head whose parameters are at `prefix` in `layout`; `training` allocates the backward scratch.
    public init(layout: ParameterLayout, prefix: String, C: Int, H: Int, D: Int, PH: Int, maxRows: Int,
                training: Bool) {
        func off(_ n: String) -> Int {
            guard let o = layout.offset(of: prefix + n) else { preconditionFailure("layout lacks \(prefix + n)") }
            return o
        }
        self.prefix = prefix
        self.C = C; self.H = H; self.D = D; self.PH = PH; self.maxRows = maxRows
        w0 = off("projector.0.weight"); w2 = off("projector.2.weight"); w4 = off("projector.4.weight")
        p0 = PH > 0 ? off("predictor.0.weight") : 0
        p2 = PH > 0 ? off("predictor.2.weight") : 0
        let R = maxRows
        h1 = ScratchBuffer(R * H); a1 = ScratchBuffer(R * H); h2 = ScratchBuffer(R * H); a2 = ScratchBuffer(R * H)
        z = ScratchBuffer(R * D); zn = ScratchBuffer(R * D); zNorm = ScratchBuffer(R)
        q1 = ScratchBuffer(R * PH); b1 = ScratchBuffer(R * PH); q = ScratchBuffer(PH > 0 ? R * D : 0)
        pred = ScratchBuffer(PH > 0 ? R * D : 0); predNorm = ScratchBuffer(PH > 0 ? R : 0)
        let wide = training ? R * max(H, PH) : 0, narrow = training ? R * D : 0
        dWide1 = ScratchBuffer(wide); dWide2 = ScratchBuffer(wide)
        dNarrow1 = ScratchBuffer(narrow); dNarrow2 = ScratchBuffer(narrow)
    }

    /// The head's output for the last `forward` (rows × D, unit rows): the prediction if the head has a predictor,
    /// else the target.
    public var output: UnsafeMutablePointer<Float> { PH > 0 ? pred.p : zn.p }

    /// output(N,D) = head(inp(N,C)).
    public func forward(inp: UnsafePointer<Float>, params: ParameterBuffer, N: Int, pool: ComputePool) {
        precondition(N <= maxRows, "head \(prefix): \(N) rows > planned \(maxRows)")
        let w = params.base
        linearForward(out: h1.p, inp: inp, weight: w + w0, bias: nil, N: N, C: C, OC: H)      // (N,H)
        geluForward(out: a1.p, inp: h1.p, count: N * H, pool: pool)
        linearForward(out: h2.p, inp: a1.p, weight: w + w2, bias: nil, N: N, C: H, OC: H)     // (N,H)
        geluForward(out: a2.p, inp: h2.p, count: N * H, pool: pool)
        linearForward(out: z.p, inp: a2.p, weight: w + w4, bias: nil, N: N, C: H, OC: D)      // (N,D)
        l2NormalizeForward(out: zn.p, norms: zNorm.p, inp: z.p, N: N, C: D, pool: pool)
        guard PH > 0 else { return }
        linearForward(out: q1.p, inp: zn.p, weight: w + p0, bias: nil, N: N, C: D, OC: PH)    // (N,PH)
        geluForward(out: b1.p, inp: q1.p, count: N * PH, pool: pool)
        linearForward(out: q.p, inp: b1.p, weight: w + p2, bias: nil, N: N, C: PH, OC: D)     // (N,D)
        l2NormalizeForward(out: pred.p, norms: predNorm.p, inp: q.p, N: N, C: D, pool: pool)
    }

    /// Backward of the last `forward`: grads += ∂/∂params, dInp(N,C) += ∂/∂inp (if given), for dOut(N,D).
    public func backward(dInp: UnsafeMutablePointer<Float>?, grads: ParameterBuffer, dOut: UnsafePointer<Float>,
                         inp: UnsafePointer<Float>, params: ParameterBuffer, N: Int, pool: ComputePool) {
        precondition(dNarrow1.count >= N * D, "head \(prefix) was built without backward buffers")
        let w = params.base, g = grads.base
        let dZ = dNarrow1.p
        dZ.update(repeating: 0, count: N * D)
        if PH > 0 {
            let dQ = dNarrow2.p, dB1 = dWide1.p, dQ1 = dWide2.p
            dQ.update(repeating: 0, count: N * D)
            l2NormalizeBackward(dInp: dQ, dOut: dOut, out: pred.p, norms: predNorm.p, N: N, C: D, pool: pool)
            dB1.update(repeating: 0, count: N * PH)
            linearBackward(dInp: dB1, dWeight: g + p2, dBias: nil, dOut: dQ, inp: b1.p, weight: w + p2,
                           N: N, C: PH, OC: D, pool: pool)
            dQ1.update(repeating: 0, count: N * PH)
            geluBackward(dInp: dQ1, dOut: dB1, inp: q1.p, count: N * PH, pool: pool)
            let dZn = dQ                                        // dQ is consumed; reuse for ∂/∂zn
            dZn.update(repeating: 0, count: N * D)
            linearBackward(dInp: dZn, dWeight: g + p0, dBias: nil, dOut: dQ1, inp: zn.p, weight: w + p0,
                           N: N, C: D, OC: PH, pool: pool)
            l2NormalizeBackward(dInp: dZ, dOut: dZn, out: zn.p, norms: zNorm.p, N: N, C: D, pool: pool)
        } else {
            l2NormalizeBackward(dInp: dZ, dOut: dOut, out: zn.p, norms: zNorm.p, N: N, C: D, pool: pool)
        }
        let dA = dWide1.p, dH = dWide2.p
        dA.update(repeating: 0, count: N * H)
        linearBackward(dInp: dA, dWeight: g + w4, dBias: nil, dOut: dZ, inp: a2.p, weight: w + w4,
                       N: N, C: H, OC: D, pool: pool)
        dH.update(repeating: 0, count: N * H)
        geluBackward(dInp: dH, dOut: dA, inp: h2.p, count: N * H, pool: pool)
        dA.update(repeating: 0, count: N * H)
        linearBackward(dInp: dA, dWeight: g + w2, dBias: nil, dOut: dH, inp: a1.p, weight: w + w2,
                       N: N, C: H, OC: H, pool: pool)
        dH.update(repeating: 0, count: N * H)
        geluBackward(dInp: dH, dOut: dA, inp: h1.p, count: N * H, pool: pool)
        linearBackward(dInp: dInp, dWeight: g + w0, dBias: nil, dOut: dH, inp: inp, weight: w + w0,
                       N: N, C: C, OC: H, pool: pool)
    }
}
