/// Which samples a step trains on: a pure function of (seed, dataset size, global batch, step, world size, rank).
///
/// Each epoch visits a permutation of `0..<datasetSize` keyed by (seed, epoch) (Fisher–Yates driven by SplitMix64).
/// Step `s` takes positions `[(s mod stepsPerEpoch)·B, +B)` of its epoch's permutation; the `datasetSize mod B`
/// samples left at the end of an epoch are skipped, as the reference's `DataLoader(drop_last=True)` does. The global
/// batch is split across ranks in rank order into contiguous slices whose sizes differ by at most one, so the global
/// batch — and therefore the trajectory — does not depend on how many workers there are.
public struct EpochPlan: Sendable, Equatable {
    public let seed: UInt64
    public let datasetSize: Int
    public let globalBatch: Int

    public init(seed: UInt64, datasetSize: Int, globalBatch: Int) {
        precondition(globalBatch > 0 && datasetSize >= globalBatch,
                     "dataset of \(datasetSize) samples cannot fill a global batch of \(globalBatch)")
        self.seed = seed; self.datasetSize = datasetSize; self.globalBatch = globalBatch
    }

    public var stepsPerEpoch: Int { datasetSize / globalBatch }

    /// The epoch global step `step` belongs to.
    public func epoch(ofStep step: Int) -> Int { Self.epoch(ofStep: step, stepsPerEpoch: stepsPerEpoch) }

    /// The epoch of `step` when an epoch has `stepsPerEpoch` steps (the rule every caller uses, schedules included).
    public static func epoch(ofStep step: Int, stepsPerEpoch: Int) -> Int { step / stepsPerEpoch }

    /// The fraction of epoch `epoch` done once `steps` global steps are (1 when its last step is done).
    public func fractionDone(ofEpoch epoch: Int, afterSteps steps: Int) -> Double {
        Double(steps - epoch * stepsPerEpoch) / Double(stepsPerEpoch)
    }

    /// The permutation of sample indices for an epoch.
    public func permutation(epoch: Int) -> [Int32] {
        var p = (0 ..< datasetSize).map { Int32($0) }
        var x = SplitMix64(state: seed ^ 0x7065_726D_7574_6521 ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15))
        var i = datasetSize - 1
        while i > 0 {
            let j = Int(x.next().multipliedFullWidth(by: UInt64(i + 1)).high)
            p.swapAt(i, j)
            i -= 1
        }
        return p
    }

    /// Half-open range of batch positions `[lo, hi)` that rank `rank` of `worldSize` handles (its slice has
    /// `slice(...).count` images: the one rule for slice sizes, used by the coordinator, the worker and the loader).
    public static func slice(rank: Int, worldSize: Int, batch: Int) -> Range<Int> {
        precondition(worldSize > 0 && (0 ..< worldSize).contains(rank), "rank \(rank) of \(worldSize)")
        return batch * rank / worldSize ..< batch * (rank + 1) / worldSize
    }

    /// The sample indices of one rank's share of a step, given that epoch's permutation.
    public func samples(step: Int, rank: Int, worldSize: Int, permutation: [Int32]) -> ArraySlice<Int32> {
        let start = (step % stepsPerEpoch) * globalBatch
        let r = Self.slice(rank: rank, worldSize: worldSize, batch: globalBatch)
        return permutation[start + r.lowerBound ..< start + r.upperBound]
    }
}

/// `EpochPlan.samples` that keeps the permutation of the epoch it last served (one shuffle per epoch): what the
/// coordinator records and what each worker trains on come from this one function.
public struct SampleSchedule: Sendable {
    public let plan: EpochPlan
    private var cached: (epoch: Int, permutation: [Int32])?

    public init(plan: EpochPlan) { self.plan = plan }

    /// The sample indices of `rank`'s share of `step`, in batch order.
    public mutating func samples(step: Int, rank: Int, worldSize: Int) -> ArraySlice<Int32> {
        let epoch = plan.epoch(ofStep: step)
        if cached?.epoch != epoch { cached = (epoch, plan.permutation(epoch: epoch)) }
        return plan.samples(step: step, rank: rank, worldSize: worldSize, permutation: cached!.permutation)
    }
}
