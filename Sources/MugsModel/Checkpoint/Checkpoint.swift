import Foundation
import SafeTensors
#if canImport(Glibc)
import Glibc
#endif

/// Checkpoints: one directory per saved step, written atomically, under a root that keeps the last K and a
/// `latest` symlink (DESIGN §6).
///
///     <root>/step-000001234/model.safetensors      student.<name>, teacher.<name> (reference state-dict names)
///                          /optimizer.safetensors  exp_avg.<name>, exp_avg_sq.<name>; metadata `adam_steps`:
///                                                  JSON {name: per-tensor AdamW step count}
///                          /memory.safetensors     instance_queue [K,out], local_group_queue [K,out],
///                                                  student_memory [K2,C], teacher_memory [K2,C], center [P];
///                                                  metadata `<name>_ptr`: each ring's write pointer
///                          /state.json             schema_version, step, epoch, steps_per_epoch, seed, config
///                                                  (the full YAML text) and any caller fields (cursor, ...)
///     <root>/latest -> step-000001234
///
/// Atomicity: the files are written into `<root>/.tmp-step-…-<pid>-<random>`, each fsynced, the directory
/// fsynced, then renamed to its final name and the root fsynced; `latest` is replaced by renaming a new
/// symlink over it. A crash leaves either the previous checkpoints or the complete new one; half-written
/// `.tmp-*` directories are never read and are removed by the next successful write. Saving a step whose directory
/// exists (a step redone after a restart, or saved twice) writes the new one beside it and swaps the two with one
/// `renameat2(RENAME_EXCHANGE)`: the step's directory is complete at every instant, old or new.
public enum Checkpoint {
    public static let schemaVersion = 1

    /// The directory name of the checkpoint after `step` steps.
    public static func directoryName(step: Int) -> String { String(format: "step-%09d", step) }

    /// Writes `state` as `<root>/step-N` (N = steps applied), points `latest` at it and keeps the newest
    /// `keep` step directories. Returns the new directory's path.
    @discardableResult
    public static func save(_ state: TrainState, root: String, keep: Int = 3, extra: [String: String] = [:])
        throws -> String {
        guard keep >= 1 else { throw TrainStateError(.badValue("keep"), "must keep at least one checkpoint") }
        try makeDirectory(root)
        let name = directoryName(step: state.step)
        let path = (root as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: path) {
            // A checkpoint of this step exists (a redone step, or a second save at the same step) and `latest` may
            // point at it: write the new one beside it, then swap the two in one atomic rename, so that at every
            // instant `path` holds one complete checkpoint, the old or the new (never a deleted one).
            let staged = (root as NSString).appendingPathComponent(
                ".tmp-step-replace-\(name)-\(getpid())-\(UInt32.random(in: 0 ... .max))")
            try write(state, to: staged, extra: extra)
            try faultInjection?(.staged, path)
            try replace(path, with: staged)
            try faultInjection?(.swapped, path)
            try removeTree(staged) // now the old checkpoint
        } else {
            try write(state, to: path, extra: extra)
        }
        try pointLatest(root: root, at: name)
        try prune(root: root, keep: keep, current: name)
        return path
    }

    /// Writes a complete checkpoint directory at `path` atomically (the path must not exist, or be empty).
    public static func write(_ state: TrainState, to path: String, extra: [String: String] = [:],
                             additional: [(file: String, tensors: [SafeTensorsEntry])] = []) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            let empty = isDir.boolValue && ((try? fm.contentsOfDirectory(atPath: path))?.isEmpty ?? false)
            guard empty else {
                throw TrainStateError(.io(path), "already exists and is not an empty directory; choose a new one")
            }
            try fm.removeItem(atPath: path)
        }
        let parent = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString)
            .deletingLastPathComponent
        try makeDirectory(parent)
        let base = (path as NSString).lastPathComponent
        let tmp = (parent as NSString).appendingPathComponent(
            ".tmp-\(base)-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try makeDirectory(tmp)
        do {
            func file(_ n: String) -> String { (tmp as NSString).appendingPathComponent(n) }
            try SafeTensors.write(path: file("model.safetensors"),
                                  tensors: state.student.safeTensorsEntries(prefix: "student.")
                                      + state.teacher.safeTensorsEntries(prefix: "teacher."),
                                  metadata: ["format": "mugs checkpoint model", "step": String(state.step)])
            try SafeTensors.write(path: file("optimizer.safetensors"),
                                  tensors: state.optimizer.expAvg.safeTensorsEntries(prefix: "exp_avg.")
                                      + state.optimizer.expAvgSq.safeTensorsEntries(prefix: "exp_avg_sq."),
                                  metadata: ["format": "mugs checkpoint optimizer", "adam_steps": adamStepsJSON(state)])
            var memoryEntries = state.memories.all.map {
                SafeTensorsEntry($0.name, shape: [$0.rows, $0.dim], borrowing: UnsafeBufferPointer($0.buffer))
            }
            memoryEntries.append(contentsOf: state.center.safeTensorsEntries())
            var memoryMeta = ["format": "mugs checkpoint memory"]
            for m in state.memories.all { memoryMeta["\(m.name)_ptr"] = String(m.pointer) }
            try SafeTensors.write(path: file("memory.safetensors"), tensors: memoryEntries, metadata: memoryMeta)
            for a in additional { try SafeTensors.write(path: file(a.file), tensors: a.tensors) }
            try writeSynced(file("state.json"), stateJSON(state, extra: extra))
            try fsyncPath(tmp)
            guard rename(tmp, path) == 0 else {
                throw TrainStateError(.io(path), "cannot rename \(tmp) into place: \(String(cString: strerror(errno)))")
            }
            try fsyncPath(parent)
        } catch {
            try? removeTree(tmp)
            throw error
        }
    }

    /// Points in `save`'s replacement of an existing step directory where a test may simulate a crash (by throwing):
    /// `.staged` — the new checkpoint is complete beside the old, nothing replaced yet; `.swapped` — the new one is in
    /// place, the old one not yet removed. Called with the step directory's path; nil (no faults) outside tests.
    enum FaultPoint { case staged, swapped }
    nonisolated(unsafe) static var faultInjection: ((FaultPoint, String) throws -> Void)?

    /// `renameat2(2)` with `RENAME_EXCHANGE` (Linux ≥ 3.15, glibc ≥ 2.28; looked up at run time, as glibc's header
    /// declares it only under _GNU_SOURCE): swaps two paths atomically.
    private typealias RenameAt2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32)
        -> Int32
    private static let renameat2: RenameAt2? =
        dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2").map { unsafeBitCast($0, to: RenameAt2.self) }

    /// Replaces the directory `path` by the complete directory `staged`, which then holds the old one. Atomic where
    /// the kernel and file system support `RENAME_EXCHANGE`; elsewhere the old directory is renamed aside first, and a
    /// crash between the two renames leaves it there under `staged`'s name (the previous step's checkpoint and
    /// `latest`'s other targets are untouched).
    static func replace(_ path: String, with staged: String) throws {
        let exchange: UInt32 = 2 // RENAME_EXCHANGE
        if let f = renameat2, f(AT_FDCWD, staged, AT_FDCWD, path, exchange) == 0 {
            try fsyncPath((path as NSString).deletingLastPathComponent)
            return
        }
        let aside = staged + ".old"
        guard rename(path, aside) == 0 else {
            throw TrainStateError(.io(path),
                                  "cannot move the old checkpoint aside: \(String(cString: strerror(errno)))")
        }
        guard rename(staged, path) == 0 else {
            let reason = String(cString: strerror(errno))
            _ = rename(aside, path)
            throw TrainStateError(.io(path), "cannot rename \(staged) into place: \(reason)")
        }
        guard rename(aside, staged) == 0 else {
            throw TrainStateError(.io(aside), "cannot rename the old checkpoint: \(String(cString: strerror(errno)))")
        }
        try fsyncPath((path as NSString).deletingLastPathComponent)
    }

    // MARK: state.json

    static func adamStepsJSON(_ state: TrainState) -> String {
        var dict: [String: Int] = [:]
        for (i, spec) in state.optimizer.layout.specs.enumerated() { dict[spec.name] = state.optimizer.steps[i] }
        let data = try! JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func stateJSON(_ state: TrainState, extra: [String: String]) throws -> Data {
        var object: [String: Any] = [
            "schema_version": schemaVersion, "step": state.step, "epoch": state.epoch,
            "steps_per_epoch": state.schedules.stepsPerEpoch, "seed": NSNumber(value: state.seed),
            "config": ConfigYAML.render(state.config, title: "config of this checkpoint"),
        ]
        for (k, v) in extra {
            guard object[k] == nil else {
                throw TrainStateError(.badValue("state.json field '\(k)'"), "is reserved by the checkpoint format")
            }
            object[k] = v
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    }

    // MARK: files

    static func makeDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw TrainStateError(.io(path), "cannot create directory: \(error.localizedDescription)")
        }
    }

    static func removeTree(_ path: String) throws {
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw TrainStateError(.io(path), "cannot remove: \(error.localizedDescription)")
        }
    }

    static func writeSynced(_ path: String, _ data: Data) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TrainStateError(.io(path), "cannot create: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw TrainStateError(.io(path), "write failed: \(String(cString: strerror(errno)))") }
                done += n
            }
        }
        guard fsync(fd) == 0 else { throw TrainStateError(.io(path), "fsync failed: \(String(cString: strerror(errno)))") }
    }

    static func fsyncPath(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TrainStateError(.io(path), "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 || errno == EINVAL else {
            throw TrainStateError(.io(path), "fsync failed: \(String(cString: strerror(errno)))")
        }
    }

    /// Replaces `<root>/latest` with a symlink to `name` (relative), atomically.
    static func pointLatest(root: String, at name: String) throws {
        let link = (root as NSString).appendingPathComponent("latest")
        let tmp = (root as NSString).appendingPathComponent(".tmp-latest-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        guard symlink(name, tmp) == 0 else {
            throw TrainStateError(.io(tmp), "cannot create symlink: \(String(cString: strerror(errno)))")
        }
        guard rename(tmp, link) == 0 else {
            unlink(tmp)
            throw TrainStateError(.io(link), "cannot replace: \(String(cString: strerror(errno)))")
        }
        try fsyncPath(root)
    }

    /// Complete step directories under `root`, oldest first.
    public static func stepDirectories(root: String) -> [(step: Int, name: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("step-"), let s = Int(n.dropFirst(5)),
                  FileManager.default.fileExists(atPath: "\(root)/\(n)/state.json") else { return nil }
            return (s, n)
        }.sorted { $0.0 < $1.0 }
    }

    /// Keeps `keep` step directories — `current` (just written) and the newest others — and removes leftover
    /// temporary directories. `current` is never removed, even when a resumed run writes a lower step than
    /// directories left by an abandoned later run.
    static func prune(root: String, keep: Int, current: String) throws {
        let others = stepDirectories(root: root).filter { $0.name != current }
        for old in others.dropLast(keep - 1) { try removeTree((root as NSString).appendingPathComponent(old.name)) }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        for n in names where n.hasPrefix(".tmp-step-") { try? removeTree((root as NSString).appendingPathComponent(n)) }
    }
}
