/// The three losses and the total of a step, from the all-reduced loss sums.
public struct StepLosses: Sendable, Equatable {
    public var instance: Double
    public var localGroup: Double
    public var group: Double
    /// Σ wᵢ·Lᵢ / Σ wᵢ with the config's `loss_weights` (applied; see docs/CONFIG.md).
    public var total: Double

    /// Losses from `sums` (Σ over the B images of each loss, the fused buffer's `fused.loss_sums`).
    public init(sums: UnsafePointer<Float>, batch B: Int, weights w: [Double]) {
        instance = Double(sums[0]) / Double(B)
        localGroup = Double(sums[1]) / Double(B)
        group = Double(sums[2]) / Double(B)
        total = (w[0] * instance + w[1] * localGroup + w[2] * group) / (w[0] + w[1] + w[2])
    }
}

extension TrainState {
    /// APPLY on the LOCAL part's output of a single process (or on the all-reduced fused buffer and the
    /// gathered entries of all ranks, in rank order): the gradient segment of `fused` is clipped in place.
    @discardableResult
    public func applyUpdate(fused: ParameterBuffer, entries: [StepEntries], pool: ComputePool = ComputePool(threads: 1))
        throws -> (StepLosses, AppliedStep) {
        guard fused.layout.count >= student.layout.count,
              let centerRange = fused.layout.range(of: FusedLayout.centerSums),
              let lossRange = fused.layout.range(of: FusedLayout.lossSums),
              centerRange.count == config.group_out_dim, lossRange.count == 3 else {
            throw TrainStateError(.badValue("fused buffer"), "is not laid out as FusedLayout for this config")
        }
        let B = entries.reduce(0) { $0 + $1.count }
        let losses = StepLosses(sums: fused.base + lossRange.lowerBound, batch: B, weights: config.loss_weights)
        let applied = try applyUpdate(gradients: fused.base, centerSums: fused.base + centerRange.lowerBound,
                                      entries: entries, pool: pool)
        return (losses, applied)
    }

    /// One whole single-process step: the LOCAL part on all B images (`local` planned for b = B) with the
    /// state before the step, then APPLY. `out` must come from `local.makeBuffers()`.
    @discardableResult
    public func step(local: TrainStep, crops: SliceCrops, dropPath: StepDropPath, out: StepBuffers,
                     pool: ComputePool) throws -> (StepLosses, AppliedStep) {
        try local.run(studentParams: student, teacherParams: teacher, memories: memories, center: center.base,
                      crops: crops, dropPath: dropPath, globalBatch: config.batch_size,
                      teacherTemperature: schedules.teacherTemperature(epoch: epoch), into: out, pool: pool)
        return try applyUpdate(fused: out.fused, entries: [out.entries], pool: pool)
    }
}
