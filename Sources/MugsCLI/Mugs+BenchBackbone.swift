import ArgumentParser
import CBLAS
import Foundation
import MugsModel
import Sampling

extension Mugs {
    /// `mugs bench backbone`: ViT forward + backward throughput, the partner of `shared/bench/torch_backbone.py`
    /// (same shapes, same loss mean(CLS²) on the final-normed tokens, no drop path, 2 warm-up + N timed steps).
    struct BenchBackbone: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backbone",
            abstract: "Time ViT forward+backward: the CPU preset (d192/12/3, patch 4, 32 px, batch 64) and ViT-S/16 "
                + "at 224 px (batch 16).")

        @Option(help: "cpu (d192/12/3, patch 4, 32 px, batch 64), paper (ViT-S/16, 224 px, batch 16) or both.")
        var preset: Preset = .both

        @Option(help: "Threads for the GEMM engine and the kernel pool (default: all cores of this process).")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        @Option(help: "GEMM engine: auto (by CPU features), onednn or openblas (default: $MUGS_GEMM, else auto).")
        var gemm: GemmEngine.Choice = GemmEngine.environmentChoice

        @Option(help: "Timed steps per shape (after 2 warm-up steps).")
        var steps: Int = 10

        @Option(help: "Override the batch size.")
        var batch: Int?

        @Flag(help: "Skip the per-kernel time breakdown (3 extra profiled steps).")
        var noBreakdown = false

        enum Preset: String, ExpressibleByArgument, CaseIterable { case cpu, paper, both }

        func validate() throws {
            guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1, got \(threads)") }
            guard steps >= 1 else { throw ValidationError("--steps must be ≥ 1, got \(steps)") }
            if let batch, batch < 1 { throw ValidationError("--batch must be ≥ 1, got \(batch)") }
        }

        func run() throws {
            let engine = try BLAS.configure(gemm, threads: threads)
            let pool = ComputePool(threads: threads)
            let coretype = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "(unset)"
            print("mugs bench backbone: threads \(threads), gemm \(engine), OPENBLAS_CORETYPE=\(coretype)")
            if let w = engine.warning { print("warning: \(w)") }
            if preset != .paper {
                let cfg = ViTConfig(embedDim: 192, depth: 12, heads: 3, patchSize: 4, imageSize: 32)
                try measure(name: "cpu", config: cfg, batch: batch ?? 64, pool: pool)
            }
            if preset != .cpu {
                let cfg = try ViTConfig.preset("vit_small", patchSize: 16, imageSize: 224)
                try measure(name: "paper", config: cfg, batch: batch ?? 16, pool: pool)
            }
        }

        private func measure(name: String, config: ViTConfig, batch B: Int, pool: ComputePool) throws {
            let vit = try VisionTransformer(config: config)
            let params = ParameterBuffer(layout: vit.layout), grads = ParameterBuffer(layout: vit.layout)
            var rng = SampleRNG(key: [2026, 11, 26])
            for spec in vit.layout.specs {
                let view = params[spec.name]
                let isNormWeight = spec.name.hasSuffix("norm1.weight") || spec.name.hasSuffix("norm2.weight")
                    || spec.name == "norm.weight"
                for i in view.indices { view[i] = isNormWeight ? 1 : Float(rng.normal() * 0.02) }
            }
            let side = config.imageSize, C = config.embedDim
            let acts = try vit.makeActivations(B: B, Hi: side, Wi: side, pool: pool)
            let images = FloatStorage(B * config.inChannels * side * side)
            for i in 0 ..< images.count { images.pointer[i] = Float(rng.normal()) }
            let dOut = FloatStorage(B * acts.T * C)
            acts.disableDropPath()
            // loss = mean over (B, C) of out[:, 0]²  →  dOut[b, 0, c] = 2·out[b, 0, c] / (B·C), zero elsewhere.
            func step() {
                grads.zero()
                vit.forward(images: images.pointer, params: params, acts: acts, pool: pool)
                let out = acts.output.pointer, d = dOut.pointer, k = 2 / Float(B * C)
                for b in 0 ..< B { for c in 0 ..< C { d[b * acts.T * C + c] = k * out[b * acts.T * C + c] } }
                vit.backward(dOutput: d, dPreNorm: nil, dImages: nil, params: params, grads: grads, acts: acts,
                             pool: pool)
            }
            let w0 = Date()
            step(); step()
            let warmup = Date().timeIntervalSince(w0)
            var times: [Double] = []
            for _ in 0 ..< steps {
                let t0 = Date()
                step()
                times.append(Date().timeIntervalSince(t0))
            }
            let sorted = times.sorted(), median = sorted[sorted.count / 2]
            let tokens = acts.T
            // FLOPs: per block 2·T·(12C² + 2·T·C) forward (Linears + attention), backward ≈ 2× forward.
            let flop = 3.0 * Double(B) * Double(config.depth) * 2 * Double(tokens)
                * (12 * Double(C * C) + 2 * Double(tokens * C))
            print("\(name): d=\(C) depth=\(config.depth) heads=\(config.heads) patch=\(config.patchSize) "
                  + "img=\(side) batch=\(B) tokens=\(tokens) warm-up \(String(format: "%.2f", warmup)) s")
            print(String(format: "RESULT mugs backbone %@ fwd+bwd batch=%d s/iter median %.4f min %.4f max %.4f | "
                         + "img/s median %.1f (best %.1f) | %.1f GFLOP/s", name, B, median, sorted.first!,
                         sorted.last!, Double(B) / median, Double(B) / sorted.first!, flop / median / 1e9))
            guard !noBreakdown else { return }
            KernelProfile.reset()
            KernelProfile.enabled = true
            let profiled = 3, p0 = Date()
            for _ in 0 ..< profiled { step() }
            let wall = Date().timeIntervalSince(p0) / Double(profiled)
            KernelProfile.enabled = false
            let secs = KernelProfile.seconds
            var gemm = 0.0, accounted = 0.0
            print("  breakdown per step (\(profiled) profiled steps, wall \(String(format: "%.4f", wall)) s):")
            for c in KernelProfile.Category.allCases {
                let s = (secs[c] ?? 0) / Double(profiled)
                accounted += s
                if c.isGemm { gemm += s }
                print(String(format: "    %6.1f ms  %5.1f%%  %@", s * 1e3, 100 * s / wall, c.label))
            }
            print(String(format: "    %6.1f ms  %5.1f%%  other (loops, loss gradient, zeroing grads)",
                         (wall - accounted) * 1e3, 100 * (wall - accounted) / wall))
            print(String(format: "  sgemm %.1f%% of the step (%.1f GFLOP/s inside sgemm), the rest %.1f%%",
                         100 * gemm / wall, flop / gemm / 1e9, 100 * (wall - gemm) / wall))
        }
    }
}
