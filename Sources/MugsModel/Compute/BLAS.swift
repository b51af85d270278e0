import CBLAS
import CGemm

/// The one GEMM layer: every matrix product of mugs goes through `BLAS.sgemm`, which runs it on the engine chosen at
/// start-up (`GemmEngine`, from the CPU's features: docs/ARCHITECTURE.md "GEMM engine"). Everything else is Swift
/// loops over `ComputePool`.
public enum BLAS {
    /// The engine in use. Chosen on first use from `MUGS_GEMM` (auto|onednn|openblas, default auto) unless a
    /// daemon or command called `configure` first.
    nonisolated(unsafe) static var engine: GemmEngine.Kind = GemmEngine.defaultSelection().kind
    /// Threads each matrix product may use, for calls from any thread (attention sets 1 around its per-head loop,
    /// whose calls already run on every pool thread).
    nonisolated(unsafe) static var threads: Int32 = Int32(GemmEngine.defaultThreads)

    /// Chooses the engine (`choice`) for `threads` threads and returns what was chosen, with any warning. Throws
    /// when a forced engine cannot run here. Call it once at start-up, before the first matrix product.
    @discardableResult
    public static func configure(_ choice: GemmEngine.Choice, threads n: Int) throws(GemmEngineError) -> GemmEngine {
        let selected = try GemmEngine.select(choice, threads: n)
        engine = selected.kind
        setThreads(n)
        return selected
    }

    /// The engine in use, described (name, version, kernel family) for logs, `mugs info` and `/status`.
    public static var current: GemmEngine { GemmEngine.describe(engine) }

    /// Sets the thread count of every following matrix product (process-wide). Size it to the cores this
    /// process may use.
    public static func setThreads(_ n: Int) {
        threads = Int32(max(1, n))
        openblas_set_num_threads(threads)
    }

    /// Row-major C(M,N) = alpha · op(A)(M,K) · op(B)(K,N) + beta · C.
    /// `transA`: A is stored (K,M) and used transposed; `transB`: B is stored (N,K) and used transposed.
    /// lda/ldb/ldc are the row strides of the matrices as stored.
    /// `mixed`: a network layer's product, which runs in bf16 inside a mixed-precision scope of the calling thread
    /// (`MixedPrecisionScope.run`, `Precision.bf16`) and in fp32 everywhere else.
    /// `on`: this one product's engine instead of the process's (the engine tests compare engines this way, without
    /// changing `engine` under products that run beside them).
    @inline(__always)
    public static func sgemm(transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int,
                             alpha: Float = 1, A: UnsafePointer<Float>, lda: Int,
                             B: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int, mixed: Bool = false,
                             on kind: GemmEngine.Kind? = nil) {
        let status = mugs_sgemm((kind ?? engine) == .onednn ? 1 : 0, threads, transA ? 1 : 0, transB ? 1 : 0, Int32(M),
                                Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc),
                                mixed ? 1 : 0)
        // Only invalid arguments fail, which is a bug in the caller (shapes are checked where they are made); -2 is
        // an allocation failure of a bf16 conversion buffer.
        precondition(status == 0, "gemm failed (status \(status)) for M=\(M) N=\(N) K=\(K)")
    }

    /// Flops done by matrix products since the process started, and the core-seconds spent in them (each call's
    /// wall time × its threads). `GemmMeter` turns two readings into GFLOP/s.
    public static var counters: (flops: Double, coreSeconds: Double) {
        var f = 0.0, s = 0.0
        mugs_gemm_counters(&f, &s)
        return (f, s)
    }
}

/// The totals of one GEMM shape (transposes, dimensions, threads) in the shape profile.
public struct GemmShapeStat: Sendable, Equatable {
    public var transA: Bool, transB: Bool
    public var M: Int, N: Int, K: Int, threads: Int
    /// Ran in bf16 (mixed precision).
    public var bf16: Bool
    public var calls: Int
    public var flops: Double, coreSeconds: Double

    /// GFLOP/s per call while it ran, on its threads.
    public var gflopPerSecond: Double { coreSeconds > 0 ? flops / coreSeconds * Double(max(1, threads)) * 1e-9 : 0 }
}

extension BLAS {
    /// Starts (clearing it) or stops the per-shape profile of matrix products (off by default: it takes a lock per
    /// call). `mugs bench step --gemm-profile` uses it.
    public static func profileShapes(_ on: Bool) { mugs_gemm_profile_enable(on ? 1 : 0) }

    /// The profile's shapes, most core-time first.
    public static var shapeProfile: [GemmShapeStat] {
        var raw = [mugs_gemm_shape](repeating: mugs_gemm_shape(), count: 513)
        let n = Int(raw.withUnsafeMutableBufferPointer { mugs_gemm_profile_read($0.baseAddress, 513) })
        return raw.prefix(min(n, raw.count)).map {
            GemmShapeStat(transA: $0.transa != 0, transB: $0.transb != 0, M: Int($0.M), N: Int($0.N), K: Int($0.K),
                          threads: Int($0.threads), bf16: $0.bf16 != 0, calls: Int($0.calls), flops: $0.flops,
                          coreSeconds: $0.core_seconds)
        }.sorted { $0.coreSeconds > $1.coreSeconds }
    }
}

/// GEMM throughput between two readings of `BLAS.counters`: flops / core-seconds × threads, i.e. what the matrix
/// products ran at on `threads` cores while they ran.
public struct GemmMeter: Sendable {
    private var last: (flops: Double, coreSeconds: Double)

    public init() { last = BLAS.counters }

    /// GFLOP/s and GFLOP since the previous call (or `init`), at `threads` threads; nil when no product ran.
    public mutating func lap(threads: Int) -> (gflops: Double, gflopPerSecond: Double)? {
        let now = BLAS.counters
        defer { last = now }
        let flops = now.flops - last.flops, core = now.coreSeconds - last.coreSeconds
        guard flops > 0, core > 0 else { return nil }
        return (flops * 1e-9, flops / core * Double(max(1, threads)) * 1e-9)
    }
}
