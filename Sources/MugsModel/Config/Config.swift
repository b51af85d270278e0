/// Every setting of a Mugs training run. Field names are the reference implementation's command-line
/// arguments (sail-sg/mugs `main.py`, `get_args_parser`) so its users recognise them; what the reference
/// hard-codes gets a plainly named field (`global_crop_size`, `head_hidden_dim`, `center_momentum`, ...).
/// Defaults are the reference's defaults. The YAML form, the field table with ranges and help texts, and
/// the presets live in `Config+Fields.swift`, `ConfigYAML.swift` and `Config+Presets.swift`;
/// docs/CONFIG.md lists every field.
public struct MugsConfig: Sendable, Equatable {
    // MARK: model
    /// `vit_tiny` (192/12/3), `vit_small` (384/12/6), `vit_base` (768/12/12), `vit_large` (1024/24/16), or
    /// `custom` (dimensions from `embed_dim`, `depth`, `num_heads`, which must then be set).
    public var arch = "vit_small"
    public var patch_size = 16
    /// Overrides of the architecture's dimensions; 0 = take it from `arch`.
    public var embed_dim = 0
    public var depth = 0
    public var num_heads = 0
    public var drop_path_rate = 0.1
    public var global_crop_size = 224
    public var local_crop_size = 96

    // MARK: optimisation
    public var momentum_teacher = 0.996
    public var weight_decay = 0.04
    public var weight_decay_end = 0.2
    public var clip_grad = 3.0
    /// Global batch size B (the reference's `batch_size_per_gpu` × world size).
    public var batch_size = 64
    public var epochs = 100
    public var warmup_epochs = 10
    public var freeze_last_layer = 1
    public var lr = 0.0008
    public var patch_embed_lr_mult = 0.2
    public var min_lr = 1e-6
    public var optimizer = "adamw"
    /// `Precision` of the network's matrix products ("fp32" or "bf16").
    public var precision = "fp32"

    // MARK: multi-granular supervision
    public var loss_weights: [Double] = [1.0, 1.0, 1.0]
    public var use_bn_in_head = false
    public var norm_before_pred = true
    public var head_hidden_dim = 2048
    public var pred_hidden_dim = 4096
    public var instance_out_dim = 256
    public var instance_queue_size = 65536
    public var instance_temp = 0.2
    public var local_group_out_dim = 256
    public var local_group_knn_top_n = 8
    public var local_group_queue_size = 65536
    public var local_group_memory_size = 65536
    public var local_group_temp = 0.2
    public var group_out_dim = 65536
    public var group_bottleneck_dim = 256
    public var norm_last_layer = true
    public var group_student_temp = 0.1
    public var group_warmup_teacher_temp = 0.04
    public var group_teacher_temp = 0.04
    public var group_warmup_teacher_temp_epochs = 0
    public var center_momentum = 0.9

    // MARK: augmentation
    public var global_crops_scale: [Double] = [0.25, 1.0]
    public var local_crops_number = 10
    public var local_crops_scale: [Double] = [0.05, 0.25]
    public var timm_auto_augment_par = "rand-m9-mstd0.5-inc1"
    public var color_aug = false
    public var strong_ratio = 0.45
    public var re_prob = 0.25
    public var vanilla_weak_augmentation = false
    public var prob = 0.5
    public var color_jitter_prob = 0.8
    public var blur_radius: [Double] = [0.1, 2.0]
    public var blur_prob: [Double] = [1.0, 0.1, 0.5]
    public var solarize_prob = 0.2

    // MARK: misc
    public var seed = 0
    public var saveckp_freq = 50

    /// The reference defaults.
    public init() {}

    /// `precision` as a value (the field's check admits only its cases).
    public var precisionMode: Precision { Precision(rawValue: precision) ?? .fp32 }
}

extension MugsConfig {
    /// Backbone dimensions of each architecture (sail-sg/mugs `src/vision_transformer.py`).
    public static let architectures: [String: (embedDim: Int, depth: Int, numHeads: Int)] = [
        "vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16),
    ]

    /// Token width C of the backbone (`embed_dim` if set, else the architecture's).
    public var embedDim: Int { embed_dim > 0 ? embed_dim : (Self.architectures[arch]?.embedDim ?? 0) }
    /// Number of transformer blocks.
    public var blockCount: Int { depth > 0 ? depth : (Self.architectures[arch]?.depth ?? 0) }
    /// Attention heads per block.
    public var headCount: Int { num_heads > 0 ? num_heads : (Self.architectures[arch]?.numHeads ?? 0) }

    /// Student crops per image: 2 global + `local_crops_number` local.
    public var studentCropCount: Int { 2 + local_crops_number }

    /// The per-parameter gradient-norm threshold used in `epoch`: `clip_grad`, except that the reference
    /// (main.py, train_one_epoch) divides it by 10 for `vit_large` after epoch 100. 0 disables clipping.
    public func clipThreshold(epoch: Int) -> Double {
        if epoch > 100 && arch == "vit_large" { return clip_grad / 10.0 }
        return clip_grad
    }
}
