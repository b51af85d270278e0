import Foundation
import SafeTensors

/// What a checkpoint's state.json says.
public struct CheckpointInfo: Sendable {
    /// The step directory that was read.
    public var path: String
    public var step: Int
    public var epoch: Int
    public var stepsPerEpoch: Int
    public var seed: UInt64
    /// The config stored with the checkpoint (YAML text) and its parsed form.
    public var configText: String
    public var config: MugsConfig
    /// Fields other writers added (cursor, generation, dataset fingerprint, ...), as strings.
    public var extra: [String: String]
}

extension Checkpoint {
    /// The step directory `path` names: itself if it holds a state.json, else `<path>/latest`, else the newest
    /// complete `step-*` directory under it (temporary directories are never considered).
    public static func resolve(_ path: String) throws -> String {
        let fm = FileManager.default
        if fm.fileExists(atPath: (path as NSString).appendingPathComponent("state.json")) { return path }
        let latest = (path as NSString).appendingPathComponent("latest")
        if fm.fileExists(atPath: (latest as NSString).appendingPathComponent("state.json")) { return latest }
        if let newest = stepDirectories(root: path).last {
            return (path as NSString).appendingPathComponent(newest.name)
        }
        var isDir: ObjCBool = false
        let what = fm.fileExists(atPath: path, isDirectory: &isDir) ? "has no state.json, 'latest' link or step-* "
            + "checkpoint" : "does not exist"
        throw TrainStateError(.notFound("checkpoint"), "\(path) \(what)")
    }

    /// Reads state.json of the checkpoint at `path` (resolved as `resolve` does).
    public static func readInfo(_ path: String) throws -> CheckpointInfo {
        let dir = try resolve(path)
        let file = (dir as NSString).appendingPathComponent("state.json")
        guard let data = FileManager.default.contents(atPath: file) else {
            throw TrainStateError(.io(file), "cannot read")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TrainStateError(.badValue(file), "is not a JSON object")
        }
        func number(_ key: String) throws -> NSNumber {
            guard let n = object[key] as? NSNumber else {
                throw TrainStateError(.badValue("\(file): field '\(key)'"), "missing or not a number")
            }
            return n
        }
        let version = try number("schema_version").intValue
        guard version == schemaVersion else {
            throw TrainStateError(.badValue("\(file): schema_version \(version)"),
                                  "this build reads schema version \(schemaVersion)")
        }
        guard let configText = object["config"] as? String else {
            throw TrainStateError(.badValue("\(file): field 'config'"), "missing or not a string")
        }
        let config = try ConfigYAML.parse(configText, source: "\(file) (config)")
        let step = try number("step").intValue, stepsPerEpoch = try number("steps_per_epoch").intValue
        guard step >= 0, stepsPerEpoch > 0 else {
            throw TrainStateError(.badValue(file), "step \(step) / steps_per_epoch \(stepsPerEpoch) out of range")
        }
        let reserved: Set = ["schema_version", "step", "epoch", "steps_per_epoch", "seed", "config"]
        var extra: [String: String] = [:]
        for (k, v) in object where !reserved.contains(k) { extra[k] = "\(v)" }
        return CheckpointInfo(path: dir, step: step, epoch: try number("epoch").intValue, stepsPerEpoch: stepsPerEpoch,
                              seed: try number("seed").uint64Value, configText: configText, config: config,
                              extra: extra)
    }

    /// Loads the checkpoint at `path` into `state`: parameters, teacher, AdamW moments and step counts
    /// (zeros when optimizer.safetensors is absent), memories, pointers, centre, step and seed. Every name and
    /// shape of every file is checked first; one error lists everything missing, mis-shaped or unexpected,
    /// and then `state` is untouched.
    @discardableResult
    public static func load(into state: TrainState, from path: String) throws -> CheckpointInfo {
        let info = try readInfo(path)
        let dir = info.path
        func open(_ name: String) throws -> SafeTensorsFile? {
            let file = (dir as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file) else { return nil }
            return try SafeTensors.read(path: file)
        }
        guard let model = try open("model.safetensors") else {
            throw TrainStateError(.notFound("model.safetensors"), "in \(dir)")
        }
        guard let memory = try open("memory.safetensors") else {
            throw TrainStateError(.notFound("memory.safetensors"), "in \(dir)")
        }
        let optimizer = try open("optimizer.safetensors")

        // Expected (file, name, shape) and a check of all of them before anything is copied.
        var problems: [String] = []
        func expect(_ file: SafeTensorsFile, _ fileName: String, _ name: String, _ shape: [Int]) {
            guard let found = file.shape(of: name) else { problems.append("\(fileName): missing '\(name)' \(shape)"); return }
            if found != shape { problems.append("\(fileName): '\(name)' has shape \(found), expected \(shape)") }
        }
        func unexpected(_ file: SafeTensorsFile, _ fileName: String, _ expected: Set<String>) {
            for n in file.names where !expected.contains(n) { problems.append("\(fileName): unexpected '\(n)'") }
        }
        var modelNames = Set<String>()
        for s in state.student.layout.specs { expect(model, "model", "student." + s.name, s.shape); modelNames.insert("student." + s.name) }
        for s in state.teacher.layout.specs { expect(model, "model", "teacher." + s.name, s.shape); modelNames.insert("teacher." + s.name) }
        unexpected(model, "model", modelNames)
        var adamSteps: [String: Int] = [:]
        if let optimizer {
            var names = Set<String>()
            for s in state.student.layout.specs {
                for p in ["exp_avg.", "exp_avg_sq."] { expect(optimizer, "optimizer", p + s.name, s.shape); names.insert(p + s.name) }
            }
            unexpected(optimizer, "optimizer", names)
            if let json = optimizer.metadata["adam_steps"],
               let dict = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Int] {
                adamSteps = dict
                for s in state.student.layout.specs where dict[s.name] == nil {
                    problems.append("optimizer: metadata adam_steps lacks '\(s.name)'")
                }
            } else {
                problems.append("optimizer: metadata 'adam_steps' missing or not a JSON object of integers")
            }
        }
        var memoryNames = Set<String>(["center"])
        expect(memory, "memory", "center", [state.config.group_out_dim])
        var pointers: [Int] = []
        for m in state.memories.all {
            expect(memory, "memory", m.name, [m.rows, m.dim])
            memoryNames.insert(m.name)
            if let p = memory.metadata["\(m.name)_ptr"].flatMap(Int.init), (0 ..< m.rows).contains(p) {
                pointers.append(p)
            } else {
                problems.append("memory: metadata '\(m.name)_ptr' missing or not in 0..<\(m.rows)")
            }
        }
        unexpected(memory, "memory", memoryNames)
        if !problems.isEmpty {
            throw TrainStateError(.badValue("checkpoint \(dir)"), "does not match this model/config: "
                + problems.joined(separator: "; "))
        }

        try model.load(into: state.student, prefix: "student.")
        try model.load(into: state.teacher, prefix: "teacher.")
        if let optimizer {
            try optimizer.load(into: state.optimizer.expAvg, prefix: "exp_avg.")
            try optimizer.load(into: state.optimizer.expAvgSq, prefix: "exp_avg_sq.")
            state.optimizer.steps = state.student.layout.specs.map { adamSteps[$0.name]! }
        } else {
            state.optimizer.expAvg.zero()
            state.optimizer.expAvgSq.zero()
            state.optimizer.steps = [Int](repeating: 0, count: state.student.layout.specs.count)
        }
        for (m, p) in zip(state.memories.all, pointers) {
            try memory.read(m.name, into: m.buffer, shape: [m.rows, m.dim])
            m.pointer = p
        }
        try memory.load(into: state.center)
        state.step = info.step
        state.seed = info.seed
        state.schedules = Schedules(config: state.config, stepsPerEpoch: info.stepsPerEpoch)
        return info
    }
}
