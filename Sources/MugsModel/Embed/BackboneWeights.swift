import SafeTensors

/// The ViT backbone a safetensors file holds, as its tensors tell it: the prefix of its names and the dimensions
/// their shapes give. The one place a backbone is found in a file: `BackboneEmbedder` checks these against an
/// architecture before loading, `BackboneSource` (MugsEval) builds the architecture from them.
///
/// The backbone is under plain timm names (`cls_token`, `pos_embed`, `patch_embed.proj.weight`, `blocks.N.…`,
/// `norm.…`, as `mugs export` writes), optionally under a prefix (`teacher.backbone.` in a checkpoint). The number
/// of heads cannot be read from the weights (qkv is [3C, C] for any head count).
public struct BackboneWeights: Sendable, Equatable {
    /// Prefixes tried in order when none is given: plain names, then checkpoint and wrapper conventions.
    public static let prefixes = ["", "teacher.backbone.", "teacher.", "backbone.", "module.backbone.", "module."]

    /// The prefix the backbone was found under ("" for plain timm names).
    public let prefix: String
    /// C, from `cls_token` [1, 1, C].
    public let embedDim: Int
    /// p, from `patch_embed.proj.weight` [C, Cin, p, p].
    public let patchSize: Int
    /// n of the n×n patch grid of `pos_embed` [1, 1 + n², C].
    public let grid: Int
    /// 1 + the largest N of the `prefix + "blocks.N."` names (0 when there are none).
    public let depth: Int

    /// Native input size of the position embedding, in pixels (n·p).
    public var imageSize: Int { grid * patchSize }

    /// Finds the backbone in `file` — under `prefix`, or under the first of `prefixes` that has a `cls_token` — and
    /// reads its dimensions. `cls_token`, `patch_embed.proj.weight` (with `inChannels` input channels) and
    /// `pos_embed` must have consistent shapes; each problem is an error naming the file, the tensor and its shape.
    public init(_ file: SafeTensorsFile, prefix: String? = nil, inChannels: Int = 3) throws(EmbedError) {
        let path = file.path
        let prefix = try Self.resolvePrefix(file, given: prefix)
        func shape(_ key: String) throws(EmbedError) -> [Int] {
            guard let s = file.shape(of: prefix + key) else {
                throw EmbedError(.weights, "\(path): no tensor '\(prefix + key)' (the backbone's \(key))")
            }
            return s
        }
        let cls = try shape("cls_token")
        guard cls.count == 3, cls[0] == 1, cls[1] == 1 else {
            throw EmbedError(.weights, "\(path): '\(prefix)cls_token' has shape \(cls), expected [1, 1, C]")
        }
        let C = cls[2]
        let patch = try shape("patch_embed.proj.weight")
        guard patch.count == 4, patch[0] == C, patch[1] == inChannels, patch[2] == patch[3] else {
            throw EmbedError(.weights, "\(path): '\(prefix)patch_embed.proj.weight' has shape \(patch), expected "
                             + "[\(C), \(inChannels), p, p]")
        }
        let pos = try shape("pos_embed")
        let n = pos.count == 3 ? Int(Double(max(pos[1] - 1, 0)).squareRoot().rounded()) : 0
        guard pos.count == 3, pos[0] == 1, pos[2] == C, n > 0, n * n == pos[1] - 1 else {
            throw EmbedError(.weights, "\(path): '\(prefix)pos_embed' has shape \(pos), expected [1, 1 + n², \(C)] "
                             + "for an n×n patch grid")
        }
        self.prefix = prefix
        self.embedDim = C
        self.patchSize = patch[2]
        self.grid = n
        self.depth = Self.blockCount(file, prefix: prefix)
    }

    private static func resolvePrefix(_ file: SafeTensorsFile, given: String?) throws(EmbedError) -> String {
        if let given {
            guard file.contains(given + "cls_token") else {
                throw EmbedError(.weights, "\(file.path): no backbone under prefix '\(given)' (no tensor "
                                 + "'\(given)cls_token')")
            }
            return given
        }
        if let found = prefixes.first(where: { file.contains($0 + "cls_token") }) { return found }
        let tried = prefixes.map { "'\($0)cls_token'" }.joined(separator: ", ")
        let sample = file.names.prefix(5).joined(separator: ", ")
        throw EmbedError(.weights, "\(file.path): no ViT backbone found: none of \(tried) is in the file (it has "
                         + "\(file.tensors.count) tensors\(sample.isEmpty ? "" : ", e.g. \(sample)"))")
    }

    /// 1 + the largest N of `prefix + "blocks.N."` names (0 when there are none).
    private static func blockCount(_ file: SafeTensorsFile, prefix: String) -> Int {
        let head = prefix + "blocks."
        var count = 0
        for name in file.names where name.hasPrefix(head) {
            let rest = name.dropFirst(head.count)
            if let dot = rest.firstIndex(of: "."), let l = Int(rest[..<dot]), l >= 0 { count = max(count, l + 1) }
        }
        return count
    }
}
