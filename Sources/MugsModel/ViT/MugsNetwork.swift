/// A Mugs student or teacher network: the ViT backbone with one relation block, the instance head, the
/// local-group head and the group head, all in ONE flat `ParameterLayout` (reference: `Mugs_Wrapper` and `get_model`
/// in sail-sg/mugs `src/model.py`).
///
/// Names: the backbone's tensors keep the `VisionTransformer`'s own names (`cls_token`, `blocks.0.attn.qkv.weight`,
/// ..., `norm.weight`, `relation_blocks.0.*` — the reference's wrapper prefixes them with `backbone.`), the heads the
/// wrapper's (`instance_head.projector.0.weight`, `instance_head.predictor.2.weight`, `local_group_head.…`,
/// `group_head.projector.4.bias`, `group_head.last_layer.weight_g`, `group_head.last_layer.weight_v`). Order: the
/// reference's `named_parameters()` order. The student has predictors; the teacher has none (the teacher's layout is
/// the student's without `*.predictor.*`). The backbone's layout is a prefix of the network's (same offsets).
public struct MugsNetwork: Sendable {
    public let config: MugsConfig
    public let isStudent: Bool
    /// The backbone (+ relation block); its layout is the first part of `layout`.
    public let vit: VisionTransformer
    public let layout: ParameterLayout

    /// Head prefixes in the reference's state dict.
    public static let instancePrefix = "instance_head.", localGroupPrefix = "local_group_head.",
                      groupPrefix = "group_head."

    public init(config c: MugsConfig, student: Bool) throws(ViTError) {
        config = c
        isStudent = student
        vit = try VisionTransformer(config: Self.vitConfig(c, student: student))
        var layout = vit.layout
        let C = c.embedDim, H = c.head_hidden_dim, PH = student ? c.pred_hidden_dim : 0
        ContrastHead.addParameters(to: &layout, prefix: Self.instancePrefix, C: C, H: H, D: c.instance_out_dim,
                                   PH: PH)
        ContrastHead.addParameters(to: &layout, prefix: Self.localGroupPrefix, C: C, H: H,
                                   D: c.local_group_out_dim, PH: PH)
        GroupHead.addParameters(to: &layout, prefix: Self.groupPrefix, C: C, H: H, Bn: c.group_bottleneck_dim,
                                P: c.group_out_dim)
        self.layout = layout
    }

    /// The backbone's configuration: the student with stochastic depth `drop_path_rate`, the teacher without
    /// (reference: `get_model`), both with one relation block; the position embedding is defined for the global
    /// crop size.
    public static func vitConfig(_ c: MugsConfig, student: Bool) -> ViTConfig {
        ViTConfig(embedDim: c.embedDim, depth: c.blockCount, heads: c.headCount, patchSize: c.patch_size,
                  imageSize: c.global_crop_size, relationBlocks: 1, dropPathRate: student ? c.drop_path_rate : 0)
    }

    /// Number of floats of the backbone prefix of `layout`.
    public var backboneCount: Int { vit.layout.count }
}
