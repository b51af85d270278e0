import MugsModel

/// Exact top-K cosine neighbours of every query row among the train rows, batched so that memory stays
/// (queryChunk × trainBlock) floats of similarities plus K entries per query, whatever the set sizes
/// (1.28M × 50k ImageNet features included): for each chunk of queries, similarities against one block of
/// train rows at a time go through sgemm, and each query keeps a min-heap of its K best (similarity, index).
///
/// Order: similarity descending; equal similarities keep the lower train index first (`torch.topk` leaves ties
/// unspecified). Rows are expected L2-normalised (then similarity = cosine).
public struct NeighbourSearch {
    public let K: Int
    public let queryChunk: Int
    public let trainBlock: Int

    public init(K: Int, queryChunk: Int = 256, trainBlock: Int = 8192) {
        precondition(K >= 1 && queryChunk >= 1 && trainBlock >= 1, "NeighbourSearch sizes must be positive")
        self.K = K; self.queryChunk = queryChunk; self.trainBlock = trainBlock
    }

    /// Calls `body(first query, rows, sims (rows, K), indices (rows, K))` per chunk of queries, neighbours sorted.
    /// `train` is (Ntr, C), `queries` (Nq, C); needs K ≤ Ntr.
    public func run(train: UnsafePointer<Float>, Ntr: Int, queries: UnsafePointer<Float>, Nq: Int, C: Int,
                    pool: ComputePool,
                    _ body: (Int, Int, UnsafePointer<Float>, UnsafePointer<Int32>) -> Void) {
        precondition(K <= Ntr, "K \(K) exceeds the \(Ntr) train rows")
        let chunk = min(queryChunk, Nq), block = min(trainBlock, Ntr)
        let sims = UnsafeMutablePointer<Float>.allocate(capacity: chunk * block)
        let heapSim = UnsafeMutablePointer<Float>.allocate(capacity: chunk * K)
        let heapIdx = UnsafeMutablePointer<Int32>.allocate(capacity: chunk * K)
        let filled = UnsafeMutablePointer<Int>.allocate(capacity: chunk)
        defer { sims.deallocate(); heapSim.deallocate(); heapIdx.deallocate(); filled.deallocate() }
        var q0 = 0
        while q0 < Nq {
            let rows = min(chunk, Nq - q0)
            filled.update(repeating: 0, count: rows)
            var t0 = 0
            while t0 < Ntr {
                let cols = min(block, Ntr - t0)
                // sims(rows, cols) = queries(rows, C) · trainᵀ(C, cols)
                BLAS.sgemm(transB: true, M: rows, N: cols, K: C, A: queries + q0 * C, lda: C, B: train + t0 * C,
                           ldb: C, C: sims, ldc: cols)
                let base = t0
                pool.parallelFor(rows, minChunk: 4) { r in
                    for i in r {
                        Self.offer(sims + i * cols, count: cols, base: base, heapSim: heapSim + i * K,
                                   heapIdx: heapIdx + i * K, filled: &filled[i], K: K)
                    }
                }
                t0 += cols
            }
            pool.parallelFor(rows, minChunk: 16) { r in
                for i in r { Self.sortDescending(heapSim + i * K, heapIdx + i * K, count: K) }
            }
            body(q0, rows, heapSim, heapIdx)
            q0 += rows
        }
    }

    /// Pushes row values into a min-heap of size K (root = worst kept). Indices arrive in increasing order, so an
    /// equal similarity never displaces a kept one: the lower index wins ties.
    @inline(__always)
    static func offer(_ row: UnsafePointer<Float>, count: Int, base: Int, heapSim: UnsafeMutablePointer<Float>,
                      heapIdx: UnsafeMutablePointer<Int32>, filled: inout Int, K: Int) {
        var j = 0
        while filled < K && j < count {
            siftUp(heapSim, heapIdx, at: filled, sim: row[j], idx: Int32(truncatingIfNeeded: base + j))
            filled += 1
            j += 1
        }
        var worst = heapSim[0]
        while j < count {
            let v = row[j]
            if v > worst {
                siftDown(heapSim, heapIdx, count: K, sim: v, idx: Int32(truncatingIfNeeded: base + j))
                worst = heapSim[0]
            }
            j += 1
        }
    }

    /// a is worse than b: lower similarity, or equal similarity and higher index.
    @inline(__always)
    static func worse(_ sa: Float, _ ia: Int32, _ sb: Float, _ ib: Int32) -> Bool { sa < sb || (sa == sb && ia > ib) }

    @inline(__always)
    static func siftUp(_ s: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Int32>, at start: Int,
                       sim: Float, idx: Int32) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            if !worse(sim, idx, s[parent], x[parent]) { break }
            s[i] = s[parent]; x[i] = x[parent]
            i = parent
        }
        s[i] = sim; x[i] = idx
    }

    /// Replaces the root with (sim, idx) and restores the heap.
    @inline(__always)
    static func siftDown(_ s: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Int32>, count: Int,
                         sim: Float, idx: Int32) {
        var i = 0
        while true {
            let l = 2 * i + 1
            if l >= count { break }
            var c = l
            let r = l + 1
            if r < count && worse(s[r], x[r], s[l], x[l]) { c = r }
            if !worse(s[c], x[c], sim, idx) { break }
            s[i] = s[c]; x[i] = x[c]
            i = c
        }
        s[i] = sim; x[i] = idx
    }

    /// Heap contents → best first (similarity descending, index ascending on ties).
    static func sortDescending(_ s: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Int32>, count: Int) {
        var pairs = (0 ..< count).map { (s[$0], x[$0]) }
        pairs.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
        for (i, p) in pairs.enumerated() { s[i] = p.0; x[i] = p.1 }
    }
}
