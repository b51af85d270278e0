import Dispatch
import Sampling

/// The crops of a slice of b images, as the reference feeds them (crop-major: crop v of image i is row v·b + i).
public struct SliceCrops {
    /// Teacher global crops (2, b, 3, G, G).
    public var teacherGlobal: UnsafeBufferPointer<Float>
    /// Student global crops (2, b, 3, G, G).
    public var studentGlobal: UnsafeBufferPointer<Float>
    /// Student local crops (L, b, 3, l, l).
    public var studentLocal: UnsafeBufferPointer<Float>
    /// Per image: were the student's global crops weakly augmented (student memory entry)?
    public var weak: [Bool]

    public init(teacherGlobal: UnsafeBufferPointer<Float>, studentGlobal: UnsafeBufferPointer<Float>,
                studentLocal: UnsafeBufferPointer<Float>, weak: [Bool]) {
        self.teacherGlobal = teacherGlobal; self.studentGlobal = studentGlobal
        self.studentLocal = studentLocal; self.weak = weak
    }
}

/// Stochastic depth of the student's crops: drawn from each image's seed, or explicit keep masks (parity tests).
public enum StepDropPath {
    /// One 64-bit seed per image (derive it from (seed, epoch, dataset index)); crop v of image i draws from
    /// `SampleRNG(key: [seed_i, 0x6d75_6773, v])`, never from its batch position.
    case seeds([UInt64])
    /// Keep masks 0/1 as (depth, 2, rows) for the global crops (rows 2b) and the local crops (rows L·b), branch 0
    /// the attention branch, 1 the MLP branch (the reference draws them independently).
    case keepMasks(global: [Float], local: [Float])
}

/// Wall time of the LOCAL part's phases in the last `run`, seconds.
public struct StepPhases: Sendable {
    public var teacherForward = 0.0, studentForward = 0.0, losses = 0.0, backward = 0.0
}

/// The LOCAL part of one Mugs training step (DESIGN §3) for a slice of b images of a global batch of B: teacher
/// forward, student forward, the three losses against the state before the step, and the backward into the fused
/// buffer, plus the slice's queue/memory entries. See docs/METHOD.md for every formula; the APPLY part (clipping,
/// AdamW, EMA, centre, enqueue) consumes `StepBuffers` after the all-reduce/all-gather. The single-process step is
/// this on the whole batch followed by APPLY.
///
/// All buffers are allocated here, once per slice size b; `run` allocates nothing after its first call.
public final class TrainStep {
    public let config: MugsConfig
    /// Images in the slice.
    public let b: Int
    public let student: MugsNetwork, teacher: MugsNetwork
    public let fusedLayout: FusedLayout
    public private(set) var phases = StepPhases()

    let L: Int, C: Int, G: Int, l: Int
    let Tg: Int, Tl: Int
    /// The backbone reads and writes buffers of its own layout, a prefix of the network's (and of the fused
    /// buffer's gradient part): views of the caller's buffers, made again only when those buffers change.
    private var backboneViews: (student: ParameterBuffer, teacher: ParameterBuffer, grads: ParameterBuffer)?
    let teacherActs: ViTActivations, globalActs: ViTActivations, localActs: ViTActivations
    let teacherPath: LocalGroupPath, studentPath: LocalGroupPath
    public let teacherInstance: ContrastHead, teacherLocalGroup: ContrastHead, teacherGroup: GroupHead
    public let studentInstance: ContrastHead, studentLocalGroup: ContrastHead, studentGroup: GroupHead
    let instanceLoss: InfoNCELoss, localGroupLoss: InfoNCELoss, clusteringLoss: ClusteringLoss
    let tCls, tQuery, sCls, sQuery: ScratchBuffer
    let dInstance, dLocalGroupOut, dGroup, dCls, dLg, dQuery: ScratchBuffer
    let dOutGlobal, dPreGlobal, dOutLocal, dPreLocal: ScratchBuffer
    var sampleLoss: [[Double]]
    /// bf16 shadows of the student's and the teacher's parameters, refreshed once per step (`Precision.bf16` only).
    let mixed: MixedPrecisionScope?
    /// Per-row drop-path seeds of the global and the local crop group (filled each step, allocated once).
    var globalSeeds: [UInt64], localSeeds: [UInt64]

    /// Plans a step for slices of `b` images under `config`.
    public init(config c: MugsConfig, b: Int, pool: ComputePool) throws {
        try c.validate()
        guard b > 0 else { throw TrainStepError("slice", "needs at least one image, got \(b)") }
        guard c.local_crops_number >= 1 else {
            throw TrainStepError("local_crops_number", "Mugs needs at least one local crop (the reference divides by "
                                 + "the number of local-crop terms)")
        }
        config = c
        self.b = b
        student = try MugsNetwork(config: c, student: true)
        teacher = try MugsNetwork(config: c, student: false)
        fusedLayout = FusedLayout(student: student.layout, prototypes: c.group_out_dim)
        L = c.local_crops_number; C = c.embedDim; G = c.global_crop_size; l = c.local_crop_size
        teacherActs = try teacher.vit.makeActivations(B: 2 * b, Hi: G, Wi: G, pool: pool)
        globalActs = try student.vit.makeActivations(B: 2 * b, Hi: G, Wi: G, pool: pool)
        localActs = try student.vit.makeActivations(B: L * b, Hi: l, Wi: l, pool: pool)
        Tg = globalActs.T; Tl = localActs.T
        let n = c.local_group_knn_top_n, rows = (2 + L) * b, heads = c.headCount
        teacherPath = try LocalGroupPath(layout: teacher.layout, heads: heads, N: 2 * b, topN: n, training: false,
                                         pool: pool)
        studentPath = try LocalGroupPath(layout: student.layout, heads: heads, N: rows, topN: n, training: true,
                                         pool: pool)
        let H = c.head_hidden_dim, PH = c.pred_hidden_dim, Di = c.instance_out_dim, Dl = c.local_group_out_dim
        let Bn = c.group_bottleneck_dim, P = c.group_out_dim
        teacherInstance = ContrastHead(layout: teacher.layout, prefix: MugsNetwork.instancePrefix, C: C, H: H, D: Di,
                                       PH: 0, maxRows: 2 * b, training: false)
        teacherLocalGroup = ContrastHead(layout: teacher.layout, prefix: MugsNetwork.localGroupPrefix, C: C, H: H,
                                         D: Dl, PH: 0, maxRows: 2 * b, training: false)
        teacherGroup = GroupHead(layout: teacher.layout, prefix: MugsNetwork.groupPrefix, C: C, H: H, Bn: Bn, P: P,
                                 maxRows: 2 * b, trainG: false, training: false)
        studentInstance = ContrastHead(layout: student.layout, prefix: MugsNetwork.instancePrefix, C: C, H: H, D: Di,
                                       PH: PH, maxRows: rows, training: true)
        studentLocalGroup = ContrastHead(layout: student.layout, prefix: MugsNetwork.localGroupPrefix, C: C, H: H,
                                         D: Dl, PH: PH, maxRows: rows, training: true)
        studentGroup = GroupHead(layout: student.layout, prefix: MugsNetwork.groupPrefix, C: C, H: H, Bn: Bn, P: P,
                                 maxRows: rows, trainG: !c.norm_last_layer, training: true)
        instanceLoss = InfoNCELoss(maxImages: b, localCrops: L, K: c.instance_queue_size, D: Di)
        localGroupLoss = InfoNCELoss(maxImages: b, localCrops: L, K: c.local_group_queue_size, D: Dl)
        clusteringLoss = ClusteringLoss(maxImages: b, localCrops: L, P: P)
        tCls = ScratchBuffer(2 * b * C); tQuery = ScratchBuffer(2 * b * C)
        sCls = ScratchBuffer(rows * C); sQuery = ScratchBuffer(rows * C)
        dInstance = ScratchBuffer(rows * Di); dLocalGroupOut = ScratchBuffer(rows * Dl); dGroup = ScratchBuffer(rows * P)
        dCls = ScratchBuffer(rows * C); dLg = ScratchBuffer(rows * C); dQuery = ScratchBuffer(rows * C)
        dOutGlobal = ScratchBuffer(2 * b * Tg * C); dPreGlobal = ScratchBuffer(2 * b * Tg * C)
        dOutLocal = ScratchBuffer(L * b * Tl * C); dPreLocal = ScratchBuffer(L * b * Tl * C)
        sampleLoss = [[Double]](repeating: [Double](repeating: 0, count: b), count: 3)
        globalSeeds = [UInt64](repeating: 0, count: 2 * b)
        localSeeds = [UInt64](repeating: 0, count: L * b)
        if let reason = c.precisionMode.unavailableHere { throw TrainStepError("precision", reason) }
        mixed = c.precisionMode == .bf16
            ? MixedPrecisionScope(shadows: [BF16Shadow(count: student.layout.count),
                                            BF16Shadow(count: teacher.layout.count)])
            : nil
    }

    /// Buffers for this step's outputs (allocate once, reuse every step).
    public func makeBuffers() -> StepBuffers {
        StepBuffers(fusedLayout: fusedLayout, entries: StepEntries(capacity: b, config: config))
    }

    /// Runs the LOCAL part on one slice: `out.fused` is overwritten with [gradients | centre sums | loss sums] and
    /// `out.entries` with the slice's entries.
    ///
    /// - studentParams / teacherParams: buffers of `student.layout` / `teacher.layout`;
    /// - memories: the queues and neighbour memories before the step; center: P values before the step;
    /// - globalBatch: B, the number of images of the whole step over all ranks (gradient scale 1/B);
    /// - teacherTemperature: τt of the step's epoch (`Schedules.teacherTemperature(epoch:)`).
    public func run(studentParams: ParameterBuffer, teacherParams: ParameterBuffer, memories: Memories,
                    center: UnsafePointer<Float>, crops: SliceCrops, dropPath: StepDropPath, globalBatch B: Int,
                    teacherTemperature: Double, into out: StepBuffers, pool: ComputePool) throws(TrainStepError) {
        try check(studentParams: studentParams, teacherParams: teacherParams, memories: memories, crops: crops,
                  dropPath: dropPath, globalBatch: B, out: out)
        guard let mixed else {
            return runLocal(studentParams: studentParams, teacherParams: teacherParams, memories: memories,
                            center: center, crops: crops, dropPath: dropPath, globalBatch: B,
                            teacherTemperature: teacherTemperature, into: out, pool: pool)
        }
        // bf16: the weights are rounded once here; every layer product of the step reads them from the shadows.
        mixed.shadows[0].refresh(from: studentParams.base, pool: pool)
        mixed.shadows[1].refresh(from: teacherParams.base, pool: pool)
        mixed.run(pool: pool) {
            runLocal(studentParams: studentParams, teacherParams: teacherParams, memories: memories, center: center,
                     crops: crops, dropPath: dropPath, globalBatch: B, teacherTemperature: teacherTemperature,
                     into: out, pool: pool)
        }
    }

    private func runLocal(studentParams: ParameterBuffer, teacherParams: ParameterBuffer, memories: Memories,
                          center: UnsafePointer<Float>, crops: SliceCrops, dropPath: StepDropPath, globalBatch B: Int,
                          teacherTemperature: Double, into out: StepBuffers, pool: ComputePool) {
        let c = config, b = b, L = L, C = C, rows = (2 + L) * b
        var t0 = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let t = DispatchTime.now().uptimeNanoseconds
            defer { t0 = t }
            return Double(t - t0) * 1e-9
        }
        let (studentVit, teacherVit, vitGrads) = views(student: studentParams, teacher: teacherParams,
                                                       fused: out.fused)

        // 1. Teacher: 2 global crops, no stochastic depth.
        teacherActs.disableDropPath()
        teacher.vit.forward(images: crops.teacherGlobal.baseAddress!, params: teacherVit, acts: teacherActs, pool: pool)
        gatherCls(into: tCls.p, tokens: teacherActs.output.pointer, N: 2 * b, T: Tg)
        LocalGroupPath.tokenMeanForward(query: tQuery.p, tokens: teacherActs.preNorm, N: 2 * b, T: Tg, C: C,
                                        pool: pool)
        teacherPath.forward(queries: tQuery.p, memory: memories.teacherMemory.data, K2: memories.teacherMemory.rows,
                            params: teacherParams, pool: pool)
        teacherInstance.forward(inp: tCls.p, params: teacherParams, N: 2 * b, pool: pool)
        teacherLocalGroup.forward(inp: teacherPath.output, params: teacherParams, N: 2 * b, pool: pool)
        teacherGroup.forward(inp: tCls.p, params: teacherParams, N: 2 * b, pool: pool)
        phases.teacherForward = lap()

        // 2. Student: 2 global + L local crops; per-crop stochastic depth.
        switch dropPath {
        case .seeds(let seeds):
            Self.cropSeeds(into: &globalSeeds, seeds, crops: 0 ..< 2)
            Self.cropSeeds(into: &localSeeds, seeds, crops: 2 ..< 2 + L)
            globalActs.setDropPath(seeds: globalSeeds, config: student.vit.config)
            localActs.setDropPath(seeds: localSeeds, config: student.vit.config)
        case .keepMasks(let global, let local):
            setBranchKeepMasks(globalActs, global)
            setBranchKeepMasks(localActs, local)
        }
        student.vit.forward(images: crops.studentGlobal.baseAddress!, params: studentVit, acts: globalActs, pool: pool)
        student.vit.forward(images: crops.studentLocal.baseAddress!, params: studentVit, acts: localActs, pool: pool)
        gatherCls(into: sCls.p, tokens: globalActs.output.pointer, N: 2 * b, T: Tg)
        gatherCls(into: sCls.p + 2 * b * C, tokens: localActs.output.pointer, N: L * b, T: Tl)
        LocalGroupPath.tokenMeanForward(query: sQuery.p, tokens: globalActs.preNorm, N: 2 * b, T: Tg, C: C,
                                        pool: pool)
        LocalGroupPath.tokenMeanForward(query: sQuery.p + 2 * b * C, tokens: localActs.preNorm, N: L * b, T: Tl, C: C,
                                        pool: pool)
        studentPath.forward(queries: sQuery.p, memory: memories.studentMemory.data, K2: memories.studentMemory.rows,
                            params: studentParams, pool: pool)
        studentInstance.forward(inp: sCls.p, params: studentParams, N: rows, pool: pool)
        studentLocalGroup.forward(inp: studentPath.output, params: studentParams, N: rows, pool: pool)
        studentGroup.forward(inp: sCls.p, params: studentParams, N: rows, pool: pool)
        phases.studentForward = lap()

        // 3. Losses (state before the step), their gradients scaled by (w_j / Σw) / B.
        let wSum = c.loss_weights[0] + c.loss_weights[1] + c.loss_weights[2]
        let scale = (Float(c.loss_weights[0] / wSum) / Float(B), Float(c.loss_weights[1] / wSum) / Float(B),
                     Float(c.loss_weights[2] / wSum) / Float(B))
        dInstance.zero(); dLocalGroupOut.zero(); dGroup.zero()
        sampleLoss[0].withUnsafeMutableBufferPointer { s in
            instanceLoss.forwardBackward(sampleLoss: s.baseAddress!, dStudent: dInstance.p,
                                         student: studentInstance.output, teacher: teacherInstance.output,
                                         queue: memories.instanceQueue.data, temperature: Float(c.instance_temp),
                                         gradScale: scale.0, b: b, pool: pool)
        }
        sampleLoss[1].withUnsafeMutableBufferPointer { s in
            localGroupLoss.forwardBackward(sampleLoss: s.baseAddress!, dStudent: dLocalGroupOut.p,
                                           student: studentLocalGroup.output, teacher: teacherLocalGroup.output,
                                           queue: memories.localGroupQueue.data,
                                           temperature: Float(c.local_group_temp), gradScale: scale.1, b: b,
                                           pool: pool)
        }
        sampleLoss[2].withUnsafeMutableBufferPointer { s in
            clusteringLoss.forwardBackward(sampleLoss: s.baseAddress!, dStudent: dGroup.p,
                                           student: studentGroup.output, teacher: teacherGroup.output, center: center,
                                           studentTemperature: Float(c.group_student_temp),
                                           teacherTemperature: Float(teacherTemperature), gradScale: scale.2, b: b,
                                           pool: pool)
        }
        phases.losses = lap()

        // 4. Backward into the fused buffer (heads and backbone alike: `vitGrads` is a view of its prefix).
        let fused = out.fused
        fused.zero()
        dCls.zero(); dLg.zero(); dQuery.zero()
        studentInstance.backward(dInp: dCls.p, grads: fused, dOut: dInstance.p, inp: sCls.p, params: studentParams,
                                 N: rows, pool: pool)
        studentGroup.backward(dInp: dCls.p, grads: fused, dOut: dGroup.p, inp: sCls.p, params: studentParams,
                              N: rows, pool: pool)
        studentLocalGroup.backward(dInp: dLg.p, grads: fused, dOut: dLocalGroupOut.p, inp: studentPath.output,
                                   params: studentParams, N: rows, pool: pool)
        studentPath.backward(dQueries: dQuery.p, dOut: dLg.p, params: studentParams, grads: vitGrads, pool: pool)
        backboneBackward(acts: globalActs, dOut: dOutGlobal, dPre: dPreGlobal, firstRow: 0, N: 2 * b, T: Tg,
                         params: studentVit, grads: vitGrads, pool: pool)
        backboneBackward(acts: localActs, dOut: dOutLocal, dPre: dPreLocal, firstRow: 2 * b, N: L * b, T: Tl,
                         params: studentVit, grads: vitGrads, pool: pool)
        phases.backward = lap()

        // 5. Centre sums, loss sums, entries.
        let centerSums = fused[FusedLayout.centerSums], P = c.group_out_dim, logits = teacherGroup.output
        for p in 0 ..< P {
            var s: Double = 0
            for r in 0 ..< 2 * b { s += Double(logits[r * P + p]) }
            centerSums[p] = Float(s)
        }
        let lossSums = fused[FusedLayout.lossSums]
        for j in 0 ..< 3 {
            var sum: Double = 0
            for i in 0 ..< b { sum += sampleLoss[j][i] }
            lossSums[j] = Float(sum)
        }
        let e = out.entries
        e.count = b
        e.instanceTargets.update(from: teacherInstance.output, count: 2 * b * c.instance_out_dim)
        e.localGroupTargets.update(from: teacherLocalGroup.output, count: 2 * b * c.local_group_out_dim)
        for i in 0 ..< b {
            patchMean(into: e.teacherMemory + i * C, tokens: teacherActs.output.pointer + i * Tg * C, T: Tg)
            patchMean(into: e.studentMemory + i * C, tokens: globalActs.output.pointer + i * Tg * C, T: Tg)
            e.weak[i] = crops.weak[i]
        }
    }

    /// `run` on crops loaded from a crops file (`StepCrops.load`): its drop-path keep masks when it has them,
    /// else `seeds` (one per image).
    public func run(studentParams: ParameterBuffer, teacherParams: ParameterBuffer, memories: Memories,
                    center: UnsafePointer<Float>, stepCrops: StepCrops, seeds: [UInt64], globalBatch B: Int,
                    teacherTemperature: Double, into out: StepBuffers, pool: ComputePool) throws(TrainStepError) {
        let drop: StepDropPath
        if let g = stepCrops.dropGlobal, let l = stepCrops.dropLocal {
            drop = .keepMasks(global: g.data, local: l.data)
        } else {
            drop = .seeds(seeds)
        }
        let r: Result<Void, TrainStepError> = stepCrops.teacherGlobal.data.withUnsafeBufferPointer { tg in
            stepCrops.studentGlobal.data.withUnsafeBufferPointer { sg in
                stepCrops.studentLocal.data.withUnsafeBufferPointer { sl in
                    let crops = SliceCrops(teacherGlobal: tg, studentGlobal: sg, studentLocal: sl, weak: stepCrops.weak)
                    do throws(TrainStepError) {
                        try run(studentParams: studentParams, teacherParams: teacherParams, memories: memories,
                                center: center, crops: crops, dropPath: drop, globalBatch: B,
                                teacherTemperature: teacherTemperature, into: out, pool: pool)
                        return .success(())
                    } catch {
                        return .failure(error)
                    }
                }
            }
        }
        try r.get()
    }

    /// Per-image loss values of the last run (instance, local-group, group), b each.
    public var perSampleLosses: [[Double]] { sampleLoss }

    // MARK: - pieces

    /// cls(N,C) = tokens(N,T,C)[:, 0].
    private func gatherCls(into cls: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Float>, N: Int, T: Int) {
        for r in 0 ..< N { (cls + r * C).update(from: tokens + r * T * C, count: C) }
    }

    /// out(C) = mean of tokens 1..<T (the patch tokens, CLS excluded).
    private func patchMean(into out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Float>, T: Int) {
        for c in 0 ..< C { out[c] = 0 }
        for t in 1 ..< T { let x = tokens + t * C; for c in 0 ..< C { out[c] += x[c] } }
        let inv = 1 / Float(T - 1)
        for c in 0 ..< C { out[c] *= inv }
    }

    /// One crop-size group's backbone backward: ∂/∂(normed CLS) from the heads and ∂/∂(pre-norm tokens) from the
    /// local-group query, into `vitGrads`.
    private func backboneBackward(acts: ViTActivations, dOut: ScratchBuffer, dPre: ScratchBuffer, firstRow: Int,
                                  N: Int, T: Int, params studentVit: ParameterBuffer, grads vitGrads: ParameterBuffer,
                                  pool: ComputePool) {
        let C = C
        dOut.zero(N * T * C)
        for r in 0 ..< N { (dOut.p + r * T * C).update(from: dCls.p + (firstRow + r) * C, count: C) }
        dPre.zero(N * T * C)
        LocalGroupPath.tokenMeanBackward(dTokens: dPre.p, dQuery: dQuery.p + firstRow * C, N: N, T: T, C: C,
                                         pool: pool)
        student.vit.backward(dOutput: dOut.p, dPreNorm: dPre.p, dImages: nil, params: studentVit, grads: vitGrads,
                             acts: acts, pool: pool)
    }

    /// Backbone-layout views of the student and teacher parameters and of the fused buffer's gradients.
    private func views(student: ParameterBuffer, teacher: ParameterBuffer,
                       fused: ParameterBuffer) -> (ParameterBuffer, ParameterBuffer, ParameterBuffer) {
        if let v = backboneViews, v.student.base == student.base, v.teacher.base == teacher.base,
           v.grads.base == fused.base {
            return (v.student, v.teacher, v.grads)
        }
        let v = (student: ParameterBuffer(prefixOf: student, layout: self.student.vit.layout),
                 teacher: ParameterBuffer(prefixOf: teacher, layout: self.teacher.vit.layout),
                 grads: ParameterBuffer(prefixOf: fused, layout: self.student.vit.layout))
        backboneViews = v
        return (v.student, v.teacher, v.grads)
    }

    /// Seeds of crops `crops` of every image, in the crop-major row order of a crop-size group: crop v of the
    /// image with seed s gets the first draw of `SampleRNG(key: [s, 0x6d75_6773 ("mugs"), v])`.
    static func cropSeeds(into out: inout [UInt64], _ seeds: [UInt64], crops: Range<Int>) {
        var k = 0
        for v in crops {
            for s in seeds {
                var r = SampleRNG(key: [s, 0x6d75_6773, UInt64(v)])
                out[k] = r.next()
                k += 1
            }
        }
    }

    /// Explicit per-branch keep masks (depth, 2, rows) of 0/1 → drop-path scales 0 or 1/(1 − p_l).
    private func setBranchKeepMasks(_ acts: ViTActivations, _ mask: [Float]) {
        let cfg = student.vit.config, B = acts.B
        for l in 0 ..< cfg.depth {
            let p = cfg.dropPathProbability(block: l), scale = Float(1) / Float(1 - p)
            for branch in 0 ..< 2 {
                for r in 0 ..< B {
                    acts.pathScale.pointer[(l * 2 + branch) * B + r] = p == 0 ? 1 : mask[(l * 2 + branch) * B + r] * scale
                }
            }
        }
        acts.dropPathActive = true
    }

    private func check(studentParams: ParameterBuffer, teacherParams: ParameterBuffer, memories: Memories,
                       crops: SliceCrops, dropPath: StepDropPath, globalBatch B: Int,
                       out: StepBuffers) throws(TrainStepError) {
        let c = config, b = b
        func expect(_ what: String, _ got: Int, _ want: Int, _ shape: String) throws(TrainStepError) {
            if got != want { throw TrainStepError(what, "expected \(want) values (\(shape)), got \(got)") }
        }
        try expect("teacher_global", crops.teacherGlobal.count, 2 * b * 3 * G * G, "[2, \(b), 3, \(G), \(G)]")
        try expect("student_global", crops.studentGlobal.count, 2 * b * 3 * G * G, "[2, \(b), 3, \(G), \(G)]")
        try expect("student_local", crops.studentLocal.count, L * b * 3 * l * l, "[\(L), \(b), 3, \(l), \(l)]")
        try expect("weak", crops.weak.count, b, "[\(b)]")
        if B < b { throw TrainStepError("globalBatch", "global batch \(B) is smaller than the slice's \(b) images") }
        if studentParams.layout.count != student.layout.count || teacherParams.layout.count != teacher.layout.count {
            throw TrainStepError("parameters", "buffers are not laid out as the student/teacher networks")
        }
        if out.fused.layout.count != fusedLayout.layout.count || out.entries.capacity != b {
            throw TrainStepError("buffers", "step buffers were made for another configuration or slice size")
        }
        let shapes = [("instance_queue", memories.instanceQueue, c.instance_queue_size, c.instance_out_dim),
                      ("local_group_queue", memories.localGroupQueue, c.local_group_queue_size, c.local_group_out_dim),
                      ("student_memory", memories.studentMemory, c.local_group_memory_size, C),
                      ("teacher_memory", memories.teacherMemory, c.local_group_memory_size, C)]
        for (name, m, rows, dim) in shapes where m.rows != rows || m.dim != dim {
            throw TrainStepError(name, "expected [\(rows), \(dim)], got [\(m.rows), \(m.dim)]")
        }
        if c.local_group_memory_size < c.local_group_knn_top_n {
            throw TrainStepError("local_group_memory_size", "smaller than local_group_knn_top_n")
        }
        switch dropPath {
        case .seeds(let s): try expect("drop-path seeds", s.count, b, "one per image")
        case .keepMasks(let g, let lo):
            let depth = student.vit.config.depth
            try expect("drop-path global keep mask", g.count, depth * 2 * 2 * b, "[\(depth), 2, \(2 * b)]")
            try expect("drop-path local keep mask", lo.count, depth * 2 * L * b, "[\(depth), 2, \(L * b)]")
        }
    }
}
