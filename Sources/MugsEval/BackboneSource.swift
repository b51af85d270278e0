import Foundation
import MugsModel
import SafeTensors

/// Where a backbone comes from, resolved once for every evaluation command (`--checkpoint DIR|FILE`):
///
/// * a checkpoint directory (a step directory, or a root with `latest`/`step-*`): the teacher backbone of its
///   `model.safetensors` (`teacher.*`), dimensions from the config in its `state.json`;
/// * a safetensors file: a backbone under timm names (as `mugs export` and `tools/convert_pth.py` write) or under a
///   known prefix (`teacher.`, `backbone.`, …), found by `BackboneWeights`; embedding dim, patch size and depth are
///   read from the tensors, the number of heads (which the tensors cannot tell) from `--heads`, the file's
///   `num_heads` metadata, `--arch`, or the preset with that embedding dim (192 → 3, 384 → 6, 768 → 12, 1024 → 16),
///   in that order.
public struct BackboneSource: Sendable {
    /// The safetensors file holding the weights.
    public let weightsPath: String
    public let architecture: ViTConfig
    /// A readable name with the patch size, such as `vit_tiny/4` or `custom(C=48,depth=3,heads=3)/4`.
    public let name: String
    /// The prefix of the backbone's names in the file.
    public let prefix: String
    /// The checkpoint's state.json when the source is a checkpoint directory.
    public let checkpoint: CheckpointInfo?

    /// Backbone dimensions of the presets (the reference's `vit_*`), by name.
    public static let presets: [String: (embedDim: Int, depth: Int, heads: Int)] = [
        "vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16),
    ]

    public static func open(_ path: String, arch: String? = nil, heads: Int? = nil) throws(EvalError) -> BackboneSource {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw EvalError(.weights, "\(path) does not exist (expected a checkpoint directory or a .safetensors file)")
        }
        if isDir.boolValue {
            let direct = (path as NSString).appendingPathComponent("model.safetensors")
            let hasState = fm.fileExists(atPath: (path as NSString).appendingPathComponent("state.json"))
            if fm.fileExists(atPath: direct) && !hasState {
                return try fromFile(direct, arch: arch, heads: heads)
            }
            return try fromCheckpoint(path, heads: heads)
        }
        return try fromFile(path, arch: arch, heads: heads)
    }

    static func fromCheckpoint(_ path: String, heads: Int?) throws(EvalError) -> BackboneSource {
        let info: CheckpointInfo
        do { info = try Checkpoint.readInfo(path) } catch {
            throw EvalError(.weights, "\(error)")
        }
        let c = info.config
        let weights = (info.path as NSString).appendingPathComponent("model.safetensors")
        let H = heads ?? c.headCount
        let config = ViTConfig(embedDim: c.embedDim, depth: c.blockCount, heads: H, patchSize: c.patch_size,
                               imageSize: c.global_crop_size)
        do { try config.validate() } catch {
            throw EvalError(.configuration, "\(info.path)/state.json: \(error)")
        }
        let name = c.arch == "custom" ? "custom(C=\(c.embedDim),depth=\(c.blockCount),heads=\(H))" : c.arch
        return BackboneSource(weightsPath: weights, architecture: config, name: "\(name)/\(c.patch_size)",
                              prefix: "teacher.", checkpoint: info)
    }

    static func fromFile(_ path: String, arch: String?, heads: Int?) throws(EvalError) -> BackboneSource {
        let file: SafeTensorsFile
        do { file = try SafeTensors.read(path: path) } catch { throw EvalError(.weights, error.description) }
        let weights: BackboneWeights
        do { weights = try BackboneWeights(file) } catch { throw EvalError(.weights, error.description) }
        let prefix = weights.prefix, C = weights.embedDim, P = weights.patchSize, depth = weights.depth
        var H: Int
        var name: String
        if let arch {
            guard let preset = presets[arch] else {
                throw EvalError(.configuration, "--arch \(arch): unknown; use one of "
                                + presets.keys.sorted().joined(separator: ", "))
            }
            guard preset.embedDim == C, preset.depth == depth else {
                throw EvalError(.weights, "\(path): the weights have embedding dim \(C) and \(depth) blocks but "
                                + "\(arch) has \(preset.embedDim) and \(preset.depth)")
            }
            H = preset.heads; name = arch
        } else if let match = presets.first(where: { $0.value.embedDim == C && $0.value.depth == depth }) {
            H = match.value.heads; name = match.key
        } else {
            H = 0; name = "custom"
        }
        if let meta = file.metadata["num_heads"], let h = Int(meta), h > 0 { H = h }
        if let heads { H = heads }
        guard H > 0 else {
            throw EvalError(.configuration, "\(path): embedding dim \(C) with \(depth) blocks is no preset and the "
                            + "file has no 'num_heads' metadata; give the number of heads with --heads")
        }
        if name == "custom" { name = "custom(C=\(C),depth=\(depth),heads=\(H))" }
        let config = ViTConfig(embedDim: C, depth: depth, heads: H, patchSize: P, imageSize: max(P, 224 / P * P))
        do { try config.validate() } catch { throw EvalError(.configuration, "\(path): \(error)") }
        return BackboneSource(weightsPath: path, architecture: config, name: "\(name)/\(P)", prefix: prefix,
                              checkpoint: nil)
    }

    /// Loads the backbone for feature extraction (eval mode, native image size from `pos_embed`).
    public func makeEmbedder() throws(EvalError) -> BackboneEmbedder {
        do {
            let file = try SafeTensors.read(path: weightsPath)
            return try BackboneEmbedder(weights: file, architecture: architecture, name: name, prefix: prefix)
        } catch let error as EmbedError {
            throw EvalError(.weights, error.description)
        } catch {
            throw EvalError(.weights, "\(error)")
        }
    }

    /// The same architecture freshly initialised as training initialises it (`MugsNetwork.initialize` with the
    /// checkpoint's seed, or `seed`): for a checkpoint, the very network its training started from (as
    /// `JobState.initial` builds it) — the random-network baseline.
    public func makeRandomEmbedder(seed: UInt64? = nil) throws(EvalError) -> BackboneEmbedder {
        let reference = try makeEmbedder()
        // A checkpoint's own config gives exactly the network its step 0 had (the backbone is the first part of the
        // layout, initialised tensor by tensor from the seed); for a bare file, a config with the same backbone.
        var config = checkpoint?.config ?? MugsConfig()
        if checkpoint == nil {
            config.arch = "custom"
            config.embed_dim = architecture.embedDim; config.depth = architecture.depth
            config.num_heads = architecture.heads; config.patch_size = architecture.patchSize
            config.global_crop_size = reference.imageSize
        }
        do {
            let net = try MugsNetwork(config: config, student: true)
            let params = ParameterBuffer(layout: net.layout)
            net.initialize(params, seed: seed ?? checkpoint?.seed ?? 0)
            return try BackboneEmbedder(parameters: params, architecture: architecture, name: "random init of \(name)")
        } catch let error as EmbedError {
            throw EvalError(.weights, error.description)
        } catch {
            throw EvalError(.configuration, "random init of \(name): \(error)")
        }
    }
}
