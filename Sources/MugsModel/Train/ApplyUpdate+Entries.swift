/// One rank's queue and memory entries of a step, in the slice's sample order (what the LOCAL part produces
/// and the all-gather collects in rank order). Storage is allocated once for `capacity` images.
///
///     instanceTargets   [2, b, out_i]  the teacher's L2-normalised instance targets, crop-major
///     localGroupTargets [2, b, out_l]  the teacher's L2-normalised local-group targets, crop-major
///     teacherMemory     [b, C]         mean final-normed patch tokens of the teacher's first global crop
///     studentMemory     [b, C]         the same for the student's first global crop (all images; only the
///                                      rows with `weak` set are enqueued)
///     weak              [b]            whether the image's student global crops were weakly augmented
public final class StepEntries: @unchecked Sendable {
    public let capacity: Int
    public let instanceDim: Int
    public let localGroupDim: Int
    public let memoryDim: Int
    /// Images in this slice (b ≤ capacity).
    public var count: Int
    public let instanceTargets: UnsafeMutablePointer<Float>
    public let localGroupTargets: UnsafeMutablePointer<Float>
    public let teacherMemory: UnsafeMutablePointer<Float>
    public let studentMemory: UnsafeMutablePointer<Float>
    public var weak: [Bool]

    public init(capacity: Int, instanceDim: Int, localGroupDim: Int, memoryDim: Int) {
        precondition(capacity > 0, "StepEntries needs a positive capacity")
        self.capacity = capacity
        self.instanceDim = instanceDim
        self.localGroupDim = localGroupDim
        self.memoryDim = memoryDim
        count = capacity
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        instanceTargets = alloc(2 * capacity * instanceDim)
        localGroupTargets = alloc(2 * capacity * localGroupDim)
        teacherMemory = alloc(capacity * memoryDim)
        studentMemory = alloc(capacity * memoryDim)
        weak = [Bool](repeating: false, count: capacity)
    }

    /// Entries sized for `config`'s dimensions.
    public convenience init(capacity: Int, config: MugsConfig) {
        self.init(capacity: capacity, instanceDim: config.instance_out_dim, localGroupDim: config.local_group_out_dim,
                  memoryDim: config.embedDim)
    }

    deinit {
        instanceTargets.deallocate(); localGroupTargets.deallocate()
        teacherMemory.deallocate(); studentMemory.deallocate()
    }

    /// Row `i` of teacher crop `crop` of the instance targets.
    public func instanceRow(crop: Int, _ i: Int) -> UnsafeMutablePointer<Float> {
        instanceTargets + (crop * count + i) * instanceDim
    }

    public func localGroupRow(crop: Int, _ i: Int) -> UnsafeMutablePointer<Float> {
        localGroupTargets + (crop * count + i) * localGroupDim
    }
}
