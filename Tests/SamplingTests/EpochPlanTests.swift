import Testing
@testable import Sampling

@Suite struct EpochPlanTests {
    let plan = EpochPlan(seed: 7, datasetSize: 103, globalBatch: 10)

    @Test func permutationIsAPermutationThatDependsOnSeedAndEpoch() {
        let p0 = plan.permutation(epoch: 0)
        #expect(p0.sorted() == (0 ..< 103).map { Int32($0) })
        #expect(p0 != (0 ..< 103).map { Int32($0) })
        #expect(p0 == plan.permutation(epoch: 0))
        #expect(p0 != plan.permutation(epoch: 1))
        #expect(p0 != EpochPlan(seed: 8, datasetSize: 103, globalBatch: 10).permutation(epoch: 0))
    }

    @Test func everySampleOfAnEpochIsInExactlyOneStepAndTheRemainderIsSkipped() {
        #expect(plan.stepsPerEpoch == 10)
        for epoch in 0 ..< 2 {
            let perm = plan.permutation(epoch: epoch)
            var seen: [Int32: Int] = [:]
            for step in epoch * 10 ..< (epoch + 1) * 10 {
                #expect(plan.epoch(ofStep: step) == epoch)
                for s in plan.samples(step: step, rank: 0, worldSize: 1, permutation: perm) { seen[s, default: 0] += 1 }
            }
            #expect(seen.count == 100 && seen.values.allSatisfy { $0 == 1 })
        }
    }

    @Test(arguments: 1 ... 7)
    func rankSlicesPartitionTheGlobalBatchWhateverTheWorldSize(worldSize: Int) {
        let perm = plan.permutation(epoch: 0)
        for step in [0, 3, 9] {
            let whole = Array(plan.samples(step: step, rank: 0, worldSize: 1, permutation: perm))
            let parts = (0 ..< worldSize).map { plan.samples(step: step, rank: $0, worldSize: worldSize, permutation: perm) }
            #expect(parts.flatMap { $0 } == whole, "rank order concatenation is the global batch")
            let sizes = parts.map(\.count)
            #expect(sizes.max()! - sizes.min()! <= 1, "\(sizes)")
        }
    }
}
