/// The APPLY part of a Mugs step (DESIGN §3): given the all-reduced fused buffer's gradient and centre-sum
/// segments and every rank's entries in rank order, advance the training state exactly as the reference's
/// train loop does after `total_loss.backward()`:
///
/// 1. queues: for each teacher crop in turn, the global batch in rank order (the reference enqueues after
///    each crop's loss terms; the losses read a clone taken before), instance then local-group;
/// 2. centre: c ← c·μ + (Σ/(2B))·(1−μ);
/// 3. neighbour memories: the student's weak images and all of the teacher's, in rank order, one write each;
/// 4. per-parameter gradient clipping (threshold for the epoch), then the last layer's gradient is dropped
///    during the first `freeze_last_layer` epochs;
/// 5. AdamW with lr/wd of this global step (patch embedding at lr × `patch_embed_lr_mult`);
/// 6. teacher EMA with this step's momentum;
/// 7. the step counter advances.
///
/// Every arithmetic operation here is a plain Float32 (or, for norms, Double) operation in a fixed order; only
/// elementwise loops (AdamW, EMA) are split over `pool`, which cannot change a bit; reductions (the clipping
/// norms) run sequentially in index order. So all replicas compute the same bits from the same inputs on any
/// CPU and with any thread count.
public struct AppliedStep: Sendable, Equatable {
    /// The global step that was applied, and its epoch.
    public var step: Int
    public var epoch: Int
    /// Base learning rate, weight decay and teacher momentum used.
    public var learningRate: Double
    public var weightDecay: Double
    public var teacherMomentum: Double
    /// The teacher temperature the LOCAL part of this step used (a function of the epoch).
    public var teacherTemperature: Double
    /// Global batch B, and how many student memory rows were enqueued (images with `weak`).
    public var batch: Int
    public var weakCount: Int
}

extension TrainState {
    /// Applies one step. `gradients` is the student gradient in the student layout (it is clipped in place);
    /// `centerSums` holds P sums of teacher group logits over the 2·B teacher rows; `entries` are the ranks'
    /// slices in rank order.
    @discardableResult
    public func applyUpdate(gradients: UnsafeMutablePointer<Float>, centerSums: UnsafePointer<Float>,
                            entries: [StepEntries], pool: ComputePool = ComputePool(threads: 1)) throws -> AppliedStep {
        let B = entries.reduce(0) { $0 + $1.count }
        guard B == config.batch_size else {
            throw TrainStateError(.badValue("batch"), "entries hold \(B) images, the config's batch_size is "
                + "\(config.batch_size)")
        }
        for (r, e) in entries.enumerated() where e.instanceDim != config.instance_out_dim
            || e.localGroupDim != config.local_group_out_dim || e.memoryDim != config.embedDim {
            throw TrainStateError(.badValue("entries of rank \(r)"), "dimensions (\(e.instanceDim), "
                + "\(e.localGroupDim), \(e.memoryDim)) do not match the config")
        }
        let it = step, epoch = self.epoch

        // 1. InfoNCE queues: crop 0 of the whole batch (rank order), then crop 1.
        for crop in 0 ..< 2 {
            for e in entries { for i in 0 ..< e.count { memories.instanceQueue.push(e.instanceRow(crop: crop, i)) } }
            for e in entries {
                for i in 0 ..< e.count { memories.localGroupQueue.push(e.localGroupRow(crop: crop, i)) }
            }
        }
        // 2. Centre.
        TeacherEMA.updateCenter(center.base, sums: centerSums, rows: 2 * B, count: config.group_out_dim,
                                momentum: config.center_momentum)
        // 3. Neighbour memories (advancing once per batch: the paper's intent, see Memories).
        var weakCount = 0
        for e in entries {
            for i in 0 ..< e.count where e.weak[i] {
                memories.studentMemory.push(e.studentMemory + i * e.memoryDim)
                weakCount += 1
            }
        }
        for e in entries { for i in 0 ..< e.count { memories.teacherMemory.push(e.teacherMemory + i * e.memoryDim) } }

        // 4–5. Clip, freeze, AdamW.
        let groups = self.groups, freeze = config.freeze_last_layer
        Clipping.clip(gradients, layout: student.layout, clip: config.clipThreshold(epoch: epoch)) {
            groups.rules[$0].trainable
        }
        let lr = schedules.learningRate(step: it), wd = schedules.weightDecay(step: it)
        optimizer.step(params: student, grads: UnsafePointer(gradients), groups: groups, lr: lr, weightDecay: wd,
                       patchEmbedLrMult: config.patch_embed_lr_mult, pool: pool) {
            groups.hasGradient($0, epoch: epoch, freezeLastLayerEpochs: freeze)
        }
        // 6. Teacher EMA.
        let m = schedules.teacherMomentum(step: it)
        ema.update(teacher: teacher, student: student, momentum: m, pool: pool)
        // 7. Counter.
        step = it + 1
        return AppliedStep(step: it, epoch: epoch, learningRate: lr, weightDecay: wd, teacherMomentum: m,
                           teacherTemperature: schedules.teacherTemperature(epoch: epoch), batch: B,
                           weakCount: weakCount)
    }
}
