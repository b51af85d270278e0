import Foundation
import SafeTensors
import Testing
@testable import MugsModel

/// Parity of the LOCAL part of a Mugs step with tools/mugs_reference.py (fixture: tools/make_step_fixtures.py).
@Suite struct TrainStepTests {
    static func fixturePath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
    }

    /// The fixture's reduced configuration (tools/make_step_fixtures.py `CFG`).
    static func reducedConfig() -> MugsConfig {
        var c = MugsConfig()
        c.embed_dim = 32; c.depth = 2; c.num_heads = 2; c.patch_size = 4
        c.global_crop_size = 16; c.local_crop_size = 8; c.local_crops_number = 2; c.batch_size = 4
        c.head_hidden_dim = 64; c.pred_hidden_dim = 48; c.instance_out_dim = 16; c.local_group_out_dim = 16
        c.group_out_dim = 32; c.group_bottleneck_dim = 16; c.instance_queue_size = 16; c.local_group_queue_size = 16
        c.local_group_memory_size = 16; c.local_group_knn_top_n = 4; c.drop_path_rate = 0.1; c.norm_last_layer = true
        c.group_warmup_teacher_temp = 0.04; c.group_teacher_temp = 0.07; c.group_warmup_teacher_temp_epochs = 2
        c.epochs = 4; c.warmup_epochs = 1; c.freeze_last_layer = 1; c.lr = 0.5
        return c
    }

    /// max |a − b| and max |b| of two equally long arrays.
    static func maxDiff(_ a: UnsafePointer<Float>, _ b: [Float]) -> (diff: Float, scale: Float) {
        var d: Float = 0, s: Float = 0
        for i in 0 ..< b.count { d = max(d, abs(a[i] - b[i])); s = max(s, abs(b[i])) }
        return (d, s)
    }

    /// Expects a ≈ reference within rel·max|reference| + abs, printing the max difference.
    static func expectClose(_ name: String, _ a: UnsafePointer<Float>, _ ref: [Float], rel: Float, abs: Float) {
        let (d, s) = maxDiff(a, ref)
        let ok = d <= rel * s + abs
        if !ok || ProcessInfo.processInfo.environment["MUGS_PRINT_PARITY"] != nil {
            print("parity \(name): max|diff| \(d) (max|ref| \(s))")
        }
        #expect(ok, "\(name): max|diff| \(d) > \(rel)·\(s) + \(abs)")
    }

    /// Loads the fixture's initial state and runs the LOCAL part on its crops with its drop-path masks.
    /// The fixture's state before the step: student, teacher, memories and centre (`strict`: every tensor of the
    /// fixture's `init.student.`/`init.teacher.` prefixes must be used).
    static func initialState(_ f: SafeTensorsFile, _ step: TrainStep, config c: MugsConfig, strict: Bool) throws
        -> (ParameterBuffer, ParameterBuffer, Memories, [Float]) {
        let student = ParameterBuffer(layout: step.student.layout)
        let teacher = ParameterBuffer(layout: step.teacher.layout)
        try f.load(into: student, prefix: "init.student.", allowUnused: !strict)
        try f.load(into: teacher, prefix: "init.teacher.", allowUnused: !strict)
        let memories = Memories(config: c)
        for m in memories.all { try f.read("init." + m.name, into: m.buffer, shape: [m.rows, m.dim]) }
        return (student, teacher, memories, try f.tensor("init.center").data)
    }

    static func runFixtureStep(precision: Precision = .fp32) throws
        -> (TrainStep, StepBuffers, SafeTensorsFile, MugsConfig) {
        let f = try SafeTensors.read(path: fixturePath("step_reduced.safetensors"))
        var c = reducedConfig()
        c.precision = precision.rawValue
        let pool = ComputePool(threads: 2)
        let step = try TrainStep(config: c, b: c.batch_size, pool: pool)
        let (student, teacher, memories, center) = try initialState(f, step, config: c, strict: true)
        let tg = try f.tensor("crops.teacher_global"), sg = try f.tensor("crops.student_global")
        let sl = try f.tensor("crops.student_local"), weak = try f.tensor("crops.weak").data.map { $0 != 0 }
        let masks = StepDropPath.keepMasks(global: try f.tensor("drop.global").data,
                                           local: try f.tensor("drop.local").data)
        let sched = try JSONSerialization.jsonObject(with: Data(f.metadata["schedules"]!.utf8)) as! [String: Any]
        let tau = sched["teacher_temp"] as! Double
        let out = step.makeBuffers()
        try tg.data.withUnsafeBufferPointer { tgp in
            try sg.data.withUnsafeBufferPointer { sgp in
                try sl.data.withUnsafeBufferPointer { slp in
                    let crops = SliceCrops(teacherGlobal: tgp, studentGlobal: sgp, studentLocal: slp, weak: weak)
                    try center.withUnsafeBufferPointer { cp in
                        try step.run(studentParams: student, teacherParams: teacher, memories: memories,
                                     center: cp.baseAddress!, crops: crops, dropPath: masks,
                                     globalBatch: c.batch_size, teacherTemperature: tau, into: out, pool: pool)
                    }
                }
            }
        }
        return (step, out, f, c)
    }

    @Test func localStepMatchesPyTorchReference() throws {
        let (step, out, f, c) = try Self.runFixtureStep()
        let B = c.batch_size
        // network outputs
        let pairs: [(String, UnsafeMutablePointer<Float>)] = [
            ("teacher_instance", step.teacherInstance.output), ("teacher_local_group", step.teacherLocalGroup.output),
            ("teacher_group", step.teacherGroup.output), ("student_instance", step.studentInstance.output),
            ("student_local_group", step.studentLocalGroup.output), ("student_group", step.studentGroup.output),
            ("teacher_memory_feature", out.entries.teacherMemory),
            ("student_memory_feature", out.entries.studentMemory),
        ]
        for (name, p) in pairs { Self.expectClose(name, p, try f.tensor("out." + name).data, rel: 1e-4, abs: 1e-6) }
        let nb = try f.tensor("out.teacher_neighbours").data.map { Int32($0) }
        #expect(step.teacherPath.neighbours == nb)
        // losses
        let ref = try f.tensor("out.loss").data
        let losses = FusedLayout.Loss.allCases.map { Double(out.lossSum($0)) / Double(B) }
        for j in 0 ..< 3 { #expect(abs(losses[j] - Double(ref[j])) < 1e-5 * max(1, Double(ref[j])), "loss \(j)") }
        let total = zip(losses, c.loss_weights).map { $0 * $1 }.reduce(0, +) / c.loss_weights.reduce(0, +)
        #expect(abs(total - Double(ref[3])) < 1e-5 * max(1, Double(ref[3])))
        // every raw gradient
        for s in step.student.layout.specs {
            Self.expectClose("grad " + s.name, out.fused.pointer(s.name), try f.tensor("grad." + s.name).data,
                             rel: 2e-3, abs: 1e-7)
        }
        // centre sums: Σ over the 2B teacher rows
        let tGroup = try f.tensor("out.teacher_group").data, P = c.group_out_dim
        let sums = (0 ..< P).map { p in (0 ..< 2 * B).reduce(Float(0)) { $0 + tGroup[$1 * P + p] } }
        Self.expectClose("center sums", out.fused.pointer(FusedLayout.centerSums), sums, rel: 1e-5, abs: 1e-6)
        // entries: targets crop-major
        Self.expectClose("instance targets", out.entries.instanceTargets, try f.tensor("out.teacher_instance").data,
                         rel: 1e-4, abs: 1e-6)
        #expect(out.entries.weak == (try f.tensor("crops.weak").data.map { $0 != 0 }))
    }

    @Test func gradientIsSplitInvariant() throws {
        // Two slices of 2 images with globalBatch 4 sum to the one-slice gradient (per-sample separability).
        let f = try SafeTensors.read(path: Self.fixturePath("step_reduced.safetensors"))
        let c = Self.reducedConfig()
        let pool = ComputePool(threads: 2)
        let half = try TrainStep(config: c, b: 2, pool: pool)
        let (student, teacher, memories, center) = try Self.initialState(f, half, config: c, strict: false)
        let tg = try f.tensor("crops.teacher_global").data, sg = try f.tensor("crops.student_global").data
        let sl = try f.tensor("crops.student_local").data, weak = try f.tensor("crops.weak").data.map { $0 != 0 }
        let dg = try f.tensor("drop.global").data, dl = try f.tensor("drop.local").data
        let (B, L, G, l, depth) = (4, c.local_crops_number, c.global_crop_size, c.local_crop_size, c.depth)
        /// rows [crop, image] of a crop-major tensor restricted to images lo..<lo+2
        func slice(_ x: [Float], crops: Int, per: Int, lo: Int) -> [Float] {
            var out: [Float] = []
            for v in 0 ..< crops {
                let a: Int = (v * B + lo) * per, e: Int = a + 2 * per
                out += x[a ..< e]
            }
            return out
        }
        func sliceMask(_ m: [Float], rows: Int, crops: Int, lo: Int) -> [Float] {
            var out: [Float] = []
            for lb in 0 ..< depth * 2 { out += slice(Array(m[lb * rows ..< (lb + 1) * rows]), crops: crops, per: 1, lo: lo) }
            return out
        }
        var sum = [Float](repeating: 0, count: half.fusedLayout.layout.count)
        for lo in [0, 2] {
            let out = half.makeBuffers()
            let t = slice(tg, crops: 2, per: 3 * G * G, lo: lo), s = slice(sg, crops: 2, per: 3 * G * G, lo: lo)
            let lc = slice(sl, crops: L, per: 3 * l * l, lo: lo)
            try t.withUnsafeBufferPointer { tp in
                try s.withUnsafeBufferPointer { sp in
                    try lc.withUnsafeBufferPointer { lp in
                        try center.withUnsafeBufferPointer { cp in
                            try half.run(studentParams: student, teacherParams: teacher, memories: memories,
                                         center: cp.baseAddress!,
                                         crops: SliceCrops(teacherGlobal: tp, studentGlobal: sp, studentLocal: lp,
                                                          weak: Array(weak[lo ..< lo + 2])),
                                         dropPath: .keepMasks(global: sliceMask(dg, rows: 2 * B, crops: 2, lo: lo),
                                                              local: sliceMask(dl, rows: L * B, crops: L, lo: lo)),
                                         globalBatch: B, teacherTemperature: 0.055, into: out, pool: pool)
                        }
                    }
                }
            }
            for i in 0 ..< sum.count { sum[i] += out.fused.base[i] }
        }
        // compare with the whole batch at the same teacher temperature
        let ref = try Self.runWhole(f: f, c: c, tau: 0.055)
        for s in half.student.layout.specs {
            let r = half.student.layout.range(of: s.name)!
            Self.expectClose("split grad " + s.name, ref.base + r.lowerBound, Array(sum[r]), rel: 1e-4, abs: 1e-8)
        }
        let cs = half.fusedLayout.layout.range(of: FusedLayout.centerSums)!
        Self.expectClose("split center sums", ref.base + cs.lowerBound, Array(sum[cs]), rel: 1e-5, abs: 1e-6)
        let ls = half.fusedLayout.layout.range(of: FusedLayout.lossSums)!
        Self.expectClose("split loss sums", ref.base + ls.lowerBound, Array(sum[ls]), rel: 1e-5, abs: 1e-6)
    }

    /// The whole fixture batch at teacher temperature `tau`; returns the fused buffer.
    static func runWhole(f: SafeTensorsFile, c: MugsConfig, tau: Double) throws -> ParameterBuffer {
        let pool = ComputePool(threads: 2)
        let step = try TrainStep(config: c, b: c.batch_size, pool: pool)
        let (student, teacher, memories, center) = try initialState(f, step, config: c, strict: false)
        let tg = try f.tensor("crops.teacher_global").data, sg = try f.tensor("crops.student_global").data
        let sl = try f.tensor("crops.student_local").data, weak = try f.tensor("crops.weak").data.map { $0 != 0 }
        let out = step.makeBuffers()
        try tg.withUnsafeBufferPointer { tp in
            try sg.withUnsafeBufferPointer { sp in
                try sl.withUnsafeBufferPointer { lp in
                    try center.withUnsafeBufferPointer { cp in
                        try step.run(studentParams: student, teacherParams: teacher, memories: memories,
                                     center: cp.baseAddress!,
                                     crops: SliceCrops(teacherGlobal: tp, studentGlobal: sp, studentLocal: lp, weak: weak),
                                     dropPath: .keepMasks(global: try f.tensor("drop.global").data,
                                                          local: try f.tensor("drop.local").data),
                                     globalBatch: c.batch_size, teacherTemperature: tau, into: out, pool: pool)
                    }
                }
            }
        }
        return out.fused
    }

    @Test func seededDropPathDependsOnTheImageNotItsPosition() throws {
        // With seeds, swapping two images (crops and seeds) swaps their per-image losses (up to the summation
        // order of sgemm, which may depend on the row); keeping the seeds in place changes them.
        let f = try SafeTensors.read(path: Self.fixturePath("step_reduced.safetensors"))
        var c = Self.reducedConfig()
        c.drop_path_rate = 0.6
        let pool = ComputePool(threads: 1)
        let step = try TrainStep(config: c, b: 4, pool: pool)
        let (student, teacher, memories, center) = try Self.initialState(f, step, config: c, strict: false)
        var tg = try f.tensor("crops.teacher_global").data, sg = try f.tensor("crops.student_global").data
        var sl = try f.tensor("crops.student_local").data
        var seeds: [UInt64] = [11, 22, 33, 44]
        func run() throws -> [[Double]] {
            let out = step.makeBuffers()
            try tg.withUnsafeBufferPointer { tp in
                try sg.withUnsafeBufferPointer { sp in
                    try sl.withUnsafeBufferPointer { lp in
                        try center.withUnsafeBufferPointer { cp in
                            try step.run(studentParams: student, teacherParams: teacher, memories: memories,
                                         center: cp.baseAddress!,
                                         crops: SliceCrops(teacherGlobal: tp, studentGlobal: sp, studentLocal: lp,
                                                          weak: [true, false, true, false]),
                                         dropPath: .seeds(seeds), globalBatch: 4, teacherTemperature: 0.04,
                                         into: out, pool: pool)
                        }
                    }
                }
            }
            return step.perSampleLosses
        }
        let before = try run()
        func swap01(_ x: inout [Float], crops: Int) {
            let per = x.count / (crops * 4)
            for v in 0 ..< crops {
                for k in 0 ..< per { x.swapAt((v * 4 + 0) * per + k, (v * 4 + 1) * per + k) }
            }
        }
        swap01(&tg, crops: 2); swap01(&sg, crops: 2); swap01(&sl, crops: c.local_crops_number)
        let positional = try run()                       // seeds stay with the batch position
        seeds.swapAt(0, 1)
        let after = try run()                            // seeds follow their images
        func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * max(1, abs(a)) }
        var positionalDiffers = false
        for j in 0 ..< 3 {
            #expect(close(before[j][0], after[j][1]) && close(before[j][1], after[j][0]), "loss \(j)")
            #expect(close(before[j][2], after[j][2]) && close(before[j][3], after[j][3]))
            positionalDiffers = positionalDiffers || !close(before[j][0], positional[j][1])
                || !close(before[j][1], positional[j][0])
        }
        #expect(positionalDiffers, "drop-path masks must change the losses for this check to mean anything")
    }

    @Test func badInputIsATypedError() throws {
        let c = Self.reducedConfig()
        let pool = ComputePool(threads: 1)
        let step = try TrainStep(config: c, b: 4, pool: pool)
        let student = ParameterBuffer(layout: step.student.layout), teacher = ParameterBuffer(layout: step.teacher.layout)
        let memories = Memories(config: c)
        let short = [Float](repeating: 0, count: 10), center = [Float](repeating: 0, count: c.group_out_dim)
        let out = step.makeBuffers()
        #expect(throws: TrainStepError.self) {
            try short.withUnsafeBufferPointer { p in
                try step.run(studentParams: student, teacherParams: teacher, memories: memories, center: center,
                             crops: SliceCrops(teacherGlobal: p, studentGlobal: p, studentLocal: p, weak: [true]),
                             dropPath: .seeds([1, 2, 3, 4]), globalBatch: 4, teacherTemperature: 0.04, into: out,
                             pool: pool)
            }
        }
        var noLocal = c
        noLocal.local_crops_number = 0
        #expect(throws: (any Error).self) { _ = try TrainStep(config: noLocal, b: 4, pool: pool) }
    }
}
