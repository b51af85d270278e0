import Foundation
import Sampling
import Testing
@testable import MugsModel

/// A small state with reference-style names, random contents and a non-trivial step, for state tests.
enum ToyState {
    static var config: MugsConfig {
        var c = MugsConfig()
        c.embed_dim = 8; c.depth = 1; c.num_heads = 2
        c.instance_out_dim = 4; c.local_group_out_dim = 3; c.group_out_dim = 6
        c.instance_queue_size = 8; c.local_group_queue_size = 6; c.local_group_memory_size = 5
        c.local_group_knn_top_n = 2; c.batch_size = 4; c.epochs = 4; c.warmup_epochs = 1
        return c
    }

    static func layouts(normWidth: Int = 8) -> (student: ParameterLayout, teacher: ParameterLayout) {
        func network(student: Bool) -> ParameterLayout {
            var l = ParameterLayout()
            l.add("backbone.cls_token", [1, 1, 8])
            l.add("backbone.patch_embed.proj.weight", [8, 3, 2, 2])
            l.add("backbone.patch_embed.proj.bias", [8])
            l.add("backbone.norm.weight", [normWidth])
            l.add("instance_head.projector.0.weight", [4, 8])
            if student { l.add("instance_head.predictor.0.weight", [4, 4]) }
            l.add("group_head.last_layer.weight_g", [6, 1])
            l.add("group_head.last_layer.weight_v", [6, 4])
            return l
        }
        return (network(student: true), network(student: false))
    }

    static func make(seed: UInt64 = 1, stepsPerEpoch: Int = 3) throws -> TrainState {
        let (s, t) = layouts()
        let state = try TrainState(config: config, studentLayout: s, teacherLayout: t, stepsPerEpoch: stepsPerEpoch,
                                   seed: seed)
        var rng = SampleRNG(key: [seed, 99])
        for b in [state.student, state.teacher, state.optimizer.expAvg, state.optimizer.expAvgSq, state.center] {
            for spec in b.layout.specs { for j in 0 ..< spec.count { b[spec.name][j] = Float(rng.normal()) } }
        }
        state.memories.randomise(seed: seed)
        state.memories.instanceQueue.pointer = 3
        state.memories.studentMemory.pointer = 4
        state.optimizer.steps = state.optimizer.steps.indices.map { 5 + $0 % 2 }
        state.step = 7
        return state
    }
}

@Suite struct CheckpointTests {
    static func tempRoot() -> String {
        let p = NSTemporaryDirectory() + "mugs-ckpt-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        try! FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// A second save of a step whose directory exists (and which `latest` names) must never leave that step without a
    /// complete checkpoint: a crash after the new one is staged leaves the old one in place and loadable; a crash after
    /// the swap leaves the new one; a completed save leaves only the new one and no stray directories (issue 17).
    @Test func resavingAStepReplacesItAtomically() throws {
        let root = Self.tempRoot()
        defer { try? FileManager.default.removeItem(atPath: root); Checkpoint.faultInjection = nil }
        struct Crash: Error {}
        let old = try ToyState.make(seed: 1), new = try ToyState.make(seed: 2) // same step, other bits
        #expect(old.step == new.step && old.stateHash() != new.stateHash())
        let path = try Checkpoint.save(old, root: root)
        func loadedHash() throws -> UInt64 {
            let s = try ToyState.make(seed: 3)
            _ = try Checkpoint.load(into: s, from: root + "/latest")
            return s.stateHash()
        }
        for (point, expected) in [(Checkpoint.FaultPoint.staged, old.stateHash()), (.swapped, new.stateHash())] {
            try Checkpoint.save(old, root: root) // back to the old one (itself a replacement)
            Checkpoint.faultInjection = { p, dir in if p == point && dir == path { throw Crash() } }
            #expect(throws: Crash.self) { try Checkpoint.save(new, root: root) }
            Checkpoint.faultInjection = nil
            #expect(try loadedHash() == expected, "crash at \(point)")
        }
        try Checkpoint.save(new, root: root)
        #expect(try loadedHash() == new.stateHash())
        let left = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        #expect(left == ["latest", Checkpoint.directoryName(step: new.step)], "\(left)")
    }

    @Test func roundTripIsBitExact() throws {
        let root = Self.tempRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let a = try ToyState.make(seed: 1)
        let path = try Checkpoint.save(a, root: root, extra: ["cursor": "123"])
        #expect(path.hasSuffix("step-000000007"))
        let b = try ToyState.make(seed: 2)
        #expect(a.stateHash() != b.stateHash())
        let info = try Checkpoint.load(into: b, from: root)
        #expect(info.step == 7 && info.seed == 1 && info.stepsPerEpoch == 3 && info.extra["cursor"] == "123")
        #expect(info.config == ToyState.config)
        #expect(a.stateHash() == b.stateHash())
        for (x, y) in [(a.student, b.student), (a.teacher, b.teacher), (a.optimizer.expAvgSq, b.optimizer.expAvgSq)] {
            #expect((0 ..< x.count).allSatisfy { x.base[$0].bitPattern == y.base[$0].bitPattern })
        }
        #expect(a.optimizer.steps == b.optimizer.steps)
        #expect(zip(a.memories.all, b.memories.all).allSatisfy { $0.pointer == $1.pointer })
    }

    @Test func keepsLastKAndLatestAndIgnoresHalfWrittenTemp() throws {
        let root = Self.tempRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let s = try ToyState.make()
        for step in [7, 8, 9, 10] {
            s.step = step
            try Checkpoint.save(s, root: root, keep: 2)
        }
        #expect(Checkpoint.stepDirectories(root: root).map(\.step) == [9, 10])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/latest") == "step-000000010")
        // A crash mid-write leaves a temp dir with partial files, and maybe a dangling newer name: ignored.
        let tmp = root + "/.tmp-step-000000011-999-1"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: tmp + "/model.safetensors"))
        let b = try ToyState.make(seed: 5)
        #expect(try Checkpoint.load(into: b, from: root).step == 10)
        try FileManager.default.removeItem(atPath: root + "/latest")
        #expect(try Checkpoint.resolve(root).hasSuffix("step-000000010"))
        // The next successful save removes the leftover.
        s.step = 11
        try Checkpoint.save(s, root: root, keep: 2)
        #expect(!FileManager.default.fileExists(atPath: tmp))
        // A run resumed from an older step keeps what it just wrote, even with keep 1.
        s.step = 9
        try Checkpoint.save(s, root: root, keep: 1)
        #expect(Checkpoint.stepDirectories(root: root).map(\.step) == [9])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/latest") == "step-000000009")
    }

    @Test func missingOptimizerMeansZeroMoments() throws {
        let root = Self.tempRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try Checkpoint.save(try ToyState.make(), root: root)
        try FileManager.default.removeItem(atPath: path + "/optimizer.safetensors")
        let b = try ToyState.make(seed: 3)
        try Checkpoint.load(into: b, from: path)
        #expect((0 ..< b.optimizer.expAvg.count).allSatisfy { b.optimizer.expAvg.base[$0] == 0 })
        #expect(b.optimizer.steps.allSatisfy { $0 == 0 })
    }

    @Test func mismatchedCheckpointListsEveryProblemAndLeavesStateUntouched() throws {
        let root = Self.tempRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = try Checkpoint.save(try ToyState.make(), root: root)
        // A state whose student has an extra tensor and a different shape.
        let layouts = ToyState.layouts(normWidth: 9)
        var s = layouts.student
        let t = layouts.teacher
        s.add("backbone.extra.weight", [2, 2])
        let other = try TrainState(config: ToyState.config, studentLayout: s, teacherLayout: t, stepsPerEpoch: 3, seed: 0)
        let before = other.stateHash()
        do {
            try Checkpoint.load(into: other, from: path)
            Issue.record("loading a mismatched checkpoint succeeded")
        } catch let e as TrainStateError {
            let text = e.description
            #expect(text.contains("missing 'student.backbone.extra.weight'"), "\(text)")
            #expect(text.contains("'teacher.backbone.norm.weight' has shape [8], expected [9]"), "\(text)")
        }
        #expect(other.stateHash() == before)
        #expect(throws: TrainStateError.self) { try Checkpoint.load(into: other, from: root + "/nope") }
    }

    @Test func refusesToOverwriteANonEmptyDirectory() throws {
        let root = Self.tempRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/keep.txt"))
        #expect(throws: TrainStateError.self) { try Checkpoint.write(try ToyState.make(), to: root) }
        #expect(FileManager.default.fileExists(atPath: root + "/keep.txt"))
    }
}
