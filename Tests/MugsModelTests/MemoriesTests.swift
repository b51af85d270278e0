import Sampling
import Testing
@testable import MugsModel

@Suite struct MemoriesTests {
    @Test func ringWritesWrapAndAdvanceOnce() {
        let ring = RingMemory(name: "r", rows: 5, dim: 2)
        ring.pointer = 3
        let rows: [Float] = [1, 1, 2, 2, 3, 3, 4, 4]
        ring.enqueue(rows, rows: 4)
        #expect(Array(ring.buffer) == [3, 3, 4, 4, 0, 0, 1, 1, 2, 2])
        #expect(ring.pointer == 2)
        // Row-by-row pushes are the same write.
        let other = RingMemory(name: "o", rows: 5, dim: 2)
        other.pointer = 3
        for r in 0 ..< 4 { rows.withUnsafeBufferPointer { other.push($0.baseAddress! + 2 * r) } }
        #expect(Array(other.buffer) == Array(ring.buffer) && other.pointer == ring.pointer)
        ring.enqueue(rows, rows: 0)
        #expect(ring.pointer == 2)
    }

    @Test func randomInitIsDeterministicAndQueuesAreNormalised() {
        let a = Memories(config: ToyState.config), b = Memories(config: ToyState.config)
        a.randomise(seed: 4); b.randomise(seed: 4)
        #expect(zip(a.all, b.all).allSatisfy { Array($0.buffer) == Array($1.buffer) })
        let q = a.instanceQueue
        for r in 0 ..< q.rows {
            var s: Float = 0
            for j in 0 ..< q.dim { s += q.data[r * q.dim + j] * q.data[r * q.dim + j] }
            #expect(abs(s - 1) < 1e-5)
        }
        #expect(a.studentMemory.rows == 5 && a.studentMemory.dim == 8)
    }
}

@Suite struct ApplyUpdateTests {
    /// Entries for `B` images split into `sizes`, values a function of (global image, crop, column).
    static func entries(_ sizes: [Int], weak: [Bool]) -> [StepEntries] {
        let c = ToyState.config
        var first = 0
        return sizes.map { b in
            let e = StepEntries(capacity: b, config: c)
            for i in 0 ..< b {
                let g = first + i
                for crop in 0 ..< 2 {
                    for j in 0 ..< c.instance_out_dim { e.instanceRow(crop: crop, i)[j] = Float(100 * crop + 10 * g + j) }
                    for j in 0 ..< c.local_group_out_dim { e.localGroupRow(crop: crop, i)[j] = Float(-100 * crop - 10 * g - j) }
                }
                for j in 0 ..< c.embedDim {
                    e.teacherMemory[i * c.embedDim + j] = Float(1000 + 10 * g + j)
                    e.studentMemory[i * c.embedDim + j] = Float(2000 + 10 * g + j)
                }
                e.weak[i] = weak[g]
            }
            first += b
            return e
        }
    }

    static func gradients(_ state: TrainState) -> [Float] {
        var rng = SampleRNG(key: [77])
        return (0 ..< state.student.count).map { _ in Float(rng.normal()) * 2 }
    }

    static func run(sizes: [Int], step: Int = 7) throws -> (TrainState, AppliedStep) {
        let state = try ToyState.make()
        state.step = step
        var g = gradients(state)
        let sums = (0 ..< 6).map { Float($0) * 0.5 }
        let applied = try state.applyUpdate(gradients: &g, centerSums: sums,
                                            entries: entries(sizes, weak: [true, false, true, true]))
        return (state, applied)
    }

    @Test func sameInputsSameBitsAndSplitInvariant() throws {
        let (a, appliedA) = try Self.run(sizes: [4])
        let (b, _) = try Self.run(sizes: [4])
        let (c, _) = try Self.run(sizes: [2, 2])
        let (d, _) = try Self.run(sizes: [1, 3])
        #expect(a.stateHash() == b.stateHash())
        #expect(a.stateHash() == c.stateHash() && a.stateHash() == d.stateHash())
        #expect(appliedA.step == 7 && a.step == 8 && appliedA.epoch == 2 && appliedA.weakCount == 3)
        #expect(appliedA.learningRate == a.schedules.learningRate(step: 7))
    }

    @Test func enqueueOrderIsCropThenRankOrderedBatch() throws {
        let (s, _) = try Self.run(sizes: [1, 3])
        let q = s.memories.instanceQueue // rows 8, pointer was 3: crop 0 images 0...3 → rows 3...6, crop 1 → 7, 0, 1, 2
        let firstColumn = (0 ..< q.rows).map { q.data[$0 * q.dim] }
        #expect(Array(firstColumn[3 ... 6]) == [0, 10, 20, 30])
        #expect([firstColumn[7], firstColumn[0], firstColumn[1], firstColumn[2]] == [100, 110, 120, 130])
        #expect(q.pointer == 3)
        // Student memory: weak images 0, 2, 3 only, one advance of 3 from pointer 4 (5 rows): rows 4, 0, 1.
        let m = s.memories.studentMemory
        #expect([m.data[4 * 8], m.data[0], m.data[8]] == [2000, 2020, 2030] && m.pointer == 2)
        // Teacher memory: all 4 images from pointer 0.
        #expect((0 ..< 4).map { s.memories.teacherMemory.data[$0 * 8] } == [1000, 1010, 1020, 1030])
        #expect(s.memories.teacherMemory.pointer == 4)
    }

    @Test func lastLayerFrozenDuringFirstEpochs() throws {
        let (frozen, _) = try Self.run(sizes: [4], step: 1) // epoch 0 < freeze_last_layer 1
        let before = try ToyState.make()
        let i = frozen.student.layout.index(of: "group_head.last_layer.weight_v")!
        #expect(Array(frozen.student["group_head.last_layer.weight_v"]) == Array(before.student["group_head.last_layer.weight_v"]))
        #expect(frozen.optimizer.steps[i] == before.optimizer.steps[i])
        let (trained, _) = try Self.run(sizes: [4], step: 3) // epoch 1
        #expect(Array(trained.student["group_head.last_layer.weight_v"]) != Array(before.student["group_head.last_layer.weight_v"]))
        #expect(trained.optimizer.steps[i] == before.optimizer.steps[i] + 1)
        // weight_g never trains with norm_last_layer, but the teacher still averages it.
        let g = frozen.student.layout.index(of: "group_head.last_layer.weight_g")!
        #expect(trained.optimizer.steps[g] == before.optimizer.steps[g])
    }

    @Test func wrongBatchIsAnError() throws {
        let state = try ToyState.make()
        var g = Self.gradients(state)
        #expect(throws: TrainStateError.self) {
            try state.applyUpdate(gradients: &g, centerSums: [Float](repeating: 0, count: 6),
                                  entries: Self.entries([3], weak: [true, true, true, true]))
        }
    }
}
