import Foundation
import Testing
@testable import MugsModel

/// The GEMM layer: every engine this machine has computes every transpose case against a float64 reference, the
/// counters count exactly 2·M·N·K flops per product, and the choice and its warnings follow the CPU's features.
@Suite struct GemmEngineTests {
    /// The engines that can run here (OpenBLAS always; oneDNN when libdnnl2 is installed).
    static var engines: [GemmEngine.Kind] {
        GemmEngine.Kind.allCases.filter { (try? GemmEngine.select($0 == .onednn ? .onednn : .openblas, threads: 1)) != nil }
    }

    /// C = alpha·op(A)·op(B) + beta·C for each (transA, transB), odd sizes and padded strides, against float64 sums.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func everyEngineMatchesAFloat64Reference(transA: Bool, transB: Bool) throws {
        let M = 37, N = 29, K = 53, pad = 3
        let lda = (transA ? M : K) + pad, ldb = (transB ? K : N) + pad, ldc = N + pad
        var r = TestRandom(7)
        let a = r.array((transA ? K : M) * lda), b = r.array((transB ? N : K) * ldb), c0 = r.array(M * ldc)
        let alpha: Float = 0.75, beta: Float = -0.5
        var want = [Double](repeating: 0, count: M * ldc)
        for i in 0 ..< M { for j in 0 ..< N {
            var s = 0.0
            for k in 0 ..< K {
                let x = transA ? a[k * lda + i] : a[i * lda + k], y = transB ? b[j * ldb + k] : b[k * ldb + j]
                s += Double(x) * Double(y)
            }
            want[i * ldc + j] = Double(alpha) * s + Double(beta) * Double(c0[i * ldc + j])
        } }
        #expect(!Self.engines.isEmpty)
        for kind in Self.engines {
            var c = c0
            BLAS.sgemm(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: a, lda: lda, B: b, ldb: ldb,
                       beta: beta, C: &c, ldc: ldc, on: kind)
            var maxErr = 0.0
            for i in 0 ..< M { for j in 0 ..< N { maxErr = max(maxErr, abs(Double(c[i * ldc + j]) - want[i * ldc + j])) } }
            // Padding columns are never written.
            for i in 0 ..< M { for j in N ..< ldc { #expect(c[i * ldc + j] == c0[i * ldc + j]) } }
            #expect(maxErr < 1e-4, "\(kind) transA \(transA) transB \(transB): max |error| \(maxErr)")
        }
    }

    @Test func countersCountTwoMNKFlopsPerProduct() {
        let M = 8, N = 5, K = 3
        let a = [Float](repeating: 1, count: M * K), b = [Float](repeating: 1, count: K * N)
        var c = [Float](repeating: 0, count: M * N)
        // Other suites run products concurrently: the difference is at least ours, and ours is exact.
        let before = BLAS.counters.flops
        BLAS.sgemm(M: M, N: N, K: K, A: a, lda: K, B: b, ldb: N, C: &c, ldc: N)
        #expect(BLAS.counters.flops - before >= Double(2 * M * N * K))
        #expect(c.allSatisfy { $0 == Float(K) })
    }

    @Test func openBLASGenericKernelsOnAVX512CPUAreNamedInAWarning() {
        let avx512 = CPUFeatures(x86: true, avx2: true, fma: true, avx512f: true, avx512bw: true, avx512vl: true,
                                 avx512dq: true, avx512bf16: true, amxTile: false, amxBF16: false,
                                 vendor: "GenuineIntel", brand: "Intel Xeon", family: 6, model: 207)
        let old = CPUFeatures(x86: true, avx2: false, fma: false, avx512f: false, avx512bw: false, avx512vl: false,
                              avx512dq: false, avx512bf16: false, amxTile: false, amxBF16: false,
                              vendor: "GenuineIntel", brand: "Core 2", family: 6, model: 15)
        let w = GemmEngine.openBLASWarning(core: "Prescott", cpu: avx512)
        #expect(w?.contains("generic Prescott kernels") == true)
        #expect(w?.contains("OPENBLAS_CORETYPE=SkylakeX") == true)
        #expect(GemmEngine.openBLASWarning(core: "Cooperlake", cpu: avx512) == nil)
        #expect(GemmEngine.openBLASWarning(core: "Haswell", cpu: avx512) == nil)
        // A CPU without vector FMA has nothing faster to run: no warning.
        #expect(GemmEngine.openBLASWarning(core: "Prescott", cpu: old) == nil)
    }

    @Test func autoChoosesOneDNNExactlyWhereTheCPUHasVectorFMAAndOneDNNLoads() throws {
        let auto = try GemmEngine.select(.auto, threads: 1)
        let dnnl = (try? GemmEngine.select(.onednn, threads: 1)) != nil
        #expect(auto.kind == (GemmEngine.cpu.hasVectorFMA && dnnl ? .onednn : .openblas), "\(auto)")
        if auto.kind == .onednn { #expect(auto.warning == nil, "\(auto.warning ?? "")") }
        #expect(try GemmEngine.select(.openblas, threads: 1).kind == .openblas)
    }
}
