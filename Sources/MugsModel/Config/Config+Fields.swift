/// The table of config fields: YAML name, how to read and check it, its help text (the reference's argparse
/// help, condensed) and where the reference defines it. The parser, the renderer, `mugs config show` and
/// docs/CONFIG.md are all driven by this one table, so they cannot disagree.
public struct ConfigField: @unchecked Sendable {
    /// How a field's value is typed, read and range-checked.
    public enum Kind {
        case int(WritableKeyPath<MugsConfig, Int>, ClosedRange<Int>)
        /// A float in `range`; `openLow` excludes the lower bound (e.g. temperatures > 0).
        case double(WritableKeyPath<MugsConfig, Double>, ClosedRange<Double>, openLow: Bool)
        case bool(WritableKeyPath<MugsConfig, Bool>)
        case choice(WritableKeyPath<MugsConfig, String>, [String])
        case string(WritableKeyPath<MugsConfig, String>)
        /// A flow list of exactly `count` floats, each in `range`.
        case doubles(WritableKeyPath<MugsConfig, [Double]>, count: Int, ClosedRange<Double>)
    }

    public let name: String
    public let section: String
    public let kind: Kind
    /// One line of help, the reference's help text where it has one.
    public let help: String
    /// The reference's command-line argument (`--arch`), or where it hard-codes the value.
    public let reference: String
}

extension ConfigField {
    /// The allowed values in words, for error messages and docs.
    public var allowed: String {
        switch kind {
        case let .int(_, r): return r.upperBound == Int.max ? "an integer ≥ \(r.lowerBound)" : "an integer in \(r.lowerBound)...\(r.upperBound)"
        case let .double(_, r, openLow):
            let lo = openLow ? "(\(fmt(r.lowerBound))" : "[\(fmt(r.lowerBound))"
            return "a number in \(lo), \(fmt(r.upperBound))]"
        case .bool: return "true or false"
        case let .choice(_, c): return "one of " + c.joined(separator: ", ")
        case .string: return "a string"
        case let .doubles(_, n, r): return "a list of \(n) numbers in [\(fmt(r.lowerBound)), \(fmt(r.upperBound))]"
        }
    }

    private func fmt(_ x: Double) -> String { x == .greatestFiniteMagnitude ? "∞" : ConfigYAML.format(x) }

    /// The field's value in `config`, rendered as YAML.
    public func render(_ config: MugsConfig) -> String {
        switch kind {
        case let .int(k, _): return String(config[keyPath: k])
        case let .double(k, _, _): return ConfigYAML.format(config[keyPath: k])
        case let .bool(k): return config[keyPath: k] ? "true" : "false"
        case let .choice(k, _), let .string(k): return ConfigYAML.quoteIfNeeded(config[keyPath: k])
        case let .doubles(k, _, _): return "[" + config[keyPath: k].map(ConfigYAML.format).joined(separator: ", ") + "]"
        }
    }
}

extension MugsConfig {
    private static let big = Double.greatestFiniteMagnitude

    /// Every field, in the order `mugs config show` prints them.
    public static let fields: [ConfigField] = {
        func f(_ name: String, _ section: String, _ kind: ConfigField.Kind, _ help: String, _ ref: String? = nil)
            -> ConfigField {
            ConfigField(name: name, section: section, kind: kind, help: help, reference: ref ?? "--\(name)")
        }
        let m = "model", o = "optimisation", s = "multi-granular supervision", a = "augmentation", x = "misc"
        let vtHard = "hard-coded in src/vision_transformer.py"
        return [
            f("arch", m, .choice(\.arch, ["vit_tiny", "vit_small", "vit_base", "vit_large", "custom"]),
              "Name of architecture to train (custom: set embed_dim, depth and num_heads)."),
            f("patch_size", m, .int(\.patch_size, 1 ... 64),
              "Size in pixels of input square patches (16 for 16x16 patches)."),
            f("embed_dim", m, .int(\.embed_dim, 0 ... 8192),
              "Token width; 0 = the architecture's (192/384/768/1024).", vtHard),
            f("depth", m, .int(\.depth, 0 ... 128), "Transformer blocks; 0 = the architecture's.", vtHard),
            f("num_heads", m, .int(\.num_heads, 0 ... 128), "Attention heads; 0 = the architecture's.", vtHard),
            f("drop_path_rate", m, .double(\.drop_path_rate, 0 ... 0.99, openLow: false),
              "Stochastic depth rate (student only; linear over blocks)."),
            f("global_crop_size", m, .int(\.global_crop_size, 8 ... 4096),
              "Side of the global crops in pixels.", "hard-coded 224 in src/multicropdataset.py"),
            f("local_crop_size", m, .int(\.local_crop_size, 8 ... 4096),
              "Side of the local crops in pixels.", "--size_crops (first entry; the reference asserts 96)"),

            f("momentum_teacher", o, .double(\.momentum_teacher, 0 ... 1, openLow: false),
              "Base EMA parameter for the teacher update, increased to 1 with a cosine schedule."),
            f("weight_decay", o, .double(\.weight_decay, 0 ... 10, openLow: false),
              "Initial value of the weight decay."),
            f("weight_decay_end", o, .double(\.weight_decay_end, 0 ... 10, openLow: false),
              "Final value of the weight decay (cosine schedule)."),
            f("clip_grad", o, .double(\.clip_grad, 0 ... big, openLow: false),
              "Maximal per-parameter gradient norm; 0 disables clipping."),
            f("batch_size", o, .int(\.batch_size, 1 ... 1 << 24),
              "Global batch size B: distinct images per step over all workers.",
              "--batch_size_per_gpu × world size"),
            f("epochs", o, .int(\.epochs, 1 ... 1_000_000), "Number of epochs of training."),
            f("warmup_epochs", o, .int(\.warmup_epochs, 0 ... 1_000_000),
              "Number of epochs for the linear learning-rate warm-up."),
            f("freeze_last_layer", o, .int(\.freeze_last_layer, 0 ... 1_000_000),
              "Epochs during which the group head's last layer is kept fixed."),
            f("lr", o, .double(\.lr, 0 ... 10, openLow: false),
              "Learning rate at the end of the warm-up for a batch of 256 (scaled by batch_size/256)."),
            f("patch_embed_lr_mult", o, .double(\.patch_embed_lr_mult, 0 ... 10, openLow: false),
              "The patch embedding's learning rate is lr × patch_embed_lr_mult."),
            f("min_lr", o, .double(\.min_lr, 0 ... 10, openLow: false),
              "Target learning rate at the end of training (cosine schedule)."),
            f("optimizer", o, .choice(\.optimizer, ["adamw"]),
              "Type of optimizer (the reference also offers sgd and lars; mugs implements adamw)."),
            f("precision", o, .choice(\.precision, Precision.allCases.map(\.rawValue)),
              "Matrix products of the network's layers in fp32, or bf16 inputs with fp32 accumulation (needs "
                + "AVX512_BF16; the update path stays fp32).",
              "--use_fp16 (the reference's GPU mixed precision is fp16 with a loss scaler)"),

            f("loss_weights", s, .doubles(\.loss_weights, count: 3, 0 ... 1000),
              "Weights of the instance, local-group and group losses (applied; see docs/CONFIG.md)."),
            f("use_bn_in_head", s, .bool(\.use_bn_in_head),
              "Batch norm in the projection heads (mugs supports false only)."),
            f("norm_before_pred", s, .bool(\.norm_before_pred),
              "L2-normalise the projection before the student's prediction head."),
            f("head_hidden_dim", s, .int(\.head_hidden_dim, 1 ... 65536),
              "Hidden width of the three heads' MLPs.", "hard-coded 2048 in src/model.py"),
            f("pred_hidden_dim", s, .int(\.pred_hidden_dim, 1 ... 65536),
              "Hidden width of the student's prediction heads.", "hard-coded 4096 in src/model.py"),
            f("instance_out_dim", s, .int(\.instance_out_dim, 1 ... 65536),
              "Output dimension of the instance projection and prediction heads."),
            f("instance_queue_size", s, .int(\.instance_queue_size, 1 ... 1 << 24),
              "Size of the queue of negative keys for the instance loss."),
            f("instance_temp", s, .double(\.instance_temp, 0 ... 100, openLow: true),
              "Temperature of the instance InfoNCE loss."),
            f("local_group_out_dim", s, .int(\.local_group_out_dim, 1 ... 65536),
              "Output dimension of the local-group projection and prediction heads."),
            f("local_group_knn_top_n", s, .int(\.local_group_knn_top_n, 1 ... 1024),
              "How many neighbours are aggregated into a local group."),
            f("local_group_queue_size", s, .int(\.local_group_queue_size, 1 ... 1 << 24),
              "Size of the queue of negative keys for the local-group loss."),
            f("local_group_memory_size", s, .int(\.local_group_memory_size, 1 ... 1 << 24),
              "Size of the student and teacher neighbour memories.",
              "--local_group_queue_size (the reference uses one size for both)"),
            f("local_group_temp", s, .double(\.local_group_temp, 0 ... 100, openLow: true),
              "Temperature of the local-group InfoNCE loss."),
            f("group_out_dim", s, .int(\.group_out_dim, 1 ... 1 << 20),
              "Number of prototypes P of the group head."),
            f("group_bottleneck_dim", s, .int(\.group_bottleneck_dim, 1 ... 65536),
              "Bottleneck dimension of the group head."),
            f("norm_last_layer", s, .bool(\.norm_last_layer),
              "Weight-normalise the group head's last layer with g fixed at 1."),
            f("group_student_temp", s, .double(\.group_student_temp, 0 ... 100, openLow: true),
              "Temperature of the student output in the clustering loss."),
            f("group_warmup_teacher_temp", s, .double(\.group_warmup_teacher_temp, 0 ... 100, openLow: true),
              "Initial teacher temperature of the clustering loss."),
            f("group_teacher_temp", s, .double(\.group_teacher_temp, 0 ... 100, openLow: true),
              "Final teacher temperature (after the linear warm-up)."),
            f("group_warmup_teacher_temp_epochs", s, .int(\.group_warmup_teacher_temp_epochs, 0 ... 1_000_000),
              "Number of warm-up epochs for the teacher temperature."),
            f("center_momentum", s, .double(\.center_momentum, 0 ... 1, openLow: false),
              "EMA momentum of the clustering loss's centre.", "hard-coded 0.9 in src/loss.py"),

            f("global_crops_scale", a, .doubles(\.global_crops_scale, count: 2, 0 ... 1),
              "Scale range of the global crops relative to the image."),
            f("local_crops_number", a, .int(\.local_crops_number, 1 ... 64),
              "Number of local crops per image (the reference's losses need at least one)."),
            f("local_crops_scale", a, .doubles(\.local_crops_scale, count: 2, 0 ... 1),
              "Scale range of the local crops relative to the image."),
            f("timm_auto_augment_par", a, .string(\.timm_auto_augment_par),
              "RandAugment policy of the strong augmentation (timm syntax)."),
            f("color_aug", a, .bool(\.color_aug), "Colour augmentation after RandAugment."),
            f("strong_ratio", a, .double(\.strong_ratio, 0 ... 1, openLow: false),
              "The ratio of image augmentation for the RandAugment used in DeiT."),
            f("re_prob", a, .double(\.re_prob, 0 ... 1, openLow: false),
              "Random-erasing probability of the strong augmentation."),
            f("vanilla_weak_augmentation", a, .bool(\.vanilla_weak_augmentation),
              "Use DINO's weak augmentation only."),
            f("prob", a, .double(\.prob, 0 ... 1, openLow: false),
              "Probability that a student crop is weakly augmented (strong with 1 − prob; the reference's help text says the opposite, its code does this)."),
            f("color_jitter_prob", a, .double(\.color_jitter_prob, 0 ... 1, openLow: false),
              "Probability of the weak augmentation's colour jitter (brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1).",
              "hard-coded 0.8 in src/multicropdataset.py"),
            f("blur_radius", a, .doubles(\.blur_radius, count: 2, 0 ... 1000),
              "Range of the weak augmentation's Gaussian-blur radius σ in pixels of the crop (PIL GaussianBlur).",
              "hard-coded [0.1, 2.0] in src/multicropdataset.py"),
            f("blur_prob", a, .doubles(\.blur_prob, count: 3, 0 ... 1),
              "Blur probability of the first and second weak global crop and of a weak local crop.",
              "hard-coded [1.0, 0.1, 0.5] in src/multicropdataset.py"),
            f("solarize_prob", a, .double(\.solarize_prob, 0 ... 1, openLow: false),
              "Solarization probability of the second weak global crop.", "hard-coded 0.2 in src/multicropdataset.py"),

            f("seed", x, .int(\.seed, 0 ... Int.max), "Random seed."),
            f("saveckp_freq", x, .int(\.saveckp_freq, 0 ... 1_000_000), "Save a checkpoint every x epochs."),
        ]
    }()

    /// The field named `name`, if any.
    public static func field(named name: String) -> ConfigField? { fields.first { $0.name == name } }
}
