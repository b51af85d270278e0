/// Per-parameter gradient-norm clipping, as sail-sg/mugs `src/optimizer.py` `clip_gradients(model, clip)`:
/// for every tensor that has a gradient, `coef = clip / (‖g‖₂ + 1e-6)`; if `coef < 1`, `g ← g·coef`.
///
/// Numerics (the same bits on every CPU, DESIGN §3): ‖g‖² is summed in Double in index order, its square
/// root rounded to Float32 (torch returns a Float32 norm); then, as torch evaluates `clip / tensor` as
/// `tensor.reciprocal() * clip`, `coef = (1 / (norm + 1e-6)) · clip` in Float32, and `g·coef` in Float32.
public enum Clipping {
    /// The L2 norm of `count` floats, summed in Double in index order, rounded to Float.
    public static func norm(_ g: UnsafePointer<Float>, count: Int) -> Float {
        var sum = 0.0
        for j in 0 ..< count {
            let x = Double(g[j])
            sum = sum + x * x
        }
        return Float(sum.squareRoot())
    }

    /// The factor a tensor with gradient norm `norm` is scaled by (nil: left alone).
    public static func coefficient(norm: Float, clip: Double) -> Float? {
        let coef = (1 / (norm + Float(1e-6))) * Float(clip)
        return coef < 1 ? coef : nil
    }

    /// Clips every tensor of `grads` for which `hasGradient(index)` holds; returns the norms before clipping
    /// (0 for tensors without a gradient). `clip` ≤ 0 disables clipping (the reference's `if args.clip_grad`).
    @discardableResult
    public static func clip(_ grads: ParameterBuffer, clip: Double, hasGradient: (Int) -> Bool) -> [Float] {
        self.clip(grads.base, layout: grads.layout, clip: clip, hasGradient: hasGradient)
    }

    /// The same over gradients laid out by `layout` at `base` (e.g. the gradient segment of a fused buffer).
    @discardableResult
    public static func clip(_ base: UnsafeMutablePointer<Float>, layout: ParameterLayout, clip: Double,
                            hasGradient: (Int) -> Bool) -> [Float] {
        var norms = [Float](repeating: 0, count: layout.specs.count)
        guard clip > 0 else { return norms }
        for i in 0 ..< layout.specs.count where hasGradient(i) {
            let g = base + layout.offsets[i], n = layout.specs[i].count
            norms[i] = norm(g, count: n)
            if let coef = coefficient(norm: norms[i], clip: clip) {
                for j in 0 ..< n { g[j] = g[j] * coef }
            }
        }
        return norms
    }
}
