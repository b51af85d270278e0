extension MugsConfig {
    /// Names accepted by `preset(named:)` and `mugs config show --preset`.
    public static let presetNames = ["reference_defaults", "vit_small_imagenet", "cpu_fashion_mnist"]

    /// A named preset: the reference defaults, the paper's ViT-S/16 ImageNet run, or the small CPU run.
    public static func preset(named name: String) -> MugsConfig? {
        switch name {
        case "reference_defaults": return MugsConfig()
        case "vit_small_imagenet": return vitSmallImageNet
        case "cpu_fashion_mnist": return cpuFashionMNIST
        default: return nil
        }
    }

    /// The paper's ViT-S/16 100-epoch ImageNet setting (sail-sg/mugs `pretraining.sh`, first run: 8 GPUs ×
    /// 64 images, `norm_last_layer false`, `weight_decay_end 0.2`, teacher temperature 0.04 without warm-up).
    public static var vitSmallImageNet: MugsConfig {
        var c = MugsConfig()
        c.arch = "vit_small"
        c.patch_size = 16
        c.batch_size = 512
        c.epochs = 100
        c.norm_last_layer = false
        return c
    }

    /// The configuration benchmarked on CPUs (`../shared/bench/torch_mugs_step.py --config cpu`): ViT-Tiny
    /// dims (192/12/3) with patch 4 on 32 px global / 16 px local crops, 6 local crops, heads hidden 512,
    /// predictor hidden 1024, out 128, 4096 prototypes, queues and memories 4096, batch 64.
    public static var cpuFashionMNIST: MugsConfig {
        var c = MugsConfig()
        c.arch = "vit_tiny"
        c.patch_size = 4
        c.global_crop_size = 32
        c.local_crop_size = 16
        c.local_crops_number = 6
        c.head_hidden_dim = 512
        c.pred_hidden_dim = 1024
        c.instance_out_dim = 128
        c.local_group_out_dim = 128
        c.group_bottleneck_dim = 128
        c.group_out_dim = 4096
        c.instance_queue_size = 4096
        c.local_group_queue_size = 4096
        c.local_group_memory_size = 4096
        c.batch_size = 64
        c.epochs = 100
        c.warmup_epochs = 10
        return c
    }

    /// Cross-field checks (single fields are range-checked while parsing).
    public func validate(source: String = "<config>") throws {
        func fail(_ field: String, _ what: String) -> ConfigError {
            ConfigError(.inconsistent(what), source: source, field: field)
        }
        var copy = self
        for field in MugsConfig.fields {
            // Values set in code (not parsed) get the same range checks as parsed ones.
            try ConfigYAML.assign(field.render(self), to: field, in: &copy, source: source, line: 0)
        }
        let C = embedDim, H = headCount
        if C == 0 || blockCount == 0 || H == 0 {
            throw fail("arch", arch == "custom" ? "custom needs embed_dim, depth and num_heads set (> 0)"
                : "unknown architecture '\(arch)'")
        }
        if C % H != 0 { throw fail("num_heads", "embed_dim \(C) is not divisible by num_heads \(H)") }
        if global_crop_size % patch_size != 0 {
            throw fail("global_crop_size", "\(global_crop_size) is not a multiple of patch_size \(patch_size)")
        }
        if local_crop_size % patch_size != 0 {
            throw fail("local_crop_size", "\(local_crop_size) is not a multiple of patch_size \(patch_size)")
        }
        if warmup_epochs > epochs { throw fail("warmup_epochs", "\(warmup_epochs) exceeds epochs \(epochs)") }
        if group_warmup_teacher_temp_epochs > epochs {
            throw fail("group_warmup_teacher_temp_epochs", "\(group_warmup_teacher_temp_epochs) exceeds epochs \(epochs)")
        }
        if use_bn_in_head { throw fail("use_bn_in_head", "batch norm in the heads is not implemented; use false") }
        if loss_weights.reduce(0, +) <= 0 { throw fail("loss_weights", "at least one weight must be positive") }
        for (name, size) in [("instance_queue_size", instance_queue_size),
                             ("local_group_queue_size", local_group_queue_size),
                             ("local_group_memory_size", local_group_memory_size)] where size < batch_size {
            throw fail(name, "\(size) is smaller than batch_size \(batch_size): one step's entries must fit")
        }
        if local_group_memory_size < local_group_knn_top_n {
            throw fail("local_group_knn_top_n", "\(local_group_knn_top_n) neighbours from a memory of "
                + "\(local_group_memory_size)")
        }
        for (name, s) in [("global_crops_scale", global_crops_scale), ("local_crops_scale", local_crops_scale)]
            where !(s[0] > 0 && s[0] <= s[1]) {
            throw fail(name, "needs 0 < low ≤ high, got [\(s[0]), \(s[1])]")
        }
        if !(blur_radius[0] <= blur_radius[1]) {
            throw fail("blur_radius", "needs low ≤ high, got [\(blur_radius[0]), \(blur_radius[1])]")
        }
    }
}
