import SafeTensors

/// The inputs of one step read from a crops file (`mugs debug-step --crops`), checked against the config:
///
///     teacher_global [2, B, 3, G, G]    student_global [2, B, 3, G, G]    student_local [L, B, 3, l, l]
///     weak [B] (0/1)
///     drop_global [depth, 2, 2B], drop_local [depth, 2, L·B]   optional drop-path keep masks (0/1; branch 0 =
///                                       attention, 1 = MLP; rows crop-major), to reproduce a reference run
///
/// B, G, l, L and depth come from the config. Names may carry a prefix (`crops.` in the step fixtures); the masks
/// are also found as `drop.global` / `drop.local`.
public struct StepCrops: Sendable {
    public var teacherGlobal: HostTensor
    public var studentGlobal: HostTensor
    public var studentLocal: HostTensor
    public var weak: [Bool]
    public var dropGlobal: HostTensor?
    public var dropLocal: HostTensor?

    public static func load(path: String, config c: MugsConfig, prefix: String = "") throws -> StepCrops {
        let file = try SafeTensors.read(path: path)
        let B = c.batch_size, G = c.global_crop_size, l = c.local_crop_size, L = c.local_crops_number
        func tensor(_ names: [String], _ shape: [Int], required: Bool = true) throws -> HostTensor? {
            guard let name = names.first(where: file.contains) else {
                if !required { return nil }
                let bare = String(names[0].dropFirst(prefix.count))
                let hint = file.names.first { $0.hasSuffix("." + bare) || $0.hasSuffix("_" + bare) }.map {
                    "; the file has '\($0)' (name prefix '\($0.dropLast(bare.count))')"
                } ?? ""
                throw TrainStateError(.missingTensor(names[0]), "\(path) must hold '\(names[0])' \(shape) "
                    + "(B = batch_size \(B), G = global_crop_size \(G), l = local_crop_size \(l), L = local_crops_number "
                    + "\(L))\(hint)")
            }
            let t = try file.tensor(name)
            guard t.shape == shape else {
                throw TrainStateError(.shapeMismatch(name, expected: shape, found: t.shape),
                                      "in \(path); the config says B=\(B), G=\(G), l=\(l), L=\(L), depth=\(c.blockCount)")
            }
            return t
        }
        func binary(_ t: HostTensor?, _ name: String) throws {
            guard let t else { return }
            if let bad = t.data.firstIndex(where: { $0 != 0 && $0 != 1 }) {
                throw TrainStateError(.badValue("\(path): '\(name)'[\(bad)] = \(t.data[bad])"), "must be 0 or 1")
            }
        }
        let weakTensor = try tensor([prefix + "weak"], [B])!
        try binary(weakTensor, "weak")
        let crops = StepCrops(
            teacherGlobal: try tensor([prefix + "teacher_global"], [2, B, 3, G, G])!,
            studentGlobal: try tensor([prefix + "student_global"], [2, B, 3, G, G])!,
            studentLocal: try tensor([prefix + "student_local"], [L, B, 3, l, l])!,
            weak: weakTensor.data.map { $0 == 1 },
            dropGlobal: try tensor([prefix + "drop_global", "drop.global"], [c.blockCount, 2, 2 * B], required: false),
            dropLocal: try tensor([prefix + "drop_local", "drop.local"], [c.blockCount, 2, L * B], required: false))
        try binary(crops.dropGlobal, "drop_global")
        try binary(crops.dropLocal, "drop_local")
        if (crops.dropGlobal == nil) != (crops.dropLocal == nil) {
            throw TrainStateError(.badValue(path), "give both drop_global and drop_local, or neither")
        }
        for (name, t) in [("teacher_global", crops.teacherGlobal), ("student_global", crops.studentGlobal),
                          ("student_local", crops.studentLocal)] {
            if let bad = t.data.firstIndex(where: { !$0.isFinite }) {
                throw TrainStateError(.badValue("\(path): '\(name)'[\(bad)]"), "is not finite")
            }
        }
        return crops
    }
}
