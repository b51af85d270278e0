import ArgumentParser
import CBLAS
import Foundation
import MugsModel

extension Mugs {
    /// Prints what this build computes with: the CPU's features, the GEMM engine `auto` chooses (or `--gemm`
    /// forces) and its kernel family, OpenBLAS's configuration and the environment that changes them.
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the CPU and the GEMM engine in use.")

        @Option(help: "GEMM engine: auto (by CPU features), onednn or openblas (default: $MUGS_GEMM, else auto).")
        var gemm: GemmEngine.Choice = GemmEngine.environmentChoice

        @Option(help: "Threads per matrix product (default: the cores this process may use).")
        var threads: Int = GemmEngine.defaultThreads

        func run() throws {
            let env = ProcessInfo.processInfo.environment  // as given: oneDNN's loading sets OMP_* defaults
            let engine = try BLAS.configure(gemm, threads: threads)
            print("cpu: \(GemmEngine.cpu.summary)")
            print("cores: \(ProcessInfo.processInfo.activeProcessorCount)")
            print("gemm: \(engine) threads \(threads)")
            if let w = engine.warning { print("warning: \(w)") }
            print("precision bf16: " + (Precision.bf16.unavailableHere.map { "unavailable: \($0)" }
                ?? "available (\(engine.library) \(engine.kernels), dnnl_gemm_bf16bf16f32)"))
            print("openblas: \(String(cString: openblas_get_config())), core \(String(cString: openblas_get_corename()))")
            for name in ["MUGS_GEMM", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "DNNL_MAX_CPU_ISA"] {
                print("\(name)=\(env[name] ?? "(unset)")")
            }
            if engine.kind == .onednn {
                print("OpenMP for oneDNN: OMP_NUM_THREADS=\(env["OMP_NUM_THREADS"] ?? "\(threads) (set by mugs)"), "
                      + "OMP_WAIT_POLICY=\(env["OMP_WAIT_POLICY"] ?? "PASSIVE (set by mugs)")")
            }
        }
    }
}

extension GemmEngine.Choice: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}
