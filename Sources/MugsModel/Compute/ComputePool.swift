import Foundation

/// Parallel loops for the non-GEMM kernels, sized to the cores this process may use (workers on a shared
/// machine run with 1 thread each). With one thread the body runs inline.
///
/// The helper threads are persistent and shared by every `ComputePool` value in the process (created on first
/// use, at most `threads − 1` of them). They block on semaphores between regions — never spin — and a region
/// allocates nothing, so a training step makes no allocations here after the first. (`concurrentPerform`, used
/// before, made ~600 small allocations per ViT step with 2 threads.) One region runs at a time: a caller that finds
/// the helpers busy (another thread is inside a region, e.g. concurrent tests) runs its chunks itself, one after
/// another, with the same chunk boundaries — results never depend on which thread ran a chunk.
public struct ComputePool: Sendable {
    public let threads: Int

    public init(threads: Int) { self.threads = max(1, threads) }

    /// Runs `body(range)` over `0..<n` split into at most `threads` contiguous chunks.
    /// Chunks are disjoint; the body must only write memory owned by its range.
    @inline(__always)
    public func parallelFor(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, max(1, n / max(1, minChunk)))
        if chunks <= 1 || n <= 1 { body(0 ..< n); return }
        HelperThreads.shared.run(n: n, chunks: chunks, body)
    }
}

/// The process's persistent helper threads for `ComputePool`.
final class HelperThreads: @unchecked Sendable {
    static let shared = HelperThreads()

    private final class Helper {
        let start = DispatchSemaphore(value: 0)
        var chunk = 0
    }

    private let region = NSLock()   // held for the whole of one parallel region
    private let done = DispatchSemaphore(value: 0)
    private var helpers: [Helper] = []
    // The current region; written by the caller before signalling, read by helpers after waking.
    private var body: ((Range<Int>) -> Void)?
    private var n = 0
    private var chunks = 0

    private static func range(_ c: Int, n: Int, chunks: Int) -> Range<Int> { n * c / chunks ..< n * (c + 1) / chunks }

    func run(n: Int, chunks: Int, _ work: (Range<Int>) -> Void) {
        guard region.try() else {
            for c in 0 ..< chunks { work(Self.range(c, n: n, chunks: chunks)) }
            return
        }
        defer { region.unlock() }
        while helpers.count < chunks - 1 { spawnHelper() }
        withoutActuallyEscaping(work) { escapable in
            body = escapable
            self.n = n
            self.chunks = chunks
            for c in 1 ..< chunks {
                helpers[c - 1].chunk = c
                helpers[c - 1].start.signal()
            }
            escapable(Self.range(0, n: n, chunks: chunks))
            for _ in 1 ..< chunks { done.wait() }
            body = nil
        }
    }

    private func spawnHelper() {
        let h = Helper()
        helpers.append(h)
        let t = Thread { [unowned self] in
            while true {
                h.start.wait()
                self.body!(Self.range(h.chunk, n: self.n, chunks: self.chunks))
                self.done.signal()
            }
        }
        t.name = "mugs-compute-\(helpers.count)"
        t.start()
    }
}
