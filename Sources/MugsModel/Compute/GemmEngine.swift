import CBLAS
import CGemm
import Foundation

/// Which library runs mugs' matrix products, and why (docs/ARCHITECTURE.md "GEMM engine").
///
/// `auto` chooses by the CPU's *features* (cpuid), never its model number: on an x86-64 CPU with AVX2+FMA or
/// AVX-512, oneDNN (its JIT kernels are generated for the ISA the CPU reports, so a CPU newer than the library
/// still gets them); elsewhere, or where oneDNN is not installed, OpenBLAS. OpenBLAS picks its kernels from a
/// table of CPU models and falls back to generic SSE3 ("Prescott") kernels on a model it does not know: measured
/// at 34-50 GFLOP/s on a current Intel Xeon where oneDNN ran 266-334 (BENCHMARKS.md). That case is named in a
/// warning, never silent.
public struct GemmEngine: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable { case onednn, openblas }
    public enum Choice: String, Sendable, CaseIterable { case auto, onednn, openblas }

    public let kind: Kind
    /// Library and version, e.g. "oneDNN 2.6.3", "OpenBLAS 0.3.21".
    public let library: String
    /// The kernel family the library runs here, e.g. "avx512_core_bf16", "Cooperlake", "Prescott".
    public let kernels: String
    /// Set when the engine runs kernels below what this CPU can do, or a forced/auto choice had to fall back:
    /// what happened and what to do.
    public let warning: String?

    /// "onednn (oneDNN 2.6.3, avx512_core_bf16)".
    public var description: String { "\(kind.rawValue) (\(library), \(kernels))" }

    /// The CPU this process runs on.
    public static let cpu: CPUFeatures = CPUFeatures.read()

    /// Cores this process may use (the default thread count).
    public static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// Chooses an engine for `choice`. A forced engine that cannot run here throws; `auto` never does.
    public static func select(_ choice: Choice, threads: Int) throws(GemmEngineError) -> GemmEngine {
        switch choice {
        case .openblas:
            return describe(.openblas)
        case .onednn:
            if let reason = loadOneDNN(threads: threads) { throw GemmEngineError(engine: "onednn", reason: reason) }
            return describe(.onednn)
        case .auto:
            guard cpu.hasVectorFMA else { return describe(.openblas) }
            if let reason = loadOneDNN(threads: threads) {
                return describe(.openblas, note: "oneDNN unavailable (\(reason))")
            }
            return describe(.onednn)
        }
    }

    /// The choice `MUGS_GEMM` names (auto when unset; auto with a message on stderr when it names no engine): the
    /// default of every `--gemm` option.
    public static var environmentChoice: Choice {
        let env = ProcessInfo.processInfo.environment["MUGS_GEMM"] ?? "auto"
        if let c = Choice(rawValue: env) { return c }
        FileHandle.standardError.write(Data("mugs: MUGS_GEMM=\(env) is not one of auto|onednn|openblas; using auto\n".utf8))
        return .auto
    }

    /// The engine for a process that did not call `BLAS.configure`: `MUGS_GEMM` or auto.
    static func defaultSelection() -> GemmEngine {
        let choice = environmentChoice
        do { return try select(choice, threads: defaultThreads) } catch {
            FileHandle.standardError.write(Data("mugs: \(error); using openblas\n".utf8))
            return describe(.openblas)
        }
    }

    /// Describes `kind` as it runs on this CPU (oneDNN must already be loaded for `.onednn`).
    static func describe(_ kind: Kind, note: String? = nil) -> GemmEngine {
        switch kind {
        case .onednn:
            var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
            mugs_onednn_version(&major, &minor, &patch)
            let isa = OneDNNISA(rawValue: mugs_onednn_isa())
            let weak = cpu.hasVectorFMA && !isa.isVectorFMA
            return GemmEngine(kind: .onednn, library: "oneDNN \(major).\(minor).\(patch)", kernels: isa.name,
                              warning: weak ? "oneDNN runs \(isa.name) kernels on a CPU with \(cpu.vectorISA): "
                                  + "check DNNL_MAX_CPU_ISA in the environment" : note)
        case .openblas:
            let config = String(cString: openblas_get_config())
            let version = config.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
            let core = String(cString: openblas_get_corename())
            let warning = [note, openBLASWarning(core: core, cpu: cpu)].compactMap { $0 }.joined(separator: "; ")
            return GemmEngine(kind: .openblas, library: "OpenBLAS \(version)", kernels: core,
                              warning: warning.isEmpty ? nil : warning)
        }
    }

    /// The warning for OpenBLAS running `core` kernels on `cpu`, or nil when they use its vector FMA units.
    static func openBLASWarning(core: String, cpu: CPUFeatures) -> String? {
        guard cpu.hasVectorFMA, !openBLASVectorCores.contains(core.lowercased()) else { return nil }
        return "OpenBLAS does not know this CPU and runs its generic \(core) kernels on a CPU with \(cpu.vectorISA), "
            + "several times slower than it can be: install Debian's libdnnl2 (mugs then uses oneDNN), or set "
            + "OPENBLAS_CORETYPE=" + (cpu.avx512f ? "SkylakeX" : "Haswell") + " for this process"
    }

    /// OpenBLAS core names whose kernels use AVX2/FMA or AVX-512 (lower case).
    static let openBLASVectorCores: Set<String> = ["haswell", "zen", "skylakex", "cooperlake", "sapphirerapids",
                                                   "excavator", "neoversen1", "neoversen2", "armv8sve"]

    /// Loads oneDNN for `threads` OpenMP threads; nil on success, else why not.
    private static func loadOneDNN(threads: Int) -> String? {
        var error = [CChar](repeating: 0, count: 512)
        if mugs_onednn_load(Int32(threads), &error, Int32(error.count)) == 0 { return nil }
        return String(cString: error)
    }

    init(kind: Kind, library: String, kernels: String, warning: String?) {
        self.kind = kind; self.library = library; self.kernels = kernels; self.warning = warning
    }
}

/// A forced GEMM engine that cannot run on this host.
public struct GemmEngineError: Error, CustomStringConvertible {
    public let engine: String, reason: String
    public var description: String { "gemm engine \(engine) cannot run here: \(reason)" }
}

/// oneDNN's `dnnl_cpu_isa_t` (the ISA its JIT kernels target here).
struct OneDNNISA {
    let rawValue: UInt32
    var name: String {
        switch rawValue {
        case 0x1: return "sse41"
        case 0x3: return "avx"
        case 0x7: return "avx2"
        case 0x407: return "avx2_vnni"
        case 0x27: return "avx512_core"
        case 0x67: return "avx512_core_vnni"
        case 0xe7: return "avx512_core_bf16"
        case 0x3e7: return "avx512_core_amx"
        default: return "isa 0x" + String(rawValue, radix: 16)
        }
    }
    /// AVX2 (bit 0x4 of the avx2 mask) or better.
    var isVectorFMA: Bool { rawValue & 0x7 == 0x7 }
}
