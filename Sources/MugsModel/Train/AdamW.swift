/// AdamW over a flat parameter buffer, computing what `torch.optim.AdamW` (single-tensor path, torch 2.x)
/// computes, per tensor, with the reference's parameter groups:
///
///     t ← t + 1                                           (per tensor: frozen tensors do not count)
///     p ← p · (1 − lr·wd)                                 (decoupled decay, only if wd ≠ 0)
///     m ← m + (1−β1)·(g − m)                              (torch's lerp_, weight < 0.5 branch)
///     v ← v·β2 + ((1−β2)·g)·g                             (mul_ then addcmul_)
///     denom ← √v / √(1 − β2ᵗ) + ε
///     p ← p + ((−lr / (1 − β1ᵗ))·m) / denom               (addcdiv_)
///
/// Scalars are computed in Double as Python does, then rounded to Float once, as torch does when a Python
/// number meets a Float32 tensor. Replica determinism (DESIGN §3): every operation is a separate IEEE
/// Float32 operation in a fixed order — no `addingProduct`, no FMA contraction (Swift never contracts), no
/// reassociation; elements are independent, so splitting them over threads changes nothing — so all CPUs and all
/// thread counts produce the same bits.
public final class AdamW: @unchecked Sendable {
    public static let beta1 = 0.9
    public static let beta2 = 0.999
    public static let eps = 1e-8

    public let layout: ParameterLayout
    /// First moments (`exp_avg`), same layout as the parameters.
    public let expAvg: ParameterBuffer
    /// Second moments (`exp_avg_sq`).
    public let expAvgSq: ParameterBuffer
    /// Per-tensor step counts (torch keeps `state[p]["step"]` per parameter; tensors without a gradient in a
    /// step — the frozen last layer — do not advance).
    public var steps: [Int]

    public init(layout: ParameterLayout) {
        self.layout = layout
        expAvg = ParameterBuffer(layout: layout)
        expAvgSq = ParameterBuffer(layout: layout)
        steps = [Int](repeating: 0, count: layout.specs.count)
    }

    /// The scalars of one step, for one tensor.
    public struct Hyper: Sendable, Equatable {
        public var lr: Double
        public var weightDecay: Double
    }

    /// The learning rate and weight decay tensor `index` gets in a step with base values `lr`, `wd`.
    public static func hyper(rule: ParameterGroups.Rule, lr: Double, weightDecay: Double, patchEmbedLrMult: Double)
        -> Hyper {
        Hyper(lr: rule.patchEmbed ? lr * patchEmbedLrMult : lr, weightDecay: rule.weightDecay ? weightDecay : 0)
    }

    /// One AdamW step on every tensor for which `hasGradient(index)` is true.
    public func step(params: ParameterBuffer, grads: ParameterBuffer, groups: ParameterGroups, lr: Double,
                     weightDecay: Double, patchEmbedLrMult: Double, pool: ComputePool = ComputePool(threads: 1),
                     hasGradient: (Int) -> Bool) {
        precondition(grads.layout.count == layout.count, "layout mismatch")
        step(params: params, grads: UnsafePointer(grads.base), groups: groups, lr: lr, weightDecay: weightDecay,
             patchEmbedLrMult: patchEmbedLrMult, pool: pool, hasGradient: hasGradient)
    }

    /// The same with gradients laid out like the parameters at `grads` (e.g. a fused buffer's gradient segment).
    public func step(params: ParameterBuffer, grads: UnsafePointer<Float>, groups: ParameterGroups, lr: Double,
                     weightDecay: Double, patchEmbedLrMult: Double, pool: ComputePool = ComputePool(threads: 1),
                     hasGradient: (Int) -> Bool) {
        precondition(params.layout.count == layout.count, "layout mismatch")
        for i in 0 ..< layout.specs.count where hasGradient(i) {
            let h = AdamW.hyper(rule: groups.rules[i], lr: lr, weightDecay: weightDecay,
                                patchEmbedLrMult: patchEmbedLrMult)
            steps[i] += 1
            let offset = layout.offsets[i], n = layout.specs[i].count
            update(p: params.base + offset, g: grads + offset, m: expAvg.base + offset,
                   v: expAvgSq.base + offset, count: n, step: steps[i], hyper: h, pool: pool)
        }
    }

    /// The update of one tensor of `count` floats at per-tensor step `step` (≥ 1). Elements are independent, so
    /// splitting them over `pool`'s threads changes no bit (each element sees the same operations in the same
    /// order; vector `sqrt`/`÷` are correctly rounded like scalar ones).
    public func update(p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                       v: UnsafeMutablePointer<Float>, count: Int, step: Int, hyper h: Hyper,
                       pool: ComputePool = ComputePool(threads: 1)) {
        let decay = h.weightDecay != 0 ? Float(1 - h.lr * h.weightDecay) : Float(1)
        let w1 = Float(1 - AdamW.beta1)
        let b2 = Float(AdamW.beta2), c2 = Float(1 - AdamW.beta2)
        let biasCorrection1 = 1 - DeterministicMath.pow(AdamW.beta1, step)
        let biasCorrection2 = 1 - DeterministicMath.pow(AdamW.beta2, step)
        let negStepSize = Float(-(h.lr / biasCorrection1))
        let bc2Sqrt = Float(biasCorrection2.squareRoot())
        let eps = Float(AdamW.eps)
        // Without decay torch skips `p.mul_(1 − lr·wd)`; multiplying by exactly 1 is the same bits.
        pool.parallelFor(count, minChunk: 1 << 15) { r in
            for j in r {
                let gj = g[j], mOld = m[j]
                let mj = mOld + w1 * (gj - mOld)
                let vj = v[j] * b2 + (c2 * gj) * gj
                let denom = vj.squareRoot() / bc2Sqrt + eps
                m[j] = mj
                v[j] = vj
                p[j] = p[j] * decay + (negStepSize * mj) / denom
            }
        }
    }
}
