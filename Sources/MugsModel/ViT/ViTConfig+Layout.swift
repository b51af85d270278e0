extension ViTConfig {
    /// The parameter layout under the reference's state-dict names and order (`model.state_dict()` of
    /// sail-sg/mugs `VisionTransformer`): cls_token, pos_embed, patch_embed.*, blocks.N.*, norm.*,
    /// relation_blocks.N.*; each in PyTorch's layout.
    public func makeLayout() -> ParameterLayout {
        var layout = ParameterLayout()
        let C = embedDim
        layout.add("cls_token", [1, 1, C])
        layout.add("pos_embed", [1, numPatches + 1, C])
        layout.add("patch_embed.proj.weight", [C, inChannels, patchSize, patchSize])
        layout.add("patch_embed.proj.bias", [C])
        for l in 0 ..< depth { addBlock(to: &layout, prefix: "blocks.\(l).") }
        layout.add("norm.weight", [C])
        layout.add("norm.bias", [C])
        for r in 0 ..< relationBlocks { addBlock(to: &layout, prefix: "relation_blocks.\(r).") }
        return layout
    }

    /// Appends one transformer block's tensors under `prefix` (e.g. "blocks.3.").
    public func addBlock(to layout: inout ParameterLayout, prefix: String) {
        let C = embedDim, F = hidden
        layout.add(prefix + "norm1.weight", [C])
        layout.add(prefix + "norm1.bias", [C])
        layout.add(prefix + "attn.qkv.weight", [3 * C, C])
        layout.add(prefix + "attn.qkv.bias", [3 * C])
        layout.add(prefix + "attn.proj.weight", [C, C])
        layout.add(prefix + "attn.proj.bias", [C])
        layout.add(prefix + "norm2.weight", [C])
        layout.add(prefix + "norm2.bias", [C])
        layout.add(prefix + "mlp.fc1.weight", [F, C])
        layout.add(prefix + "mlp.fc1.bias", [F])
        layout.add(prefix + "mlp.fc2.weight", [C, F])
        layout.add(prefix + "mlp.fc2.bias", [C])
    }
}
