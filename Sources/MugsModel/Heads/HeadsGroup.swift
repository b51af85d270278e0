/// Group head of Mugs, a DINO head (reference: `Group_Superivsion_Head` in sail-sg/mugs `src/model.py`, 3 layers,
/// no batch norm):
///
///     f      = normalize(W4 · gelu(W2 · gelu(W0 · x + b0) + b2) + b4)       projector.0 / .2 / .4, with bias
///     W[p,:] = g[p] · v[p,:] / ‖v[p,:]‖                                    last_layer.weight_g [P,1], weight_v [P,Bn]
///     logits = W · f                                                       [P] prototypes
///
/// `weight_g` is trained only when `trainG` (reference: `norm_last_layer = False`); otherwise its gradient stays
/// zero (the reference sets `requires_grad = False`).
public final class GroupHead {
    public let prefix: String
    /// Input width C, hidden H, bottleneck Bn, prototypes P.
    public let C: Int, H: Int, Bn: Int, P: Int
    public let maxRows: Int
    public let trainG: Bool
    private let w0, b0, w2, b2, w4, b4, wg, wv: Int

    private let h1, a1, h2, a2, f, fn, fNorm, logits: ScratchBuffer
    /// Effective last-layer weight W [P, Bn] and 1/‖v[p]‖ [P], recomputed by every forward.
    private let weight, invVNorm: ScratchBuffer
    private let dWeight, dFn, dF, dA, dH: ScratchBuffer

    /// Adds the head's parameters (reference names and PyTorch shapes) to `layout`.
    public static func addParameters(to layout: inout ParameterLayout, prefix: String, C: Int, H: Int, Bn: Int,
                                     P: Int) {
        layout.add(prefix + "projector.0.weight", [H, C])
        layout.add(prefix + "projector.0.bias", [H])
        layout.add(prefix + "projector.2.weight", [H, H])
        layout.add(prefix + "projector.2.bias", [H])
        layout.add(prefix + "projector.4.weight", [Bn, H])
        layout.add(prefix + "projector.4.bias", [Bn])
        layout.add(prefix + "last_layer.weight_g", [P, 1])
        layout.add(prefix + "last_layer.weight_v", [P, Bn])
    }

    public init(layout: ParameterLayout, prefix: String, C: Int, H: Int, Bn: Int, P: Int, maxRows: Int,
                trainG: Bool, training: Bool) {
        func off(_ n: String) -> Int {
            guard let o = layout.offset(of: prefix + n) else { preconditionFailure("layout lacks \(prefix + n)") }
            return o
        }
        self.prefix = prefix
        self.C = C; self.H = H; self.Bn = Bn; self.P = P; self.maxRows = maxRows; self.trainG = trainG
        w0 = off("projector.0.weight"); b0 = off("projector.0.bias")
        w2 = off("projector.2.weight"); b2 = off("projector.2.bias")
        w4 = off("projector.4.weight"); b4 = off("projector.4.bias")
        wg = off("last_layer.weight_g"); wv = off("last_layer.weight_v")
        let R = maxRows
        h1 = ScratchBuffer(R * H); a1 = ScratchBuffer(R * H); h2 = ScratchBuffer(R * H); a2 = ScratchBuffer(R * H)
        f = ScratchBuffer(R * Bn); fn = ScratchBuffer(R * Bn); fNorm = ScratchBuffer(R)
        logits = ScratchBuffer(R * P)
        weight = ScratchBuffer(P * Bn); invVNorm = ScratchBuffer(P)
        dWeight = ScratchBuffer(training ? P * Bn : 0)
        dFn = ScratchBuffer(training ? R * Bn : 0); dF = ScratchBuffer(training ? R * Bn : 0)
        dA = ScratchBuffer(training ? R * H : 0); dH = ScratchBuffer(training ? R * H : 0)
    }

    /// Logits (rows × P) of the last `forward`.
    public var output: UnsafeMutablePointer<Float> { logits.p }

    /// output(N,P) = head(inp(N,C)).
    public func forward(inp: UnsafePointer<Float>, params: ParameterBuffer, N: Int, pool: ComputePool) {
        precondition(N <= maxRows, "head \(prefix): \(N) rows > planned \(maxRows)")
        let w = params.base
        linearForward(out: h1.p, inp: inp, weight: w + w0, bias: w + b0, N: N, C: C, OC: H)   // (N,H)
        geluForward(out: a1.p, inp: h1.p, count: N * H, pool: pool)
        linearForward(out: h2.p, inp: a1.p, weight: w + w2, bias: w + b2, N: N, C: H, OC: H)  // (N,H)
        geluForward(out: a2.p, inp: h2.p, count: N * H, pool: pool)
        linearForward(out: f.p, inp: a2.p, weight: w + w4, bias: w + b4, N: N, C: H, OC: Bn)  // (N,Bn)
        l2NormalizeForward(out: fn.p, norms: fNorm.p, inp: f.p, N: N, C: Bn, pool: pool)
        // W[p] = g[p] · v[p] / ‖v[p]‖  (torch weight_norm over dim 0; no epsilon)
        let v = w + wv, g = w + wg, W = weight.p, inv = invVNorm.p, Bn = Bn
        pool.parallelFor(P, minChunk: 256) { rows in
            for p in rows {
                let vp = v + p * Bn, Wp = W + p * Bn
                var s: Float = 0
                for c in 0 ..< Bn { s = s.addingProduct(vp[c], vp[c]) }
                let iv = 1 / s.squareRoot()
                inv[p] = iv
                let scale = g[p] * iv
                for c in 0 ..< Bn { Wp[c] = vp[c] * scale }
            }
        }
        linearForward(out: logits.p, inp: fn.p, weight: W, bias: nil, N: N, C: Bn, OC: P)       // (N,P)
    }

    /// Backward of the last `forward`: grads += ∂/∂params, dInp(N,C) += ∂/∂inp (if given), for dOut(N,P).
    public func backward(dInp: UnsafeMutablePointer<Float>?, grads: ParameterBuffer, dOut: UnsafePointer<Float>,
                         inp: UnsafePointer<Float>, params: ParameterBuffer, N: Int, pool: ComputePool) {
        precondition(dWeight.count == P * Bn, "head \(prefix) was built without backward buffers")
        let w = params.base, gr = grads.base
        dWeight.zero(); dFn.zero(N * Bn)
        // dFn(N,Bn) += dOut(N,P) · W(P,Bn);  dW(P,Bn) += dOutᵀ · fn
        linearBackward(dInp: dFn.p, dWeight: dWeight.p, dBias: nil, dOut: dOut, inp: fn.p, weight: weight.p,
                       N: N, C: Bn, OC: P, pool: pool)
        // Weight norm: s = dW[p]·v̂[p];  dg[p] += s;  dv[p] += g[p]/‖v[p]‖ · (dW[p] − s·v̂[p])
        let v = w + wv, g = w + wg, dv = gr + wv, dg = gr + wg, dW = dWeight.p, inv = invVNorm.p
        let Bn = Bn, trainG = trainG
        pool.parallelFor(P, minChunk: 256) { rows in
            for p in rows {
                let vp = v + p * Bn, dWp = dW + p * Bn, dvp = dv + p * Bn
                let iv = inv[p]
                var s: Float = 0
                for c in 0 ..< Bn { s = s.addingProduct(dWp[c], vp[c]) }
                s *= iv
                if trainG { dg[p] += s }
                let scale = g[p] * iv, sv = s * iv
                for c in 0 ..< Bn { dvp[c] = dvp[c].addingProduct(scale, dWp[c].addingProduct(-sv, vp[c])) }
            }
        }
        dF.zero(N * Bn)
        l2NormalizeBackward(dInp: dF.p, dOut: dFn.p, out: fn.p, norms: fNorm.p, N: N, C: Bn, pool: pool)
        dA.zero(N * H)
        linearBackward(dInp: dA.p, dWeight: gr + w4, dBias: gr + b4, dOut: dF.p, inp: a2.p, weight: w + w4,
                       N: N, C: H, OC: Bn, pool: pool)
        dH.zero(N * H)
        geluBackward(dInp: dH.p, dOut: dA.p, inp: h2.p, count: N * H, pool: pool)
        dA.zero(N * H)
        linearBackward(dInp: dA.p, dWeight: gr + w2, dBias: gr + b2, dOut: dH.p, inp: a1.p, weight: w + w2,
                       N: N, C: H, OC: H, pool: pool)
        dH.zero(N * H)
        geluBackward(dInp: dH.p, dOut: dA.p, inp: h1.p, count: N * H, pool: pool)
        linearBackward(dInp: dInp, dWeight: gr + w0, dBias: gr + b0, dOut: dH.p, inp: inp, weight: w + w0,
                       N: N, C: C, OC: H, pool: pool)
    }
}
