import ArgumentParser
import CGemm
import Foundation
import MugsModel
import Sampling

extension Mugs {
    /// `mugs bench gemm`: GFLOP/s of every available engine at the matrix shapes of the two presets' steps (forward
    /// and both backward products), beside this machine's measured FMA peak. `tools/bench_gemm.sh` runs PyTorch's
    /// matmul (MKL) at the same shapes in the same run.
    struct BenchGemm: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gemm",
            abstract: "Time sgemm at the model's shapes on each engine, against the measured FMA peak.")

        @Option(help: "Thread counts to measure, comma-separated.")
        var threads: String = "1,\(GemmEngine.defaultThreads)"

        @Option(help: "Engines, comma-separated: onednn, openblas (default: those available here).")
        var engines: String?

        @Option(help: "Timed calls per shape (after 2 warm-up calls).")
        var reps: Int = 15

        /// A product as the model calls it: out(M,N) = op(A)·op(B), with the transposes of `BLAS.sgemm`.
        struct Shape { let name: String; let M: Int, N: Int, K: Int; let transA: Bool, transB: Bool }

        /// The Linear layers' three products (forward x·Wᵀ, dInp = dOut·W, dW = dOutᵀ·x) at each preset's shapes:
        /// cpu_fashion_mnist (64 images × 65 tokens, d = 192) and the paper's ViT-S/16 (8 × 2 crops × 197, d = 384).
        static let shapes: [Shape] = [
            Shape(name: "cpu   qkv fwd", M: 4160, N: 576, K: 192, transA: false, transB: true),
            Shape(name: "cpu   fc1 fwd", M: 4160, N: 768, K: 192, transA: false, transB: true),
            Shape(name: "cpu   fc2 fwd", M: 4160, N: 192, K: 768, transA: false, transB: true),
            Shape(name: "cpu   fc1 dInp", M: 4160, N: 192, K: 768, transA: false, transB: false),
            Shape(name: "cpu   fc1 dW", M: 768, N: 192, K: 4160, transA: true, transB: false),
            Shape(name: "paper qkv fwd", M: 3152, N: 1152, K: 384, transA: false, transB: true),
            Shape(name: "paper fc2 fwd", M: 3152, N: 384, K: 1536, transA: false, transB: true),
            Shape(name: "paper fc1 dInp", M: 3152, N: 384, K: 1536, transA: false, transB: false),
            Shape(name: "paper fc1 dW", M: 1536, N: 384, K: 3152, transA: true, transB: false),
        ]

        func validate() throws {
            guard reps >= 3 else { throw ValidationError("--reps must be ≥ 3, got \(reps)") }
            guard !threadCounts.isEmpty, threadCounts.allSatisfy({ (1 ... 1024).contains($0) }) else {
                throw ValidationError("--threads is a comma-separated list of counts in 1...1024, got '\(threads)'")
            }
            if let engines {
                for e in engines.split(separator: ",") where GemmEngine.Kind(rawValue: String(e)) == nil {
                    throw ValidationError("--engines: '\(e)' is not onednn or openblas")
                }
            }
        }

        var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0) } }

        func run() throws {
            let cpu = GemmEngine.cpu
            print("cpu: \(cpu.summary)")
            let width: Int32 = cpu.avx512f ? 512 : 256
            // The best of 3 short runs: the clock of a virtual machine's core moves with its neighbours' load.
            let peak1 = (0 ..< 3).map { _ in mugs_fma_peak_gflops(width, 0.3) }.max()!
            print(String(format: "FMA peak (%d-bit, measured on one core): %.1f GFLOP/s per core", width, peak1))
            var kinds: [GemmEngine.Kind] = engines.map { $0.split(separator: ",").compactMap { GemmEngine.Kind(rawValue: String($0)) } }
                ?? [.onednn, .openblas]
            if engines == nil, (try? GemmEngine.select(.onednn, threads: 1)) == nil { kinds.removeAll { $0 == .onednn } }
            for kind in kinds {
                for t in threadCounts {
                    let engine = try BLAS.configure(kind == .onednn ? .onednn : .openblas, threads: t)
                    print("== gemm \(engine) threads \(t)")
                    var rates: [Double] = []
                    for s in Self.shapes {
                        let r = measure(s)
                        rates.append(r.median)
                        print(String(format: "%-15@ M=%5d N=%5d K=%5d %@%@  median %7.3f ms  %7.1f GFLOP/s (best %7.1f)"
                                     + "  %5.1f%% of peak", s.name as NSString, s.M, s.N, s.K,
                                     (s.transA ? "T" : "N") as NSString, (s.transB ? "T" : "N") as NSString,
                                     r.medianSeconds * 1e3, r.median, r.best, 100 * r.median / (peak1 * Double(t))))
                    }
                    let geo = exp(rates.map { log($0) }.reduce(0, +) / Double(rates.count))
                    print(String(format: "RESULT gemm engine=%@ threads=%d geomean %.1f GFLOP/s = %.1f%% of the FMA peak "
                                 + "(%.1f GFLOP/s at %d threads)", kind.rawValue as NSString, t, geo,
                                 100 * geo / (peak1 * Double(t)), peak1 * Double(t), t))
                }
            }
        }

        /// Median and best GFLOP/s of `reps` timed calls (after 2 warm-up calls) on random inputs.
        private func measure(_ s: Shape) -> (median: Double, best: Double, medianSeconds: Double) {
            var rng = SampleRNG(key: [UInt64(s.M), UInt64(s.N), UInt64(s.K)])
            let a = (0 ..< s.M * s.K).map { _ in Float(rng.normal()) }
            let b = (0 ..< s.K * s.N).map { _ in Float(rng.normal()) }
            var c = [Float](repeating: 0, count: s.M * s.N)
            var times: [Double] = []
            a.withUnsafeBufferPointer { A in
                b.withUnsafeBufferPointer { B in
                    c.withUnsafeMutableBufferPointer { C in
                        for i in 0 ..< reps + 2 {
                            let t0 = DispatchTime.now().uptimeNanoseconds
                            // C(M,N) = op(A)·op(B): A stored (M,K) or (K,M); B stored (N,K) or (K,N).
                            BLAS.sgemm(transA: s.transA, transB: s.transB, M: s.M, N: s.N, K: s.K,
                                       A: A.baseAddress!, lda: s.transA ? s.M : s.K, B: B.baseAddress!,
                                       ldb: s.transB ? s.K : s.N, C: C.baseAddress!, ldc: s.N)
                            if i >= 2 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9) }
                        }
                    }
                }
            }
            times.sort()
            let flops = 2 * Double(s.M) * Double(s.N) * Double(s.K)
            return (flops / times[times.count / 2] * 1e-9, flops / times[0] * 1e-9, times[times.count / 2])
        }
    }
}
