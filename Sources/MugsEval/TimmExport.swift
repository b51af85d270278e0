import Foundation
import MugsModel
import SafeTensors

/// `mugs export`: the teacher backbone under plain timm names, so that
/// `timm.create_model('vit_small_patch16_224', num_classes=0)` (or the call `timmCall` gives for other presets and
/// sizes) loads it with `strict=True`.
///
/// The mapping: mugs stores the backbone under the reference's state-dict names, which are timm's
/// (`cls_token`, `pos_embed`, `patch_embed.proj.{weight,bias}`, `blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,
/// mlp.fc2}.{weight,bias}`, `norm.{weight,bias}`), in PyTorch's shapes. Export strips the checkpoint prefix
/// (`teacher.`) and leaves out what timm's `VisionTransformer(num_classes=0)` does not have: the Mugs relation
/// block (`relation_blocks.*`) and the three heads. timm's remaining modules at these settings (`fc_norm`,
/// `head`, `q_norm`/`k_norm`, `ls1`/`ls2`, `norm_pre`) are identities without parameters.
public enum TimmExport {
    /// The timm model name of a preset (`vit_small` → `vit_small_patch16_224`), nil for custom dimensions.
    public static func timmModel(embedDim: Int, depth: Int, heads: Int) -> String? {
        for (name, dims) in BackboneSource.presets where dims == (embedDim, depth, heads) {
            return name + "_patch16_224"
        }
        return nil
    }

    /// The Python call that builds the matching timm model, e.g.
    /// `timm.create_model('vit_tiny_patch16_224', num_classes=0, patch_size=4, img_size=32)`.
    public static func timmCall(_ config: ViTConfig) -> String {
        var args = ["num_classes=0"]
        let model: String
        if let preset = timmModel(embedDim: config.embedDim, depth: config.depth, heads: config.heads) {
            model = preset
        } else {
            model = "vit_small_patch16_224"
            args += ["embed_dim=\(config.embedDim)", "depth=\(config.depth)", "num_heads=\(config.heads)"]
        }
        if config.patchSize != 16 { args.append("patch_size=\(config.patchSize)") }
        if config.imageSize != 224 { args.append("img_size=\(config.imageSize)") }
        return "timm.create_model('\(model)', \(args.joined(separator: ", ")))"
    }

    /// Names and shapes the export holds for a backbone configuration, in timm's `state_dict()` order.
    public static func exportedTensors(_ config: ViTConfig) -> [ParameterSpec] {
        var plain = config
        plain.relationBlocks = 0
        return plain.makeLayout().specs
    }

    /// Writes the backbone of `source` to `path` (atomically). Returns the entries' names and the timm call.
    @discardableResult
    public static func export(_ source: BackboneSource, to path: String) throws(EvalError) -> (names: [String], call: String) {
        let embedder = try source.makeEmbedder()
        let config = embedder.vit.config
        let entries = embedder.params.safeTensorsEntries()
        let expected = exportedTensors(config)
        precondition(entries.map(\.name) == expected.map(\.name), "backbone layout differs from the export mapping")
        let call = timmCall(config)
        var metadata = [
            "format": "pt", "generator": "mugs export",
            "arch": source.name, "embed_dim": "\(config.embedDim)", "depth": "\(config.depth)",
            "num_heads": "\(config.heads)", "patch_size": "\(config.patchSize)", "img_size": "\(config.imageSize)",
            "timm": call, "source": source.weightsPath, "source_prefix": source.prefix,
        ]
        if let info = source.checkpoint {
            metadata["checkpoint_step"] = "\(info.step)"
            metadata["checkpoint_epoch"] = "\(info.epoch)"
        }
        do {
            try SafeTensors.write(path: path, tensors: entries, metadata: metadata)
        } catch {
            throw EvalError(.output, error.description)
        }
        return (entries.map(\.name), call)
    }
}
