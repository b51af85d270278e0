import Dispatch

/// Parallel loops for the non-GEMM kernels, sized to the cores this process may use (workers on a shared
/// machine run with 1 thread each). With one thread the body runs inline: no queue hop, no allocation.
public struct ComputePool: Sendable {
    public let threads: Int

    public init(threads: Int) { self.threads = max(1, threads) }

    /// Runs `body(range)` over `0..<n` split into at most `threads` contiguous chunks.
    /// Chunks are disjoint; the body must only write memory owned by its range.
    @inline(__always)
    public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, max(1, n / max(1, minChunk)))
        if chunks <= 1 || n <= 1 { body(0 ..< n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            if lo < hi { body(lo ..< hi) }
        }
    }
}
