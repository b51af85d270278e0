import Testing
@testable import MugsModel

@Suite struct LocalGroupTests {
    let pool = ComputePool(threads: 2)

    func setup(C: Int = 8) -> (ParameterLayout, ParameterBuffer) {
        let cfg = ViTConfig(embedDim: C, depth: 1, heads: 2, patchSize: 4, imageSize: 8, relationBlocks: 1)
        let layout = cfg.makeLayout()
        let params = ParameterBuffer(layout: layout)
        ObjectiveFD.fill(params, scale: 0.3, key: 21)
        for n in ["norm.weight", "relation_blocks.0.norm1.weight", "relation_blocks.0.norm2.weight"] {
            for i in 0 ..< C { params[n][i] += 1 }
        }
        return (layout, params)
    }

    @Test func neighboursAreTheTopCosineRowsOfTheMemory() throws {
        let (C, N, T, K2, n) = (8, 3, 5, 40, 4)
        let (layout, params) = setup(C: C)
        let path = try LocalGroupPath(layout: layout, heads: 2, N: N, topN: n, training: false, pool: pool)
        let x = ScratchBuffer(N * T * C), mem = ScratchBuffer(K2 * C)
        ObjectiveFD.fill(x.p, N * T * C, scale: 1, key: 22)
        ObjectiveFD.fill(mem.p, K2 * C, scale: 1, key: 23)
        for c in 0 ..< C { mem.p[7 * C + c] *= 100 }   // a long row: cosine, not dot product, must rank it
        let q = ScratchBuffer(N * C)
        LocalGroupPath.tokenMeanForward(query: q.p, tokens: x.p, N: N, T: T, C: C, pool: pool)
        path.forward(queries: q.p, memory: mem.p, K2: K2, params: params, pool: pool)
        for r in 0 ..< N {
            var q = [Double](repeating: 0, count: C)
            for t in 0 ..< T { for c in 0 ..< C { q[c] += Double(x.p[(r * T + t) * C + c]) / Double(T) } }
            let cos: [(Double, Int)] = (0 ..< K2).map { k in
                var d = 0.0, nn = 0.0
                for c in 0 ..< C { d += q[c] * Double(mem.p[k * C + c]); nn += Double(mem.p[k * C + c] * mem.p[k * C + c]) }
                return (d / nn.squareRoot(), k)
            }
            let expected = cos.sorted { $0.0 > $1.0 }.prefix(n).map { Int32($0.1) }
            #expect(Array(path.neighbours[r * n ..< (r + 1) * n]) == expected)
        }
    }

    @Test func gradientsMatchFiniteDifferences() throws {
        let (C, N, T, K2, n) = (8, 3, 5, 12, 3)
        let (layout, params) = setup(C: C)
        let grads = ParameterBuffer(layout: layout)
        let path = try LocalGroupPath(layout: layout, heads: 2, N: N, topN: n, training: true, pool: pool)
        let x = ScratchBuffer(N * T * C), dx = ScratchBuffer(N * T * C), mem = ScratchBuffer(K2 * C)
        let r = ScratchBuffer(N * C)
        ObjectiveFD.fill(x.p, N * T * C, scale: 1, key: 24)
        ObjectiveFD.fill(mem.p, K2 * C, scale: 1, key: 25)
        ObjectiveFD.fill(r.p, N * C, scale: 1, key: 26)
        let q = ScratchBuffer(N * C), dq = ScratchBuffer(N * C)
        func f() -> Double {
            LocalGroupPath.tokenMeanForward(query: q.p, tokens: x.p, N: N, T: T, C: C, pool: pool)
            path.forward(queries: q.p, memory: mem.p, K2: K2, params: params, pool: pool)
            var s = 0.0
            for i in 0 ..< N * C { s += Double(path.output[i]) * Double(r.p[i]) }
            return s
        }
        _ = f()
        let chosen = path.neighbours
        path.backward(dQueries: dq.p, dOut: r.p, params: params, grads: grads, pool: pool)
        LocalGroupPath.tokenMeanBackward(dTokens: dx.p, dQuery: dq.p, N: N, T: T, C: C, pool: pool)
        for s in layout.specs where s.name.hasPrefix("relation_blocks.") || s.name.hasPrefix("norm.") {
            let an = ObjectiveFD.directional(params.pointer(s.name), s.count, grad: grads.pointer(s.name),
                                             eps: 1e-2, key: 27, f: f)
            ObjectiveFD.expectClose(s.name, an)
        }
        // small steps keep the same neighbours (the selection is piecewise constant)
        let an = ObjectiveFD.directional(x.p, N * T * C, grad: dx.p, eps: 1e-3, key: 28, f: f)
        #expect(path.neighbours == chosen)
        ObjectiveFD.expectClose("tokens", an)
        // backbone blocks get nothing from this path
        #expect(grads["blocks.0.attn.qkv.weight"].allSatisfy { $0 == 0 })
    }
}
