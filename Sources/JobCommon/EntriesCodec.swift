import MugsModel
import Wire

/// A rank's `StepEntries` as bytes — the block the ring all-gathers and the body of `sliceEntries` — and back.
///
///     [count u32 | weak u8 × count | pad to 4 | instance 2·b·Di | local-group 2·b·Dl | teacher mem b·C |
///      student mem b·C]   (Float32 little-endian)
public enum EntriesCodec {
    /// Bytes of the block for `b` images.
    public static func blockBytes(b: Int, config c: MugsConfig) -> Int {
        4 + (b + 3) / 4 * 4 + 4 * floats(b: b, config: c)
    }

    static func floats(b: Int, config c: MugsConfig) -> Int {
        2 * b * c.instance_out_dim + 2 * b * c.local_group_out_dim + 2 * b * c.embedDim
    }

    /// Writes `e` into `out` (at least `blockBytes` bytes). Returns the bytes written.
    @discardableResult
    public static func pack(_ e: StepEntries, into out: UnsafeMutableRawPointer) -> Int {
        let b = e.count
        out.storeBytes(of: UInt32(b).littleEndian, as: UInt32.self)
        for i in 0 ..< b { out.storeBytes(of: e.weak[i] ? 1 : 0, toByteOffset: 4 + i, as: UInt8.self) }
        var o = 4 + (b + 3) / 4 * 4
        for i in b ..< (b + 3) / 4 * 4 { out.storeBytes(of: 0, toByteOffset: 4 + i, as: UInt8.self) }
        func put(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
            (out + o).copyMemory(from: p, byteCount: 4 * n)
            o += 4 * n
        }
        put(e.instanceTargets, 2 * b * e.instanceDim)
        put(e.localGroupTargets, 2 * b * e.localGroupDim)
        put(e.teacherMemory, b * e.memoryDim)
        put(e.studentMemory, b * e.memoryDim)
        return o
    }

    /// Reads a block into `e` (whose capacity must hold its images). Throws on a malformed block.
    public static func unpack(_ bytes: UnsafeRawBufferPointer, into e: StepEntries) throws {
        guard bytes.count >= 4 else { throw JobError("entries block", "\(bytes.count) bytes, too short") }
        let b = Int(UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)))
        let want = 4 + (b + 3) / 4 * 4 + 4 * (2 * b * (e.instanceDim + e.localGroupDim + e.memoryDim))
        guard b <= e.capacity, bytes.count == want else {
            throw JobError("entries block", "\(bytes.count) bytes for \(b) images (expected \(want), capacity "
                           + "\(e.capacity))")
        }
        e.count = b
        for i in 0 ..< b { e.weak[i] = bytes[4 + i] != 0 }
        var o = 4 + (b + 3) / 4 * 4
        func get(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
            UnsafeMutableRawPointer(p).copyMemory(from: bytes.baseAddress! + o, byteCount: 4 * n)
            o += 4 * n
        }
        get(e.instanceTargets, 2 * b * e.instanceDim)
        get(e.localGroupTargets, 2 * b * e.localGroupDim)
        get(e.teacherMemory, b * e.memoryDim)
        get(e.studentMemory, b * e.memoryDim)
    }

    /// The wire message form (for the coordinator).
    public static func message(_ e: StepEntries) -> SliceEntries {
        let b = e.count
        var floats = [UInt8](repeating: 0, count: 4 * (2 * b * (e.instanceDim + e.localGroupDim + e.memoryDim)))
        floats.withUnsafeMutableBytes { raw in
            var o = 0
            func put(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
                (raw.baseAddress! + o).copyMemory(from: p, byteCount: 4 * n)
                o += 4 * n
            }
            put(e.instanceTargets, 2 * b * e.instanceDim)
            put(e.localGroupTargets, 2 * b * e.localGroupDim)
            put(e.teacherMemory, b * e.memoryDim)
            put(e.studentMemory, b * e.memoryDim)
        }
        return SliceEntries(count: UInt32(b), instanceDim: UInt32(e.instanceDim), localGroupDim: UInt32(e.localGroupDim),
                            memoryDim: UInt32(e.memoryDim), weak: (0 ..< b).map { e.weak[$0] ? 1 : 0 },
                            floatBytes: floats)
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
        e.count = b
        for i in 0 ..< b { e.weak[i] = m.weak[i] != 0 }
        m.floatBytes.withUnsafeBytes { raw in
            var o = 0
            func get(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
                UnsafeMutableRawPointer(p).copyMemory(from: raw.baseAddress! + o, byteCount: 4 * n)
                o += 4 * n
            }
            get(e.instanceTargets, 2 * b * e.instanceDim)
            get(e.localGroupTargets, 2 * b * e.localGroupDim)
            get(e.teacherMemory, b * e.memoryDim)
            get(e.studentMemory, b * e.memoryDim)
        }
    }
}
