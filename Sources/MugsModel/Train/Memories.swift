import Sampling
/// The four ring buffers of Mugs' state (DESIGN §2 "Memories"), each a row-major [K, D] Float32 matrix with
/// a write pointer:
///
/// * `instanceQueue` [K, out], `localGroupQueue` [K, out]: InfoNCE negatives — the teacher's L2-normalised
///   instance / local-group targets. The reference stores them transposed ([out, K], src/loss.py); rows here.
/// * `studentMemory` [K2, C], `teacherMemory` [K2, C]: neighbour memories for the local-group path — the
///   mean of the final-normed patch tokens of the FIRST global crop, stored raw (NOT normalised; the
///   neighbour search normalises both sides, as the reference's `_get_similarity_index` does). The student
///   enqueues only images whose `weak` flag is set; the teacher enqueues all.
///
/// Enqueue order (the reference's `concat_all_gather`): queues — for each teacher crop in turn, the whole
/// global batch in rank order, one ring write of B rows per crop (the reference calls `_dequeue_and_enqueue`
/// once per crop); memories — the global batch (weak images only for the student) in rank order, one write.
///
/// Pointers advance once per write by the number of rows written. The reference's neighbour memory
/// (`Block_mem._dequeue_and_enqueue`, src/model.py) advances by twice the rows when it does not wrap — an
/// accident (`ptr = ptr + n; queue_ptr = (ptr + n) % K`) that leaves stale rows; mugs implements the
/// intent, documented in docs/CONFIG.md.
///
/// Initial contents (reference: `torch.randn`, queues normalised per key): standard normal values from
/// `SampleRNG` keyed by (seed, memory id), queue rows normalised. The reference draws separate random
/// `queue_q/k/v` buffers for a memory which become identical once every row has been written; mugs keeps
/// one buffer (so the first K2 neighbour look-ups see the same random rows as keys and values).
public final class Memories: @unchecked Sendable {
    public let instanceQueue: RingMemory
    public let localGroupQueue: RingMemory
    public let studentMemory: RingMemory
    public let teacherMemory: RingMemory

    /// Zero-filled memories sized by `config`.
    public init(config: MugsConfig) {
        instanceQueue = RingMemory(name: "instance_queue", rows: config.instance_queue_size,
                                   dim: config.instance_out_dim)
        localGroupQueue = RingMemory(name: "local_group_queue", rows: config.local_group_queue_size,
                                     dim: config.local_group_out_dim)
        studentMemory = RingMemory(name: "student_memory", rows: config.local_group_memory_size,
                                   dim: config.embedDim)
        teacherMemory = RingMemory(name: "teacher_memory", rows: config.local_group_memory_size,
                                   dim: config.embedDim)
    }

    /// All four, in checkpoint order.
    public var all: [RingMemory] { [instanceQueue, localGroupQueue, studentMemory, teacherMemory] }

    /// Random initial contents as in the reference (see the type's documentation), from `seed`.
    public func randomise(seed: UInt64) {
        for (id, memory) in all.enumerated() {
            var rng = SampleRNG(key: [seed, 0x6D656D6F7279, UInt64(id)]) // "memory"
            for j in 0 ..< memory.rows * memory.dim { memory.data[j] = Float(rng.normal()) }
            if memory === instanceQueue || memory === localGroupQueue { memory.normaliseRows() }
            memory.pointer = 0
        }
    }
}
