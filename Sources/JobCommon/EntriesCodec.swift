import MugsModel
import Wire

/// A rank's `StepEntries` as bytes — the block the ring all-gathers and the body of `sliceEntries` — and back.
///
///     [count u32 | weak u8 × count | pad to 4 | instance 2·b·Di | local-group 2·b·Dl | teacher mem b·C |
///      student mem b·C]   (Float32 little-endian)
public enum EntriesCodec {
    /// Bytes of the block for `b` images.
    public static func blockBytes(b: Int, config c: MugsConfig) -> Int {
        headerBytes(b: b) + 4 * floats(b: b, instanceDim: c.instance_out_dim, localGroupDim: c.local_group_out_dim,
                                       memoryDim: c.embedDim)
    }

    /// The count and the weak flags, padded to 4 bytes.
    static func headerBytes(b: Int) -> Int { 4 + (b + 3) / 4 * 4 }

    static func floats(b: Int, instanceDim di: Int, localGroupDim dl: Int, memoryDim dm: Int) -> Int {
        2 * b * (di + dl + dm)
    }

    /// The float sections of `b` images of `e`, in layout order — the one description of the layout that every
    /// encoding below walks: instance targets (2·b·Di), local-group targets (2·b·Dl), teacher memory (b·C), student
    /// memory (b·C).
    /// (A closure rather than an array: the codec runs inside every step, which allocates nothing.)
    static func forEachSection(_ e: StepEntries, b: Int, _ body: (UnsafeMutablePointer<Float>, Int) -> Void) {
        body(e.instanceTargets, 2 * b * e.instanceDim)
        body(e.localGroupTargets, 2 * b * e.localGroupDim)
        body(e.teacherMemory, b * e.memoryDim)
        body(e.studentMemory, b * e.memoryDim)
    }

    /// Copies the float sections of `e` to `out`, back to back; returns the bytes copied.
    static func write(_ e: StepEntries, b: Int, to out: UnsafeMutableRawPointer) -> Int {
        var o = 0
        forEachSection(e, b: b) { p, n in
            (out + o).copyMemory(from: p, byteCount: 4 * n)
            o += 4 * n
        }
        return o
    }

    /// Copies back-to-back float sections from `bytes` into `e`.
    static func read(_ e: StepEntries, b: Int, from bytes: UnsafeRawPointer) {
        var o = 0
        forEachSection(e, b: b) { p, n in
            UnsafeMutableRawPointer(p).copyMemory(from: bytes + o, byteCount: 4 * n)
            o += 4 * n
        }
    }

    /// Writes `e` into `out` (at least `blockBytes` bytes). Returns the bytes written.
    @discardableResult
    public static func pack(_ e: StepEntries, into out: UnsafeMutableRawPointer) -> Int {
        let b = e.count, h = headerBytes(b: b)
        out.storeBytes(of: UInt32(b).littleEndian, as: UInt32.self)
        for i in 0 ..< b { out.storeBytes(of: e.weak[i] ? 1 : 0, toByteOffset: 4 + i, as: UInt8.self) }
        for i in 4 + b ..< h { out.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
        return h + write(e, b: b, to: out + h)
    }

    /// Reads a block into `e` (whose capacity must hold its images). Throws on a malformed block.
    public static func unpack(_ bytes: UnsafeRawBufferPointer, into e: StepEntries) throws {
        guard bytes.count >= 4 else { throw JobError("entries block", "\(bytes.count) bytes, too short") }
        let b = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        let want = headerBytes(b: b)
            + 4 * floats(b: b, instanceDim: e.instanceDim, localGroupDim: e.localGroupDim, memoryDim: e.memoryDim)
        guard b <= e.capacity, bytes.count == want else {
            throw JobError("entries block", "\(bytes.count) bytes for \(b) images (expected \(want), capacity "
                           + "\(e.capacity))")
        }
        e.count = b
        for i in 0 ..< b { e.weak[i] = bytes[4 + i] != 0 }
        read(e, b: b, from: bytes.baseAddress! + headerBytes(b: b))
    }

    /// The wire message form (for the coordinator).
    public static func message(_ e: StepEntries) -> SliceEntries {
        let b = e.count
        var floatBytes = [UInt8](repeating: 0, count: 4 * floats(b: b, instanceDim: e.instanceDim,
                                                                 localGroupDim: e.localGroupDim, memoryDim: e.memoryDim))
        floatBytes.withUnsafeMutableBytes { _ = write(e, b: b, to: $0.baseAddress!) }
        return SliceEntries(count: UInt32(b), instanceDim: UInt32(e.instanceDim), localGroupDim: UInt32(e.localGroupDim),
                            memoryDim: UInt32(e.memoryDim), weak: (0 ..< b).map { e.weak[$0] ? 1 : 0 },
                            floatBytes: floatBytes)
    }

    /// Fills `e` from a wire message; throws if its dimensions are not the config's.
    public static func fill(_ e: StepEntries, from m: SliceEntries) throws {
        guard Int(m.count) <= e.capacity, Int(m.instanceDim) == e.instanceDim, Int(m.localGroupDim) == e.localGroupDim,
              Int(m.memoryDim) == e.memoryDim else {
            throw JobError("slice entries", "\(m.count) images of dims (\(m.instanceDim), \(m.localGroupDim), "
                           + "\(m.memoryDim)); expected ≤ \(e.capacity) of (\(e.instanceDim), \(e.localGroupDim), "
                           + "\(e.memoryDim))")
        }
        let b = Int(m.count)
        let want = 4 * floats(b: b, instanceDim: e.instanceDim, localGroupDim: e.localGroupDim, memoryDim: e.memoryDim)
        guard m.floatBytes.count == want, m.weak.count == b else {
            throw JobError("slice entries", "\(m.floatBytes.count) float bytes and \(m.weak.count) flags for \(b) "
                           + "images (expected \(want) and \(b))")
        }
        e.count = b
        for i in 0 ..< b { e.weak[i] = m.weak[i] != 0 }
        m.floatBytes.withUnsafeBytes { read(e, b: b, from: $0.baseAddress!) }
    }
}
