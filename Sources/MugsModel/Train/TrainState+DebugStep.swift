import Foundation
import Sampling

/// `mugs debug-step`: one training step from a checkpoint and a crops file, written as the next checkpoint plus
/// the raw gradients — how anyone checks mugs against the reference, number for number.
public enum DebugStep {
    /// What the step computed.
    public struct Result: Sendable {
        public var losses: StepLosses
        public var applied: AppliedStep
        /// Fields where the checkpoint's stored config differs from the one used (for a note to the user).
        public var configDifferences: [String]
        /// The checkpoint directory the state was read from.
        public var statePath: String
    }

    /// Runs one step of `config` from the checkpoint at `statePath` on the crops in `cropsPath` (names under
    /// `cropsPrefix`), and writes the next checkpoint to `outPath` (a new or empty directory) with
    /// `grads.safetensors` (raw student gradients before clipping and freezing, reference names) inside.
    /// Without drop-path keep masks in the crops file, image i's stochastic depth is drawn from
    /// `SampleRNG(seed, epoch, index: i, stream: .stochasticDepth)` with the checkpoint's seed.
    public static func run(config: MugsConfig, statePath: String, cropsPath: String, cropsPrefix: String = "",
                           outPath: String, threads: Int = 1) throws -> Result {
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: outPath), !existing.isEmpty {
            throw TrainStateError(.io(outPath), "already exists and is not empty; choose a new output directory")
        } else if FileManager.default.fileExists(atPath: outPath),
                  (try? FileManager.default.contentsOfDirectory(atPath: outPath)) == nil {
            throw TrainStateError(.io(outPath), "exists and is not a directory")
        }
        let pool = ComputePool(threads: threads)
        let B = config.batch_size
        let local = try TrainStep(config: config, b: B, pool: pool)
        let info = try Checkpoint.readInfo(statePath)
        let state = try TrainState(config: config, studentLayout: local.student.layout,
                                   teacherLayout: local.teacher.layout, stepsPerEpoch: info.stepsPerEpoch,
                                   seed: info.seed)
        try Checkpoint.load(into: state, from: info.path)
        let crops = try StepCrops.load(path: cropsPath, config: config, prefix: cropsPrefix)
        let epoch = state.epoch
        let seeds = (0 ..< B).map { i in
            var rng = SampleRNG(seed: state.seed, epoch: UInt64(epoch), index: UInt64(i), stream: .stochasticDepth)
            return rng.seed()
        }
        let out = local.makeBuffers()
        try local.run(studentParams: state.student, teacherParams: state.teacher, memories: state.memories,
                      center: state.center.base, stepCrops: crops, seeds: seeds, globalBatch: B,
                      teacherTemperature: state.schedules.teacherTemperature(epoch: epoch), into: out, pool: pool)
        // Raw gradients, copied before APPLY clips them in place.
        let grads = ParameterBuffer(layout: state.student.layout)
        grads.base.update(from: out.fused.base, count: grads.count)
        let (losses, applied) = try state.applyUpdate(fused: out.fused, entries: [out.entries], pool: pool)
        try withExtendedLifetime(grads) {
            try Checkpoint.write(state, to: outPath, extra: ["debug_step_from": info.path],
                                 additional: [("grads.safetensors", grads.safeTensorsEntries())])
        }
        let differences = MugsConfig.fields.filter { $0.render(info.config) != $0.render(config) }.map {
            "\($0.name): checkpoint \($0.render(info.config)), used \($0.render(config))"
        }
        return Result(losses: losses, applied: applied, configDifferences: differences, statePath: info.path)
    }

    /// The JSON line `mugs debug-step` prints.
    public static func json(_ r: Result) -> String {
        func f(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
        let a = r.applied, l = r.losses
        return "{\"step\": \(a.step), \"epoch\": \(a.epoch), \"loss_instance\": \(f(l.instance)), "
            + "\"loss_local_group\": \(f(l.localGroup)), \"loss_group\": \(f(l.group)), \"loss_total\": \(f(l.total)), "
            + "\"lr\": \(f(a.learningRate)), \"wd\": \(f(a.weightDecay)), \"momentum\": \(f(a.teacherMomentum)), "
            + "\"teacher_temp\": \(f(a.teacherTemperature)), \"batch\": \(a.batch), \"weak\": \(a.weakCount)}"
    }
}
