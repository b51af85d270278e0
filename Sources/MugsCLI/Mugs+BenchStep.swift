import ArgumentParser
import Dispatch
import Foundation
import MugsModel
import Sampling

extension Mugs {
    /// `mugs bench step`: wall time of one full single-process Mugs training step (LOCAL + APPLY) on random crops.
    struct BenchStep: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "step",
            abstract: "Time the full training step (teacher fwd, student fwd, losses, backward, update).",
            discussion: """
            Builds the preset's student and teacher (reference initialisation), random crops of the preset's sizes \
            and runs --warmup + --steps single-process steps (the LOCAL part on the whole batch, then APPLY). \
            Prints each step, the median of every phase, and a RESULT line with images/s = batch / median step \
            time, comparable with ../shared/bench/torch_mugs_step.py (`--config cpu` is the cpu_fashion_mnist \
            preset, `--config paper` the vit_small_imagenet one).
            """)

        @Option(help: "Preset: cpu_fashion_mnist or vit_small_imagenet.")
        var preset: String = "cpu_fashion_mnist"

        @Option(help: "Global batch (default: the preset's).")
        var batch: Int?

        @Option(help: "Timed steps.")
        var steps: Int = 10

        @Option(help: "Untimed warm-up steps.")
        var warmup: Int = 2

        @Option(help: "Compute threads (BLAS and loops).")
        var threads: Int = 2

        @Flag(help: "Profile the matrix products of the timed steps by shape and print the costliest.")
        var gemmProfile = false

        @Flag(help: "Time the backbone's kernels (GEMMs, softmax, LayerNorm, GELU, ...) over the timed steps.")
        var kernelProfile = false

        @Option(help: "GEMM engine: auto (by CPU features), onednn or openblas (default: $MUGS_GEMM, else auto).")
        var gemm: GemmEngine.Choice = GemmEngine.environmentChoice

        @Option(help: ArgumentHelp("Precision of the layers' matrix products: fp32 or bf16 (needs AVX512_BF16), or a "
                                   + "comma list (fp32,bf16) to interleave their steps in one run and print the ratio.",
                                   valueName: "precision"))
        var precision: String = "fp32"

        /// `precision` parsed (in `validate`).
        private var precisions: [Precision] {
            precision.split(separator: ",").compactMap { Precision(rawValue: String($0)) }
        }

        func validate() throws {
            guard MugsConfig.preset(named: preset) != nil else {
                throw ValidationError("unknown preset '\(preset)' (known: \(MugsConfig.presetNames.joined(separator: ", ")))")
            }
            if let batch, batch < 1 { throw ValidationError("--batch must be ≥ 1") }
            guard steps >= 1, warmup >= 0, threads >= 1, threads <= 1024 else {
                throw ValidationError("--steps ≥ 1, --warmup ≥ 0, --threads in 1...1024")
            }
            let names = precision.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard !names.isEmpty, names.allSatisfy({ Precision(rawValue: $0) != nil }), Set(names).count == names.count
            else {
                throw ValidationError("--precision: '\(precision)' is not fp32, bf16 or a comma list of them")
            }
            if kernelProfile && names.count > 1 { throw ValidationError("--kernel-profile needs a single --precision") }
        }

        /// One precision's step, state and buffers.
        private final class Runner {
            let precision: Precision, step: TrainStep, state: TrainState, out: StepBuffers
            var times: [Double] = [], phases: [[Double]] = [], gemmRates: [Double] = []
            init(_ precision: Precision, config base: MugsConfig, pool: ComputePool) throws {
                var c = base
                c.precision = precision.rawValue
                self.precision = precision
                step = try TrainStep(config: c, b: c.batch_size, pool: pool)
                state = try TrainState(config: c, studentLayout: step.student.layout,
                                       teacherLayout: step.teacher.layout, stepsPerEpoch: 1000, seed: 0)
                step.student.initialize(state.student, seed: 0)
                state.copyStudentIntoTeacher()
                state.memories.randomise(seed: 1)
                state.step = 1000 + 37                             // past warm-up and freeze_last_layer
                out = step.makeBuffers()
            }
        }

        func run() throws {
            var c = MugsConfig.preset(named: preset)!
            if let batch { c.batch_size = batch }
            // Queues and memories must hold one step's entries; a smaller batch than the preset's is fine.
            let engine = try BLAS.configure(gemm, threads: threads)
            let pool = ComputePool(threads: threads)
            let B = c.batch_size, L = c.local_crops_number, G = c.global_crop_size, l = c.local_crop_size
            let runners = try precisions.map { try Runner($0, config: c, pool: pool) }
            var rng = SampleRNG(key: [7])
            func crops(_ n: Int) -> [Float] { (0 ..< n).map { _ in Float(rng.normal()) } }
            let tg = crops(2 * B * 3 * G * G), sg = crops(2 * B * 3 * G * G), sl = crops(L * B * 3 * l * l)
            let weak = (0 ..< B).map { $0 % 2 == 0 }
            print("mugs bench step: preset \(preset) batch \(B) threads \(threads) d=\(c.embedDim) depth \(c.blockCount) "
                  + "heads \(c.headCount) patch \(c.patch_size) crops 2x\(G)px + \(L)x\(l)px, student params "
                  + "\(runners[0].step.student.layout.parameterCount)")
            print("gemm: \(engine), precision \(precision)\(runners.count > 1 ? " (steps interleaved)" : ""), cpu "
                  + GemmEngine.cpu.summary)
            if let w = engine.warning { print("warning: \(w)") }
            var meter = GemmMeter()
            for i in 0 ..< warmup + steps {
                if gemmProfile && i == warmup { BLAS.profileShapes(true) }
                if kernelProfile && i == warmup { KernelProfile.reset(); KernelProfile.enabled = true }
                let seeds = (0 ..< B).map { UInt64(i * B + $0) }
                for r in runners {
                    let (step, state, out) = (r.step, r.state, r.out)
                    _ = meter.lap(threads: threads)
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try tg.withUnsafeBufferPointer { t in
                        try sg.withUnsafeBufferPointer { s in
                            try sl.withUnsafeBufferPointer { lo in
                                try step.run(studentParams: state.student, teacherParams: state.teacher,
                                             memories: state.memories, center: state.center.base,
                                             crops: SliceCrops(teacherGlobal: t, studentGlobal: s, studentLocal: lo,
                                                               weak: weak),
                                             dropPath: .seeds(seeds), globalBatch: B,
                                             teacherTemperature: state.schedules.teacherTemperature(epoch: state.epoch),
                                             into: out, pool: pool)
                            }
                        }
                    }
                    let t1 = DispatchTime.now().uptimeNanoseconds
                    try state.applyUpdate(gradients: out.fused.base,
                                          centerSums: out.fused.pointer(FusedLayout.centerSums), entries: [out.entries])
                    let t2 = DispatchTime.now().uptimeNanoseconds
                    let dt = Double(t2 - t0) * 1e-9, p = step.phases
                    let rate = meter.lap(threads: threads)
                    let loss = FusedLayout.Loss.allCases.map { Double(out.lossSum($0)) }.reduce(0, +) / Double(3 * B)
                    print("step \(i) \(r.precision.rawValue) \(i < warmup ? "warm" : "timed") \(fmt(dt)) s loss "
                          + fmt(loss, 4)
                          + (rate.map { ", gemm \(fmt($0.gflops, 1)) GFLOP at \(fmt($0.gflopPerSecond, 1)) GFLOP/s" } ?? ""))
                    if i >= warmup {
                        r.times.append(dt)
                        if let rate { r.gemmRates.append(rate.gflopPerSecond) }
                        r.phases.append([p.teacherForward, p.studentForward, p.losses, p.backward,
                                         Double(t2 - t1) * 1e-9])
                    }
                }
            }
            if gemmProfile { printShapeProfile(steps: steps * runners.count) }
            if kernelProfile {
                KernelProfile.enabled = false
                let secs = KernelProfile.seconds, wall = runners[0].times.reduce(0, +) / Double(steps)
                print("backbone kernels per step (wall \(fmt(wall)) s):")
                var accounted = 0.0
                for k in KernelProfile.Category.allCases {
                    let t = (secs[k] ?? 0) / Double(steps)
                    accounted += t
                    print(String(format: "  %7.1f ms  %5.1f%%  %@", t * 1e3, 100 * t / wall, k.label))
                }
                print(String(format: "  %7.1f ms  %5.1f%%  the rest (heads, losses, local-group path, update)",
                             (wall - accounted) * 1e3, 100 * (wall - accounted) / wall))
            }
            let names = ["teacher fwd", "student fwd", "losses", "backward", "update (clip+AdamW+EMA+queues)"]
            for r in runners {
                var parts: [String] = []
                for (k, name) in names.enumerated() { parts.append("\(name) \(fmt(median(r.phases.map { $0[k] })))") }
                print("phase medians (s, \(r.precision.rawValue)): " + parts.joined(separator: ", ")
                      + (r.gemmRates.isEmpty ? "" : "; gemm \(fmt(median(r.gemmRates), 1)) GFLOP/s"))
            }
            for r in runners {
                let med = median(r.times)
                print("RESULT preset=\(preset) batch=\(B) threads=\(threads) precision=\(r.precision.rawValue) s/step "
                      + "median \(fmt(med)) min \(fmt(r.times.min()!)) max \(fmt(r.times.max()!)) | img/s median "
                      + "\(fmt(Double(B) / med, 2)) (min \(fmt(Double(B) / r.times.max()!, 2)) max "
                      + "\(fmt(Double(B) / r.times.min()!, 2)))")
            }
            if runners.count > 1 {
                let base = median(runners[0].times)
                for r in runners.dropFirst() {
                    // Per-pair ratios too: adjacent steps share the machine's state, so their ratio is steadier.
                    let pairs = zip(runners[0].times, r.times).map { $0 / $1 }
                    print("RATIO \(r.precision.rawValue)/\(runners[0].precision.rawValue) img/s "
                          + fmt(base / median(r.times))
                          + " (median of per-step pairs \(fmt(median(pairs))), same run, steps interleaved)")
                }
            }
        }

        /// The timed steps' matrix products by shape: per step, the costliest shapes that together take 90 % of the
        /// core-time (at most 40), and the rest summed.
        private func printShapeProfile(steps: Int) {
            BLAS.profileShapes(false)
            let all = BLAS.shapeProfile, per = 1 / Double(steps)
            let total = all.reduce(0) { $0 + $1.coreSeconds }, totalFlops = all.reduce(0) { $0 + $1.flops }
            print("gemm shapes per step (core-seconds = wall × threads of each call; \(all.count) shapes, "
                  + "\(fmt(totalFlops * per * 1e-9, 1)) GFLOP in \(fmt(total * per)) core-s):")
            print("   core-s  share  GFLOP/s   calls  op      M      N      K  thr  prec")
            var shown = 0, covered = 0.0
            while shown < min(all.count, 40) && covered < 0.9 * total {
                covered += all[shown].coreSeconds
                shown += 1
            }
            for s in all.prefix(shown) {
                let op = (s.transA ? "T" : "N") + (s.transB ? "T" : "N")
                print(String(format: "  %7.3f  %4.1f%%  %7.1f  %6d  %@  %6d %6d %6d  %3d  %@", s.coreSeconds * per,
                             100 * s.coreSeconds / max(total, 1e-12), s.gflopPerSecond, s.calls / steps, op, s.M, s.N,
                             s.K, s.threads, s.bf16 ? "bf16" : "fp32"))
            }
            let rest = all.dropFirst(shown)
            if !rest.isEmpty {
                let c = rest.reduce(0) { $0 + $1.coreSeconds }, f = rest.reduce(0) { $0 + $1.flops }
                print(String(format: "  %7.3f  %4.1f%%  %7.1f  (%d more shapes)", c * per, 100 * c / max(total, 1e-12),
                             c > 0 ? f / c * 1e-9 : 0, rest.count))
            }
        }

        private func median(_ x: [Double]) -> Double {
            let s = x.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }

        private func fmt(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", x) }
    }
}
