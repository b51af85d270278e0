/// The Mugs local-group feature (reference: the relation branch of `VisionTransformer.forward` and `Block_mem` in
/// sail-sg/mugs `src/vision_transformer.py`, `src/model.py`), for N crops at once:
///
///     query = mean_t X[t]                         all T backbone tokens before the final norm (CLS included)
///     idx   = top-n_k  query · M_k / ‖M_k‖         cosine ranking in the network's neighbour memory M [K2, C]
///     R     = [query; M[idx_1]; …; M[idx_n]]       (1 + n, C)
///     lg    = LN(RelationBlock(R)[0])              the backbone's final norm (`norm.weight`, `norm.bias`)
///
/// The search and the neighbours carry no gradient; the gradient of lg reaches X through token 0 (∂query/∂X[t] =
/// 1/T). The relation block never drops paths (its rate is dpr[0] = 0 in the reference). Buffers are allocated
/// once for N rows.
public final class LocalGroupPath {
    public let N: Int, C: Int, topN: Int
    public let block: TransformerBlock
    private let normW: Int, normB: Int
    public let eps: Float

    private let acts: BlockActivations
    private let scratch: BlockScratch?
    private let query, relIn, token0, out, lnMean, lnRstd: ScratchBuffer
    private let dBlockOut, dRelIn, dToken0: ScratchBuffer
    private var sims: ScratchBuffer
    private var memInvNorm: ScratchBuffer
    /// Neighbour indices of the last forward (N × topN), best first.
    public private(set) var neighbours: [Int32]

    /// A path for N crops whose relation block is `relation_blocks.0.` and final norm `norm.` in `layout`.
    public init(layout: ParameterLayout, heads: Int, N: Int, topN: Int, training: Bool, pool: ComputePool,
                eps: Float = 1e-6, blockPrefix: String = "relation_blocks.0.") throws(ViTError) {
        block = try TransformerBlock(layout: layout, prefix: blockPrefix, heads: heads, eps: eps)
        guard let w = layout.offset(of: "norm.weight"), let b = layout.offset(of: "norm.bias") else {
            throw ViTError.missingParameter("norm.weight")
        }
        precondition(topN >= 0 && N > 0)
        self.N = N; self.C = block.C; self.topN = topN; self.eps = eps
        normW = w; normB = b
        let T = 1 + topN, C = block.C
        acts = block.makeActivations(B: N, T: T)
        scratch = training ? block.makeScratch(B: N, T: T, pool: pool) : nil
        query = ScratchBuffer(N * C); relIn = ScratchBuffer(N * T * C); token0 = ScratchBuffer(N * C)
        out = ScratchBuffer(N * C); lnMean = ScratchBuffer(N); lnRstd = ScratchBuffer(N)
        dBlockOut = ScratchBuffer(training ? N * T * C : 0); dRelIn = ScratchBuffer(training ? N * T * C : 0)
        dToken0 = ScratchBuffer(training ? N * C : 0)
        sims = ScratchBuffer(0); memInvNorm = ScratchBuffer(0)
        neighbours = [Int32](repeating: 0, count: N * topN)
    }

    /// Local-group features (N × C) of the last forward.
    public var output: UnsafeMutablePointer<Float> { out.p }

    /// lg(N,C) from the queries (N, C) — see `tokenMeanForward` — and the memory (K2, C) of ≥ topN rows.
    public func forward(queries: UnsafePointer<Float>, memory: UnsafePointer<Float>, K2: Int,
                        params: ParameterBuffer, pool: ComputePool) {
        precondition(K2 >= topN, "memory of \(K2) rows cannot give \(topN) neighbours")
        let N = N, C = C, n = topN, T = 1 + n
        let q = query.p
        q.update(from: queries, count: N * C)
        searchNeighbours(memory: memory, K2: K2, pool: pool)
        // R(N,T,C) = [query; neighbours]
        let R = relIn.p
        neighbours.withUnsafeBufferPointer { idx in
            for r in 0 ..< N {
                (R + r * T * C).update(from: q + r * C, count: C)
                for j in 0 ..< n {
                    (R + (r * T + 1 + j) * C).update(from: memory + Int(idx[r * n + j]) * C, count: C)
                }
            }
        }
        let p = params.base
        block.forward(inp: R, params: p, acts: acts, attnScale: nil, mlpScale: nil, pool: pool)
        let o = acts.output.pointer, t0 = token0.p
        for r in 0 ..< N { (t0 + r * C).update(from: o + r * T * C, count: C) }
        layerNormForward(out: out.p, mean: lnMean.p, rstd: lnRstd.p, inp: t0, weight: p + normW, bias: p + normB,
                         N: N, C: C, eps: eps, pool: pool)
    }

    /// Backward of the last forward: dQueries(N, C) += ∂/∂queries and grads += ∂/∂(relation block, final norm),
    /// for dOut(N,C) = ∂L/∂lg. The neighbours are constants.
    public func backward(dQueries: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>,
                         params: ParameterBuffer, grads: ParameterBuffer, pool: ComputePool) {
        guard let scratch else { preconditionFailure("local-group path was built without backward buffers") }
        let N = N, C = C, T = 1 + topN
        let p = params.base, g = grads.base
        dToken0.zero()
        layerNormBackward(dInp: dToken0.p, dWeight: g + normW, dBias: g + normB, dOut: dOut, inp: token0.p,
                          weight: p + normW, mean: lnMean.p, rstd: lnRstd.p, N: N, C: C, pool: pool)
        let dO = dBlockOut.p
        dBlockOut.zero()
        for r in 0 ..< N { (dO + r * T * C).update(from: dToken0.p + r * C, count: C) }
        dRelIn.zero()
        block.backward(dInp: dRelIn.p, dOut: dO, inp: relIn.p, params: p, grads: g, acts: acts, scratch: scratch,
                       attnScale: nil, mlpScale: nil, pool: pool)
        let dR = dRelIn.p
        for r in 0 ..< N {
            let dq = dR + r * T * C, dst = dQueries + r * C
            for c in 0 ..< C { dst[c] += dq[c] }
        }
    }

    /// query(N,C) = mean over the T tokens of each of N token sets (N, T, C).
    public static func tokenMeanForward(query: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Float>, N: Int,
                                        T: Int, C: Int, pool: ComputePool) {
        let invT = 1 / Float(T)
        pool.parallelFor(N, minChunk: 4) { rows in
            for r in rows {
                let x = tokens + r * T * C, y = query + r * C
                for c in 0 ..< C { y[c] = 0 }
                for t in 0 ..< T { let xt = x + t * C; for c in 0 ..< C { y[c] += xt[c] } }
                for c in 0 ..< C { y[c] *= invT }
            }
        }
    }

    /// dTokens(N,T,C) += dQuery(N,C)/T on every token (backward of `tokenMeanForward`).
    public static func tokenMeanBackward(dTokens: UnsafeMutablePointer<Float>, dQuery: UnsafePointer<Float>,
                                         N: Int, T: Int, C: Int, pool: ComputePool) {
        let invT = 1 / Float(T)
        pool.parallelFor(N, minChunk: 4) { rows in
            for r in rows {
                let dq = dQuery + r * C, dx = dTokens + r * T * C
                for t in 0 ..< T {
                    let dxt = dx + t * C
                    for c in 0 ..< C { dxt[c] = dxt[c].addingProduct(dq[c], invT) }
                }
            }
        }
    }

    /// Fills `neighbours` with the topN memory rows of highest cosine similarity to each query (ties: lower index).
    private func searchNeighbours(memory: UnsafePointer<Float>, K2: Int, pool: ComputePool) {
        if sims.count < N * K2 { sims = ScratchBuffer(N * K2) }      // first step (or a larger memory) only
        if memInvNorm.count < K2 { memInvNorm = ScratchBuffer(K2) }
        let C = C, n = topN, inv = memInvNorm.p, S = sims.p
        pool.parallelFor(K2, minChunk: 256) { rows in
            for k in rows {
                let m = memory + k * C
                var s: Float = 0
                for c in 0 ..< C { s = s.addingProduct(m[c], m[c]) }
                inv[k] = 1 / max(s.squareRoot(), l2NormalizeEps)
            }
        }
        // sims(N,K2) = query(N,C) · Mᵀ(C,K2)
        BLAS.sgemm(transB: true, M: N, N: K2, K: C, A: query.p, lda: C, B: memory, ldb: C, C: S, ldc: K2)
        neighbours.withUnsafeMutableBufferPointer { idxBuf in
            let idx = idxBuf.baseAddress!
            pool.parallelFor(N, minChunk: 4) { rows in
                // the best n (value, index) so far, best first, kept sorted by insertion (stack memory)
                withUnsafeTemporaryAllocation(of: Float.self, capacity: max(n, 1)) { bestV in
                    withUnsafeTemporaryAllocation(of: Int32.self, capacity: max(n, 1)) { bestI in
                        for r in rows {
                            for j in 0 ..< n { bestV[j] = -.infinity; bestI[j] = 0 }
                            let s = S + r * K2
                            for k in 0 ..< K2 {
                                let v = s[k] * inv[k]
                                if n == 0 || !(v > bestV[n - 1]) { continue }
                                var j = n - 1
                                while j > 0 && v > bestV[j - 1] {
                                    bestV[j] = bestV[j - 1]; bestI[j] = bestI[j - 1]; j -= 1
                                }
                                bestV[j] = v; bestI[j] = Int32(k)
                            }
                            for j in 0 ..< n { idx[r * n + j] = bestI[j] }
                        }
                    }
                }
            }
        }
    }
}
