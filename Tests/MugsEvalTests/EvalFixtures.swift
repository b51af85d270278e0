import Foundation
import MugsData
import MugsEval
import MugsModel
import SafeTensors
import Testing

/// Paths and helpers shared by the evaluation tests.
enum EvalFixtures {
    static func path(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)!.path
    }

    static func file(_ name: String) throws -> SafeTensorsFile { try SafeTensors.read(path: path(name)) }

    /// A fresh temporary directory (removed by the caller).
    static func temporaryDirectory(_ tag: String) -> String {
        let dir = (NSTemporaryDirectory() as NSString)
            .appendingPathComponent("mugs-eval-\(tag)-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The custom backbone of export.safetensors: embed 48, depth 3, heads 3, patch 4, 32 px.
    static let customConfig = ViTConfig(embedDim: 48, depth: 3, heads: 3, patchSize: 4, imageSize: 32)

    /// A Mugs checkpoint directory holding export.safetensors' backbone as the teacher (with its relation block and
    /// a head tensor, which export must leave out) and a perturbed student, with a state.json whose config has the
    /// custom dimensions.
    static func writeCheckpoint(to dir: String) throws {
        let f = try file("export.safetensors")
        var entries: [SafeTensorsEntry] = []
        for name in f.names where name.hasPrefix("param.") {
            let plain = String(name.dropFirst("param.".count)), t = try f.tensor(name)
            entries.append(SafeTensorsEntry("teacher." + plain, t))
            entries.append(SafeTensorsEntry("student." + plain, HostTensor(shape: t.shape, data: t.data.map { $0 + 1 })))
        }
        for name in f.names where name.hasPrefix("relation.") {
            entries.append(SafeTensorsEntry("teacher.relation_blocks.0." + name.dropFirst("relation.".count),
                                            try f.tensor(name)))
        }
        entries.append(SafeTensorsEntry("teacher.instance_head.projector.0.weight", HostTensor(zeros: [8, 48])))
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SafeTensors.write(path: (dir as NSString).appendingPathComponent("model.safetensors"), tensors: entries)
        var config = MugsConfig()
        config.arch = "custom"; config.embed_dim = 48; config.depth = 3; config.num_heads = 3
        config.patch_size = 4; config.global_crop_size = 32; config.local_crop_size = 16
        // Small heads, so that building the whole network (the random-init baseline does) stays cheap.
        config.head_hidden_dim = 64; config.pred_hidden_dim = 64; config.instance_out_dim = 32
        config.local_group_out_dim = 32; config.group_bottleneck_dim = 32; config.group_out_dim = 256
        config.batch_size = 32; config.instance_queue_size = 256; config.local_group_queue_size = 256
        config.local_group_memory_size = 256
        try config.validate(source: "test checkpoint")
        let state: [String: Any] = ["schema_version": Checkpoint.schemaVersion, "step": 12, "epoch": 0,
                                    "steps_per_epoch": 100, "seed": 5,
                                    "config": ConfigYAML.render(config, title: "test checkpoint")]
        let data = try JSONSerialization.data(withJSONObject: state)
        try data.write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("state.json")))
    }

    /// Max |a − b|.
    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}

/// Tolerance of [CLS] features against timm (float32 both sides, 3 blocks, features of magnitude ≤ 4): the
/// ViT parity fixtures measure float64-vs-float32 gaps of 1.5e-6–3.1e-6 for such features; twice that plus a ×3
/// margin. Wrong weights, names or norms move features by 1e-2 or more.
let clsTolerance: Float = 2e-5
