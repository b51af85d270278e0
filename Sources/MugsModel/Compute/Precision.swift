import CGemm

/// The precision of the network's matrix products (docs/CONFIG.md "precision").
///
/// * `fp32`: every product in fp32 (the default; the path every parity test pins down).
/// * `bf16`: the products of the backbone's and heads' layers (Linear forward and both backward products, the patch
///   embedding) round their two inputs to bf16 (8-bit mantissa), multiply exactly and accumulate in fp32 into fp32
///   outputs, on oneDNN's AVX512_BF16 kernels (`vdpbf16ps`). Everything else stays fp32: master weights, AdamW
///   moments, the teacher EMA, the centre, queues and memories, the losses (their queue and memory products too),
///   softmax, LayerNorm, GELU, the attention's per-head products, and the whole update path, which stays
///   bit-deterministic. Weights are rounded once per step into a shadow (`BF16Shadow`), activations per product.
public enum Precision: String, Sendable, CaseIterable, Codable {
    case fp32, bf16

    /// Why `self` cannot run on this host with the engine in use, naming the missing feature; nil when it can.
    public static func unavailable(_ p: Precision, cpu: CPUFeatures, engine: GemmEngine.Kind,
                                   oneDNNBF16: Bool) -> String? {
        guard p == .bf16 else { return nil }
        if !cpu.avx512bf16 {
            let name = cpu.brand.isEmpty ? "unknown" : cpu.brand
            return "precision bf16 needs AVX512_BF16 (vdpbf16ps), which this CPU (\(name), \(cpu.vendor) family "
                + "\(cpu.family) model \(cpu.model)) lacks; emulated bf16 would be slower than fp32: use precision fp32"
        }
        if engine != .onednn {
            return "precision bf16 runs on the oneDNN engine, but the engine in use is \(engine.rawValue): "
                + "install Debian's libdnnl2 and use --gemm auto|onednn"
        }
        if !oneDNNBF16 {
            return "precision bf16 needs oneDNN's avx512_core_bf16 kernels and dnnl_gemm_bf16bf16f32; this libdnnl "
                + "runs \(OneDNNISA(rawValue: mugs_onednn_isa()).name) (check DNNL_MAX_CPU_ISA) or lacks the function"
        }
        return nil
    }

    /// `unavailable` for this process: its CPU and the engine `BLAS` uses.
    public var unavailableHere: String? {
        Precision.unavailable(self, cpu: GemmEngine.cpu, engine: BLAS.engine,
                              oneDNNBF16: mugs_onednn_bf16_available() != 0)
    }
}

/// A bf16 copy of a parameter buffer, allocated once and refreshed once per step (`refresh`), then registered in a
/// mixed-precision scope (`MixedPrecisionScope.run`) so that a product reading a weight reads its shadow instead of
/// rounding it again. The fp32 buffer stays the master copy.
public final class BF16Shadow: @unchecked Sendable {
    public let count: Int
    let storage: UnsafeMutablePointer<UInt16>
    /// The fp32 buffer this shadow was last refreshed from.
    private(set) var base: UnsafePointer<Float>?

    public init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(1, count))
        storage.initialize(repeating: 0, count: max(1, count))
    }

    deinit { storage.deallocate() }

    /// Rounds `count` floats of `source` into the shadow (round to nearest even), split over `pool`.
    public func refresh(from source: UnsafePointer<Float>, pool: ComputePool) {
        base = source
        Self.convert(source, storage, count: count, pool: pool)
    }

    /// Rounds `count` floats of `src` into `dst`, in chunks of 64 Ki values over `pool` (each value's rounding is
    /// independent, so the split does not change a bit).
    static func convert(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count n: Int,
                        pool: ComputePool) {
        let chunk = 1 << 16
        pool.parallelFor((n + chunk - 1) / chunk, minChunk: 1) { chunks in
            for c in chunks {
                let lo = c * chunk
                mugs_bf16_convert(src + lo, dst + lo, Int64(min(chunk, n - lo)), 1)
            }
        }
    }

    /// The shadow's values (tests).
    var values: [UInt16] { Array(UnsafeBufferPointer(start: storage, count: count)) }
}

/// A set of shadows registered together for mixed-precision scopes on the calling thread (built once).
public final class MixedPrecisionScope: @unchecked Sendable {
    public let shadows: [BF16Shadow]
    private let table: UnsafeMutablePointer<mugs_bf16_shadow>
    /// The pool that converts the scope's unshadowed operands (activations and their gradients).
    private var pool = ComputePool(threads: 1)

    public init(shadows: [BF16Shadow]) {
        self.shadows = shadows
        table = .allocate(capacity: max(1, shadows.count))
        table.initialize(repeating: mugs_bf16_shadow(), count: max(1, shadows.count))
    }

    deinit { table.deallocate() }

    /// Runs `body` with the calling thread's `mixed` products in bf16, reading operands that lie inside a shadow's
    /// buffer from the shadow (refresh them first: a shadow holds the values of its last `refresh`) and rounding the
    /// others (activations and their gradients) per product, split over `pool`. The scope ends when `body` returns
    /// or throws.
    public func run<R, E: Error>(pool: ComputePool, _ body: () throws(E) -> R) throws(E) -> R {
        for i in shadows.indices {
            let s = shadows[i]
            precondition(s.base != nil, "BF16Shadow used before its first refresh")
            table[i] = mugs_bf16_shadow(base: s.base, shadow: UnsafePointer(s.storage), count: Int64(s.count))
        }
        self.pool = pool
        mugs_bf16_scope_set(1, table, Int32(shadows.count), { context, src, dst, n in
            let scope = Unmanaged<MixedPrecisionScope>.fromOpaque(context!).takeUnretainedValue()
            BF16Shadow.convert(src!, dst!, count: Int(n), pool: scope.pool)
        }, Unmanaged.passUnretained(self).toOpaque())
        defer { mugs_bf16_scope_set(0, nil, 0, nil, nil) }
        return try withExtendedLifetime(self) { () throws(E) -> R in try body() }
    }
}
