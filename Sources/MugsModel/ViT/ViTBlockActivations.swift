/// Everything one transformer block keeps from its forward for its backward, for a fixed token set (B, T, C).
/// Allocated once per (B, T); reused every step.
public final class BlockActivations: @unchecked Sendable {
    public let B: Int, T: Int, C: Int, H: Int, F: Int
    /// norm1 output and its row statistics: (B·T, C), (B·T), (B·T).
    let ln1: FloatStorage, mean1: FloatStorage, rstd1: FloatStorage
    /// qkv Linear output (B, T, 3, H, D).
    let qkv: FloatStorage
    /// Attention probabilities (B, H, T, T).
    let probs: FloatStorage
    /// Attention output before proj (B, T, C).
    let att: FloatStorage
    /// Residual stream after the attention branch (B, T, C).
    let x1: FloatStorage
    /// norm2 output and statistics.
    let ln2: FloatStorage, mean2: FloatStorage, rstd2: FloatStorage
    /// fc1 output (pre-GELU) and GELU output (B·T, F).
    let fc1: FloatStorage, gelu: FloatStorage
    /// A branch's Linear output before its residual add (proj, then fc2) (B·T, C).
    let branch: FloatStorage
    /// The block's output tokens (B, T, C).
    public let output: FloatStorage

    public init(B: Int, T: Int, C: Int, H: Int, F: Int) {
        self.B = B; self.T = T; self.C = C; self.H = H; self.F = F
        let N = B * T
        ln1 = FloatStorage(N * C); mean1 = FloatStorage(N); rstd1 = FloatStorage(N)
        qkv = FloatStorage(N * 3 * C)
        probs = FloatStorage(B * H * T * T)
        att = FloatStorage(N * C)
        x1 = FloatStorage(N * C)
        ln2 = FloatStorage(N * C); mean2 = FloatStorage(N); rstd2 = FloatStorage(N)
        fc1 = FloatStorage(N * F); gelu = FloatStorage(N * F)
        branch = FloatStorage(N * C)
        output = FloatStorage(N * C)
    }
}

/// Backward temporaries of a transformer block for (B, T, C); one instance can serve all blocks of a network
/// (they run one after another).
public final class BlockScratch: @unchecked Sendable {
    public let B: Int, T: Int, C: Int, F: Int, threads: Int
    let dx1: FloatStorage, dBranch: FloatStorage, dHidden: FloatStorage, dPreAct: FloatStorage
    let dNormed: FloatStorage, dAtt: FloatStorage, dQKV: FloatStorage, dScores: FloatStorage

    public init(B: Int, T: Int, C: Int, F: Int, threads: Int) {
        self.B = B; self.T = T; self.C = C; self.F = F; self.threads = threads
        let N = B * T
        dx1 = FloatStorage(N * C); dBranch = FloatStorage(N * C)
        dHidden = FloatStorage(N * F); dPreAct = FloatStorage(N * F)
        dNormed = FloatStorage(N * C); dAtt = FloatStorage(N * C)
        dQKV = FloatStorage(N * 3 * C)
        dScores = FloatStorage(max(1, threads) * T * T)
    }
}
