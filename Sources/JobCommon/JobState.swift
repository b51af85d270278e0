import MugsModel

/// Building the training state the way every process of a job must: same layouts, same initialisation.
public enum JobState {
    /// An empty state (zeros) laid out for `config`.
    public static func make(config c: MugsConfig, stepsPerEpoch: Int, seed: UInt64) throws -> TrainState {
        let student = try MugsNetwork(config: c, student: true), teacher = try MugsNetwork(config: c, student: false)
        return try TrainState(config: c, studentLayout: student.layout, teacherLayout: teacher.layout,
                              stepsPerEpoch: stepsPerEpoch, seed: seed)
    }

    /// The state at step 0: the reference's initialisation of the student from `seed`, the teacher a copy of it,
    /// random memories (`Memories.randomise`), zero moments and centre.
    public static func initial(config c: MugsConfig, stepsPerEpoch: Int, seed: UInt64) throws -> TrainState {
        let s = try make(config: c, stepsPerEpoch: stepsPerEpoch, seed: seed)
        try MugsNetwork(config: c, student: true).initialize(s.student, seed: seed)
        s.copyStudentIntoTeacher()
        s.memories.randomise(seed: seed)
        return s
    }

    /// The fused buffer layout of the LOCAL part for `config` (gradients | centre sums | loss sums).
    public static func fusedLayout(config c: MugsConfig) throws -> FusedLayout {
        FusedLayout(student: try MugsNetwork(config: c, student: true).layout, prototypes: c.group_out_dim)
    }

    /// The job's 64-bit identity: a hash of what makes two coordinators the same job (token, dataset, config,
    /// seed), so a restarted coordinator keeps it and workers of another job are refused.
    public static func jobID(token: String, datasetFingerprint: String, configYAML: String, seed: UInt64) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in Array(token.utf8) + [0] + Array(datasetFingerprint.utf8) + [0] + Array(configYAML.utf8) {
            h = (h ^ UInt64(b)) &* 0x100_0000_01B3
        }
        h = (h ^ seed) &* 0x100_0000_01B3
        return h == 0 ? 1 : h
    }
}
