import Foundation
import Testing
@testable import MugsModel

@Suite struct ConfigTests {
    @Test func defaultsAreTheReferenceDefaults() throws {
        let c = MugsConfig()
        #expect(c.arch == "vit_small" && c.patch_size == 16 && c.embedDim == 384 && c.blockCount == 12)
        #expect(c.momentum_teacher == 0.996 && c.weight_decay == 0.04 && c.weight_decay_end == 0.2)
        #expect(c.clip_grad == 3.0 && c.lr == 0.0008 && c.min_lr == 1e-6 && c.patch_embed_lr_mult == 0.2)
        #expect(c.instance_queue_size == 65536 && c.group_out_dim == 65536 && c.local_group_knn_top_n == 8)
        #expect(c.global_crops_scale == [0.25, 1.0] && c.local_crops_scale == [0.05, 0.25])
        try c.validate()
    }

    @Test func everyPresetRoundTripsThroughYAML() throws {
        for name in MugsConfig.presetNames {
            let preset = try #require(MugsConfig.preset(named: name))
            try preset.validate()
            let text = ConfigYAML.render(preset, title: name)
            #expect(try ConfigYAML.parse(text, source: name) == preset, "\(name) does not round-trip")
            // One line per field, each with a comment.
            let fieldLines = text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }
            #expect(fieldLines.count == MugsConfig.fields.count)
            #expect(fieldLines.allSatisfy { $0.contains("  # ") })
        }
    }

    @Test func cpuPresetHasTheBenchmarkedShapes() throws {
        let c = try #require(MugsConfig.preset(named: "cpu_fashion_mnist"))
        #expect(c.embedDim == 192 && c.blockCount == 12 && c.headCount == 3 && c.patch_size == 4)
        #expect(c.global_crop_size == 32 && c.local_crop_size == 16 && c.local_crops_number == 6)
        #expect(c.head_hidden_dim == 512 && c.pred_hidden_dim == 1024 && c.instance_out_dim == 128)
        #expect(c.group_out_dim == 4096 && c.instance_queue_size == 4096 && c.local_group_queue_size == 4096)
    }

    @Test func committedConfigFilesMatchThePresets() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        for name in ["vit_small_imagenet", "cpu_fashion_mnist"] {
            let path = root.appendingPathComponent("configs/\(name).yaml").path
            #expect(try ConfigYAML.load(path: path) == MugsConfig.preset(named: name), "\(path)")
        }
    }

    /// The recipes under deploy/ (quickstart.yaml and the trials' configs) are what users run: each must load and
    /// pass the cross-field checks, and a fashion-mnist-NNep.yaml must train NN epochs.
    @Test func committedDeployConfigsLoadAndValidate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = root.appendingPathComponent("deploy")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
        #expect(names.contains("quickstart.yaml") && names.contains("fashion-mnist-2h.yaml"), "\(names)")
        for name in names.sorted() {
            let path = dir.appendingPathComponent(name).path
            let c = try ConfigYAML.load(path: path)
            try c.validate(source: path)
            if let m = name.firstMatch(of: #/^fashion-mnist-(\d+)ep\.yaml$/#) {
                #expect(c.epochs == Int(m.1)!, "\(path): epochs \(c.epochs)")
            }
        }
        let twoHours = try ConfigYAML.load(path: dir.appendingPathComponent("fashion-mnist-2h.yaml").path)
        #expect(twoHours.epochs == 50 && twoHours.patch_size == 7 && twoHours.precision == "bf16")
    }

    @Test func partialFilesCommentsQuotesAndPresetBase() throws {
        let text = """
        ---
        # a comment line
        preset: cpu_fashion_mnist   # start from the CPU preset
        lr: 5e-4  # peak lr
        timm_auto_augment_par: "rand-m9 # not a comment"
        loss_weights: [1, 0.5, 2.0]
        norm_last_layer: false

        """
        let c = try ConfigYAML.parse(text)
        #expect(c.lr == 5e-4 && c.patch_size == 4 && !c.norm_last_layer)
        #expect(c.timm_auto_augment_par == "rand-m9 # not a comment")
        #expect(c.loss_weights == [1, 0.5, 2])
    }

    /// Every kind of bad input gives an error naming the line and the field.
    @Test func badInputNamesLineAndField() {
        func error(_ text: String) -> ConfigError? {
            do { _ = try ConfigYAML.parse(text, source: "t.yaml"); return nil } catch let e as ConfigError {
                return e
            } catch { return nil }
        }
        let unknown = error("lr: 0.001\nmomentum_teacer: 0.99\n")
        #expect(unknown?.line == 2 && unknown?.field == "momentum_teacer")
        #expect(unknown?.description.contains("did you mean 'momentum_teacher'") == true, "\(String(describing: unknown))")
        let range = error("drop_path_rate: 1.5")
        #expect(range?.field == "drop_path_rate" && range?.line == 1)
        #expect(range?.description.contains("allowed: a number in [0.0, 0.99]") == true, "\(String(describing: range))")
        #expect(error("patch_size: 16.5")?.field == "patch_size")
        #expect(error("patch_size: sixteen")?.field == "patch_size")
        #expect(error("instance_temp: 0")?.field == "instance_temp")
        #expect(error("norm_last_layer: yes")?.field == "norm_last_layer")
        #expect(error("arch: vit_huge")?.description.contains("one of vit_tiny, vit_small") == true)
        #expect(error("loss_weights: [1, 1]")?.field == "loss_weights")
        #expect(error("loss_weights: [1, x, 1]")?.field == "loss_weights")
        #expect(error("lr: nan")?.field == "lr")
        #expect(error("lr: 0x1p-3")?.field == "lr")
        #expect(error("lr: 0.1\nlr: 0.2")?.reason == .duplicateField(firstLine: 1))
        #expect(error("  lr: 0.1")?.line == 1)
        #expect(error("just words")?.line == 1)
        #expect(error("lr: 0.1\npreset: cpu_fashion_mnist")?.field == "preset")
        #expect(error("preset: nope")?.reason == .unknownPreset(known: MugsConfig.presetNames))
        #expect(error("timm_auto_augment_par: \"open")?.line == 1)
        // Cross-field checks name the field.
        #expect(error("batch_size: 128\ninstance_queue_size: 64")?.field == "instance_queue_size")
        #expect(error("global_crop_size: 100")?.field == "global_crop_size")
        #expect(error("warmup_epochs: 200")?.field == "warmup_epochs")
        #expect(error("embed_dim: 100")?.field == "num_heads")
        #expect(error("use_bn_in_head: true")?.field == "use_bn_in_head")
        #expect(error("arch: custom\nembed_dim: 32")?.field == "arch")
        #expect((try? ConfigYAML.parse("arch: custom\nembed_dim: 32\ndepth: 2\nnum_heads: 2\n"))?.blockCount == 2)
        #expect(error("loss_weights: [0, 0, 0]")?.field == "loss_weights")
    }

    @Test func missingFileIsAnError() {
        #expect(throws: ConfigError.self) { try ConfigYAML.load(path: "/nonexistent/mugs.yaml") }
    }
}
