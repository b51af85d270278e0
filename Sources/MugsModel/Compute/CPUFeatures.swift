import CGemm

/// The CPU's features as cpuid and the OS report them (a feature whose register state the OS does not save counts
/// as absent). The engine choice reads `avx2`, `fma` and `avx512*`; `brand`, `family` and `model` are only shown.
public struct CPUFeatures: Sendable {
    public let x86: Bool
    public let avx2: Bool, fma: Bool
    public let avx512f: Bool, avx512bw: Bool, avx512vl: Bool, avx512dq: Bool
    public let avx512bf16: Bool, amxTile: Bool, amxBF16: Bool
    public let vendor: String, brand: String
    public let family: Int, model: Int

    init(x86: Bool, avx2: Bool, fma: Bool, avx512f: Bool, avx512bw: Bool, avx512vl: Bool, avx512dq: Bool,
         avx512bf16: Bool, amxTile: Bool, amxBF16: Bool, vendor: String, brand: String, family: Int, model: Int) {
        self.x86 = x86; self.avx2 = avx2; self.fma = fma; self.avx512f = avx512f; self.avx512bw = avx512bw
        self.avx512vl = avx512vl; self.avx512dq = avx512dq; self.avx512bf16 = avx512bf16; self.amxTile = amxTile
        self.amxBF16 = amxBF16; self.vendor = vendor; self.brand = brand; self.family = family; self.model = model
    }

    static func read() -> CPUFeatures {
        var f = mugs_cpu_features()
        mugs_cpu_features_read(&f)
        func string<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return CPUFeatures(x86: f.x86 != 0, avx2: f.avx2 != 0, fma: f.fma != 0, avx512f: f.avx512f != 0,
                           avx512bw: f.avx512bw != 0, avx512vl: f.avx512vl != 0, avx512dq: f.avx512dq != 0,
                           avx512bf16: f.avx512_bf16 != 0, amxTile: f.amx_tile != 0, amxBF16: f.amx_bf16 != 0,
                           vendor: string(f.vendor), brand: string(f.brand), family: Int(f.family),
                           model: Int(f.model))
    }

    /// AVX2+FMA or AVX-512F: vector FMA units a GEMM kernel should use.
    public var hasVectorFMA: Bool { (avx2 && fma) || avx512f }

    /// The widest vector FMA ISA: "AVX-512", "AVX2+FMA" or "no vector FMA".
    public var vectorISA: String { avx512f ? "AVX-512" : (avx2 && fma ? "AVX2+FMA" : "no vector FMA") }

    /// The feature names present, in cpuid order ("avx2 fma avx512f ...").
    public var flags: String {
        [("avx2", avx2), ("fma", fma), ("avx512f", avx512f), ("avx512dq", avx512dq), ("avx512bw", avx512bw),
         ("avx512vl", avx512vl), ("avx512_bf16", avx512bf16), ("amx_tile", amxTile), ("amx_bf16", amxBF16)]
            .filter(\.1).map(\.0).joined(separator: " ")
    }

    /// "AMD EPYC (AuthenticAMD family 25 model 17): avx2 fma avx512f ...".
    public var summary: String {
        "\(brand.isEmpty ? "unknown CPU" : brand) (\(vendor) family \(family) model \(model)): "
            + (flags.isEmpty ? "no vector extensions" : flags)
    }
}
