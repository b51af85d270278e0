import ArgumentParser
import Foundation
import MugsData
import MugsModel
import SafeTensors

extension Mugs {
    /// `mugs embed`: the [CLS] feature after the final norm (eval mode) of every image of a tensor file, from a
    /// ViT backbone's safetensors weights — the feature the DINO/Mugs kNN evaluation uses.
    struct Embed: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the [CLS] features (after the final norm) of images given as a tensor file.",
            discussion: """
                The weights are a ViT backbone under plain timm names (cls_token, pos_embed, patch_embed.proj.*, \
                blocks.N.*, norm.*), as `mugs export` writes and timm loads; a checkpoint's model.safetensors (or \
                its directory) works too, its backbone found under teacher.backbone. or another known prefix. \
                Images may have any height and width divisible by the patch size: the position embedding is \
                interpolated as the reference does (bicubic, DINO's +0.1 scale factor).

                Example:
                  mugs embed --weights vit_small_mugs.safetensors --arch vit_small \\
                      --tensor-input val_images.safetensors --out val_cls.safetensors
                """)

        @Option(help: ArgumentHelp(
            "Backbone weights (.safetensors with timm names), or a checkpoint directory holding model.safetensors."))
        var weights: String

        @Option(help: ArgumentHelp(
            "Architecture: vit_tiny (192/12/3), vit_small (384/12/6), vit_base (768/12/12) or vit_large (1024/24/16)."))
        var arch: String

        @Option(help: "Patch size the weights were trained with.")
        var patchSize: Int = 16

        @Option(help: ArgumentHelp(
            "Prefix of the backbone's names in --weights (default: found automatically; tried in order: "
                + BackboneWeights.prefixes.map { $0.isEmpty ? "(none)" : $0 }.joined(separator: ", ") + ")."))
        var prefix: String?

        @Option(help: ArgumentHelp(
            "Input .safetensors holding the images as [N, 3, H, W] float32 (F16/BF16 accepted), already normalised."))
        var tensorInput: String?

        @Option(help: ArgumentHelp(
            "Instead of --tensor-input: a dataset spec (ImageFolder root, fashion-mnist:train/test), eval-transformed "
                + "(resize ⌊S/0.875⌋ bicubic, centre crop S, ImageNet normalisation); writes 'labels' too."))
        var data: String?

        @Option(help: "Eval crop size S for --data (default: the architecture's native size).")
        var imageSize: Int?

        @Option(help: "With --data: embed only the first N images.")
        var limit: Int?

        @Option(help: "Name of the images tensor in --tensor-input.")
        var inputKey: String = "images"

        @Option(help: "Output .safetensors: 'cls' [N, C] (written atomically).")
        var out: String

        @Option(help: "Images per forward pass (memory grows with it).")
        var batch: Int = 16

        @Option(help: "Threads for the GEMM engine and the kernel pool (default: all cores of this process).")
        var threads: Int = ProcessInfo.processInfo.activeProcessorCount

        @Flag(help: "Print only errors.")
        var quiet = false

        func validate() throws {
            guard batch >= 1 else { throw ValidationError("--batch must be ≥ 1, got \(batch)") }
            guard threads >= 1 else { throw ValidationError("--threads must be ≥ 1, got \(threads)") }
            guard patchSize >= 1 else { throw ValidationError("--patch-size must be ≥ 1, got \(patchSize)") }
            guard (tensorInput == nil) != (data == nil) else {
                throw ValidationError("give exactly one of --tensor-input and --data")
            }
            do {
                _ = try ViTConfig.preset(arch, patchSize: patchSize, imageSize: max(224, patchSize))
            } catch {
                throw ValidationError("--arch: \(error)")
            }
        }

        func run() throws {
            BLAS.setThreads(threads)
            let pool = ComputePool(threads: threads)
            let architecture = try ViTConfig.preset(arch, patchSize: patchSize, imageSize: max(224, patchSize))
            let weightsFile = Self.weightsPath(weights)
            do {
                let started = Date()
                let embedder = try BackboneEmbedder(weights: try SafeTensors.read(path: weightsFile),
                                                    architecture: architecture, name: arch, prefix: prefix)
                if let data {
                    try embedData(data, embedder: embedder, weightsFile: weightsFile, pool: pool, started: started)
                    return
                }
                let tensorInput = tensorInput ?? ""
                let input = try SafeTensors.read(path: tensorInput)
                let features = try embedder.embed(input: input, name: inputKey, batch: batch, pool: pool)
                let shape = input.shape(of: inputKey) ?? []
                let size = shape.count == 4 ? "\(shape[2])x\(shape[3])" : "?"
                try SafeTensors.write(path: out, tensors: [SafeTensorsEntry("cls", features)], metadata: [
                    "generator": "mugs embed",
                    "feature": "[CLS] token after the final norm, eval mode (no drop path)",
                    "arch": arch, "patch_size": "\(patchSize)", "native_image_size": "\(embedder.imageSize)",
                    "image_size": size, "weights": weightsFile, "weights_prefix": embedder.prefix,
                    "input": tensorInput, "input_key": inputKey,
                ])
                let seconds = Date().timeIntervalSince(started)
                if !quiet {
                    let N = features.shape[0]
                    print("mugs embed: \(N) images of \(size) px with \(arch)/\(patchSize) (native "
                          + "\(embedder.imageSize) px, weights prefix '\(embedder.prefix)') → cls \(features.shape) "
                          + "in \(out), \(String(format: "%.2f", seconds)) s "
                          + "(\(String(format: "%.1f", Double(N) / seconds)) img/s, \(threads) threads)")
                }
            } catch let error as EmbedError {
                throw CLIError("mugs embed: \(error.description)")
            } catch let error as SafeTensorsError {
                throw CLIError("mugs embed: \(error.description)")
            }
        }

        /// `--data`: eval-transformed batches from MugsData, CLS features and labels.
        private func embedData(_ spec: String, embedder: BackboneEmbedder, weightsFile: String, pool: ComputePool,
                               started: Date) throws {
            let size = imageSize ?? embedder.imageSize
            var features: [Float] = [], labels: [Float] = []
            let skipped: [(String, String)]
            do {
                let dataset = try DatasetSpec.open(spec)
                skipped = try EvalBatches.forEach(dataset: dataset, size: size, batchSize: batch, threads: threads,
                                                  limit: limit) { images, batchLabels, _ in
                    features += try images.data.withUnsafeBufferPointer {
                        try embedder.embed(images: $0.baseAddress!, N: images.shape[0], H: size, W: size, batch: batch,
                                           pool: pool)
                    }
                    labels += batchLabels.map(Float.init)
                }
            } catch let error as DataError {
                throw CLIError("mugs embed: \(error)")
            }
            for (name, reason) in skipped { print("skipped unreadable \(name): \(reason)") }
            let N = labels.count
            try SafeTensors.write(path: out, tensors: [
                SafeTensorsEntry("cls", HostTensor(shape: [N, embedder.embedDim], data: features)),
                SafeTensorsEntry("labels", HostTensor(shape: [N], data: labels)),
            ], metadata: [
                "generator": "mugs embed",
                "feature": "[CLS] token after the final norm, eval mode (no drop path)",
                "arch": arch, "patch_size": "\(patchSize)", "native_image_size": "\(embedder.imageSize)",
                "image_size": "\(size)x\(size)", "weights": weightsFile, "weights_prefix": embedder.prefix,
                "input": spec, "transform": "resize \(Int(Double(size) / 0.875)) bicubic, centre crop \(size), ImageNet mean/std",
            ])
            let seconds = Date().timeIntervalSince(started)
            if !quiet {
                print("mugs embed: \(N) images of \(spec) at \(size) px with \(arch)/\(patchSize) → cls [\(N), "
                      + "\(embedder.embedDim)] + labels in \(out), \(String(format: "%.2f", seconds)) s "
                      + "(\(String(format: "%.1f", Double(N) / seconds)) img/s, \(threads) threads)")
            }
        }

        /// A checkpoint directory means its model.safetensors.
        static func weightsPath(_ path: String) -> String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                return (path as NSString).appendingPathComponent("model.safetensors")
            }
            return path
        }
    }
}
