/// The reference's optimizer parameter groups (sail-sg/mugs `src/optimizer.py`, `get_params_groups`) for a
/// network's flat layout, plus which tensors train at all and which the freeze rule touches.
///
/// For every tensor with `requires_grad` (in the layout and not in `frozenNames`):
///
///     name ends with ".bias" or the tensor is 1-D   → no weight decay        ("no_wd", "patch_embed_no_wd")
///     otherwise                                     → decayed by wd_schedule ("normal_params", "patch_embed")
///     "patch_embed" in the name                     → lr × patch_embed_lr_mult (main.py tests the group name)
///
/// So the patch embedding's weight IS weight-decayed (at the reduced lr) and its bias is not. `cls_token`
/// [1,1,C] and `pos_embed` [1,N,C] are not 1-D and are decayed, as in the reference. `weight_g` of the group
/// head's weight-normalised last layer has shape [P, 1] (torch's `weight_norm(dim=0)`): frozen when
/// `norm_last_layer` (requires_grad False), otherwise decayed like any 2-D weight.
public struct ParameterGroups: Sendable {
    /// A tensor's optimizer treatment.
    public struct Rule: Sendable, Equatable {
        /// False for tensors the reference builds with `requires_grad = False`: no gradient, no update.
        public var trainable: Bool
        public var weightDecay: Bool
        public var patchEmbed: Bool
        /// "last_layer" in the name: its gradient is dropped during the first `freeze_last_layer` epochs.
        public var lastLayer: Bool
    }

    public let layout: ParameterLayout
    /// One rule per tensor, in layout order.
    public let rules: [Rule]

    /// Groups for `layout`; `frozenNames` are tensors that never train (e.g. `group_head.last_layer.weight_g`
    /// when `norm_last_layer`).
    public init(layout: ParameterLayout, frozenNames: Set<String> = []) {
        self.layout = layout
        rules = layout.specs.map { spec in
            Rule(trainable: !frozenNames.contains(spec.name),
                 weightDecay: !(spec.name.hasSuffix(".bias") || spec.shape.count == 1),
                 patchEmbed: spec.name.contains("patch_embed"),
                 lastLayer: spec.name.contains("last_layer"))
        }
    }

    /// The reference's group name of tensor `index` (for docs and tests).
    public func groupName(_ index: Int) -> String? {
        let r = rules[index]
        guard r.trainable else { return nil }
        switch (r.patchEmbed, r.weightDecay) {
        case (false, true): return "normal_params"
        case (true, true): return "patch_embed"
        case (false, false): return "no_wd"
        case (true, false): return "patch_embed_no_wd"
        }
    }

    /// Whether tensor `index` has a gradient in `epoch` (trainable, and not a last-layer tensor during the
    /// freeze): the reference's `cancel_gradients_last_layer` sets those gradients to None, so AdamW skips
    /// them entirely (no moment update, no weight decay, no step count).
    public func hasGradient(_ index: Int, epoch: Int, freezeLastLayerEpochs: Int) -> Bool {
        let r = rules[index]
        return r.trainable && !(r.lastLayer && epoch < freezeLastLayerEpochs)
    }
}
