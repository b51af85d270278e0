import Sampling
/// The authoritative Mugs training state (DESIGN §3): student and teacher parameters, AdamW moments and
/// per-tensor step counts, the four memories/queues, the clustering centre, the global step counter and the
/// schedules derived from it. The coordinator and every worker cache hold one; `applyUpdate` advances it.
///
/// The networks' flat layouts come from the objective code (`MugsNetwork`); this type is layout-agnostic:
/// parameter groups are derived from names and shapes (`ParameterGroups`), the teacher EMA matches tensors by
/// name (`TeacherEMA`).
public final class TrainState: @unchecked Sendable {
    public let config: MugsConfig
    public let student: ParameterBuffer
    public let teacher: ParameterBuffer
    public let optimizer: AdamW
    public let groups: ParameterGroups
    public let ema: TeacherEMA
    public let memories: Memories
    /// The clustering loss's centre, one tensor `center` [P].
    public let center: ParameterBuffer
    /// Steps applied so far = the global index of the next step (the reference's `it`).
    public var step: Int
    public var schedules: Schedules
    /// The run's seed (augmentation and stochastic depth are keyed by it; see `SampleRNG`).
    public var seed: UInt64

    /// A state with zeroed parameters and memories for `config`; fill it by initialisation or `Checkpoint.load`.
    /// `frozenNames` defaults to the reference's: `*last_layer.weight_g` when `norm_last_layer`.
    public init(config: MugsConfig, studentLayout: ParameterLayout, teacherLayout: ParameterLayout,
                stepsPerEpoch: Int, seed: UInt64, frozenNames: Set<String>? = nil) throws {
        guard stepsPerEpoch > 0 else {
            throw TrainStateError(.badValue("steps_per_epoch"), "must be positive, got \(stepsPerEpoch)")
        }
        self.config = config
        student = ParameterBuffer(layout: studentLayout)
        teacher = ParameterBuffer(layout: teacherLayout)
        optimizer = AdamW(layout: studentLayout)
        let frozen = frozenNames ?? TrainState.referenceFrozenNames(studentLayout, config: config)
        groups = ParameterGroups(layout: studentLayout, frozenNames: frozen)
        ema = try TeacherEMA(teacher: teacherLayout, student: studentLayout)
        memories = Memories(config: config)
        var centerLayout = ParameterLayout()
        centerLayout.add("center", [config.group_out_dim])
        center = ParameterBuffer(layout: centerLayout)
        step = 0
        schedules = Schedules(config: config, stepsPerEpoch: stepsPerEpoch)
        self.seed = seed
    }

    /// Tensors the reference creates with `requires_grad = False`: the weight-norm gain `weight_g` of the
    /// group head's last layer when `norm_last_layer` (src/model.py).
    public static func referenceFrozenNames(_ layout: ParameterLayout, config: MugsConfig) -> Set<String> {
        guard config.norm_last_layer else { return [] }
        return Set(layout.specs.map(\.name).filter { $0.hasSuffix("last_layer.weight_g") })
    }

    /// The epoch of the next step.
    public var epoch: Int { schedules.epoch(ofStep: step) }

    /// The teacher starts as a copy of the student (main.py: `load_state_dict(student.state_dict())`), for
    /// every tensor the teacher has.
    public func copyStudentIntoTeacher() {
        for pair in ema.pairs { (teacher.base + pair.teacher).update(from: student.base + pair.student, count: pair.count) }
    }

    /// A 64-bit FNV-1a hash of every bit of the state (parameters, moments, step counts, memories, pointers,
    /// centre, step), to check that replicas agree.
    public func stateHash() -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ x: UInt64) { h = (h ^ x) &* 0x100_0000_01B3 }
        func mix(_ p: UnsafeMutablePointer<Float>, _ n: Int) { for j in 0 ..< n { mix(UInt64(p[j].bitPattern)) } }
        mix(student.base, student.count); mix(teacher.base, teacher.count)
        mix(optimizer.expAvg.base, optimizer.expAvg.count); mix(optimizer.expAvgSq.base, optimizer.expAvgSq.count)
        for s in optimizer.steps { mix(UInt64(s)) }
        for m in memories.all { mix(m.data, m.count); mix(UInt64(m.pointer)) }
        mix(center.base, center.count)
        mix(UInt64(step))
        return h
    }
}
