import MugsModel
import Wire

/// The training state as named float sections plus a few integers — what a state transfer moves from the
/// coordinator to a worker whose cache is not at the committed step, and what a snapshot copies.
///
///     student, teacher, exp_avg, exp_avg_sq   the networks' flat buffers (padding included)
///     instance_queue, local_group_queue, student_memory, teacher_memory, center
///     + integers: per-tensor AdamW step counts, the memories' write pointers, the step (in the message header)
public struct StateSections {
    public struct Section {
        public let name: String
        public let base: UnsafeMutablePointer<Float>
        public let count: Int
    }

    public let state: TrainState
    public let sections: [Section]

    public init(_ state: TrainState) {
        self.state = state
        var s = [Section(name: "student", base: state.student.base, count: state.student.count),
                 Section(name: "teacher", base: state.teacher.base, count: state.teacher.count),
                 Section(name: "exp_avg", base: state.optimizer.expAvg.base, count: state.optimizer.expAvg.count),
                 Section(name: "exp_avg_sq", base: state.optimizer.expAvgSq.base,
                         count: state.optimizer.expAvgSq.count)]
        for m in state.memories.all { s.append(Section(name: m.name, base: m.data, count: m.count)) }
        s.append(Section(name: "center", base: state.center.base, count: state.center.count))
        sections = s
    }

    /// The header of a transfer of this state.
    public func header(chunkFloats: Int) -> StateHeader {
        StateHeader(adamSteps: state.optimizer.steps.map { UInt64($0) },
                    memoryPointers: state.memories.all.map { UInt64($0.pointer) },
                    sections: sections.map { StateSection(name: $0.name, count: UInt64($0.count)) },
                    chunkFloats: UInt64(chunkFloats))
    }

    /// Checks that a transfer header describes a state of this shape; sets the integers if so.
    public func accept(_ h: StateHeader, step: Int) throws {
        guard h.sections.count == sections.count,
              zip(h.sections, sections).allSatisfy({ $0.name == $1.name && $0.count == UInt64($1.count) }) else {
            throw JobError("state transfer", "sections \(h.sections.map { "\($0.name)[\($0.count)]" }) do not match "
                           + "this worker's \(sections.map { "\($0.name)[\($0.count)]" })",
                           hint: "the coordinator and the worker run different builds or configs")
        }
        guard h.adamSteps.count == state.optimizer.steps.count, h.memoryPointers.count == state.memories.all.count,
              zip(h.memoryPointers, state.memories.all).allSatisfy({ $0 < UInt64($1.rows) }) else {
            throw JobError("state transfer", "integer fields do not fit this state")
        }
        state.optimizer.steps = h.adamSteps.map { Int($0) }
        for (p, m) in zip(h.memoryPointers, state.memories.all) { m.pointer = Int(p) }
        state.step = step
    }

    /// Copies every section and integer of `other` (same config) into this state.
    public func copy(from other: StateSections) {
        precondition(other.sections.count == sections.count, "state shapes differ")
        for (d, s) in zip(sections, other.sections) {
            precondition(d.count == s.count, "section \(d.name) differs")
            d.base.update(from: s.base, count: d.count)
        }
        state.optimizer.steps = other.state.optimizer.steps
        for (d, s) in zip(state.memories.all, other.state.memories.all) { d.pointer = s.pointer }
        state.step = other.state.step
        state.seed = other.state.seed
    }

    /// Index of a section by name.
    public func index(of name: String) -> Int? { sections.firstIndex { $0.name == name } }
}

/// Receives a streamed state into a worker's cache: tracks which chunks of each section arrived, so a transfer
/// restarted at the same step (a new generation while streaming) only completes once everything is there.
public struct StateReceiver {
    public private(set) var step: Int?
    private var chunkFloats = 1
    private var have: [[Bool]] = []
    private var missing = 0

    public init() {}

    /// A header for `step` arrived: start (or continue, if it is the same step) a transfer.
    public mutating func begin(_ h: StateHeader, step s: Int, into target: StateSections) throws {
        if step == s && UInt64(chunkFloats) == h.chunkFloats && !have.isEmpty { try target.accept(h, step: s); return }
        try target.accept(h, step: s)
        step = s
        chunkFloats = Int(h.chunkFloats)
        have = target.sections.map { [Bool](repeating: false, count: ($0.count + chunkFloats - 1) / chunkFloats) }
        missing = have.reduce(0) { $0 + $1.count }
    }

    /// A chunk arrived; returns true when the transfer is complete.
    public mutating func receive(_ t: StateTransfer, step s: Int, into target: StateSections) throws -> Bool {
        guard step == s, let i = target.index(of: t.section) else { return false } // stale or not started
        let sec = target.sections[i]
        let off = Int(clamping: t.offset), n = t.values.count
        guard t.totalCount == UInt64(sec.count), off % chunkFloats == 0, off <= sec.count, n <= sec.count - off,
              n == min(chunkFloats, sec.count - off) else {
            throw JobError("state transfer", "chunk \(t.section)[\(t.offset) ..< +\(n)] of \(t.totalCount) does not "
                           + "fit section \(sec.name)[\(sec.count)] in chunks of \(chunkFloats)")
        }
        t.values.withUnsafeBufferPointer { (sec.base + off).update(from: $0.baseAddress!, count: n) }
        let c = off / chunkFloats
        if !have[i][c] { have[i][c] = true; missing -= 1 }
        return missing == 0
    }

    /// Forget the transfer (the cache is no longer trusted).
    public mutating func reset() { step = nil; have = []; missing = 0 }
}
