import Glibc

/// Opt-in wall-clock accounting of the backbone's kernels, for `mugs bench backbone`'s breakdown of where a step's
/// time goes (sgemm vs the rest). Off by default: a disabled probe costs one predictable branch. Only the calling
/// thread records (kernels call it outside their parallel regions), so totals are wall time, not CPU time.
public enum KernelProfile {
    /// What a span of time was spent on.
    public enum Category: Int, CaseIterable, Sendable {
        case linearGemm, attentionGemm, softmax, layerNorm, gelu, residual, bias, embedding

        public var label: String {
            switch self {
            case .linearGemm: return "sgemm: Linear layers + patch embedding"
            case .attentionGemm: return "sgemm: attention Q·Kᵀ, P·V and their backward"
            case .softmax: return "softmax fwd/bwd (inside the attention loop)"
            case .layerNorm: return "LayerNorm fwd/bwd"
            case .gelu: return "GELU fwd/bwd"
            case .residual: return "residual/drop-path adds, gradient copies"
            case .bias: return "bias broadcast and bias-gradient column sums"
            case .embedding: return "im2col, pos-embed, token assembly"
            }
        }

        public var isGemm: Bool { self == .linearGemm || self == .attentionGemm }
    }

    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) private static var totals = [Double](repeating: 0, count: Category.allCases.count)

    /// Seconds accumulated per category since the last `reset()`.
    public static var seconds: [Category: Double] {
        var d: [Category: Double] = [:]
        for c in Category.allCases { d[c] = totals[c.rawValue] }
        return d
    }

    public static func reset() { for i in totals.indices { totals[i] = 0 } }

    @inline(__always)
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Runs `body`, adding its wall time to `category` when profiling is enabled.
    @inline(__always)
    static func measure<R>(_ category: Category, _ body: () -> R) -> R {
        guard enabled else { return body() }
        let t0 = now()
        let r = body()
        totals[category.rawValue] += now() - t0
        return r
    }

    /// Adds a measured span directly (used where one region mixes categories).
    static func add(_ category: Category, _ seconds: Double) { totals[category.rawValue] += seconds }
}
