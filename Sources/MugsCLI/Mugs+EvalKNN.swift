import ArgumentParser
import Foundation
import MugsData
import MugsEval
import MugsModel

extension Mugs {
    /// `mugs eval knn`: DINO/Mugs weighted kNN accuracy of a backbone's features.
    struct EvalKNN: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "knn",
            abstract: "Weighted kNN accuracy (DINO/Mugs protocol) of a backbone's [CLS] features.",
            discussion: """
                Features: the teacher backbone's [CLS] token after the final norm, eval transform (resize to \
                size/0.875, centre crop, ImageNet normalisation), L2-normalised. Each val image's k most similar \
                train images (cosine) vote with weight exp(sim/T); top-1 and top-5 of the summed votes. Features \
                are cached (see --cache-dir). Baselines: --random-init (the same network at its training \
                initialisation) and --raw-pixels (no network).

                Examples:
                  mugs eval knn --checkpoint ckpt/ --train fashion-mnist:train --val fashion-mnist:test
                  mugs eval knn --raw-pixels --train fashion-mnist:train --val fashion-mnist:test --k 20
                  mugs eval knn --checkpoint vit_small_mugs.safetensors --train /data/in1k/train \\
                      --val /data/in1k/val --features-only --out features/
                """)

        @OptionGroup var backbone: BackboneOptions

        @Option(help: "Train set (reference images): fashion-mnist:train, or an ImageFolder directory.")
        var train: String?

        @Option(help: "Validation set (classified): fashion-mnist:test, or an ImageFolder directory.")
        var val: String?

        @Option(help: "Precomputed train features (.safetensors with 'features' and 'labels') instead of --train.")
        var trainFeatures: String?

        @Option(help: "Precomputed validation features instead of --val.")
        var valFeatures: String?

        @Option(name: .customLong("k"), help: "Numbers of neighbours, comma-separated.")
        var ks: String = "10,20,100,200"

        @Option(help: "Temperature T of the vote weights exp(sim/T).")
        var temperature: Double = 0.07

        @Flag(help: "Evaluate the same architecture at its training initialisation (seeded as the checkpoint).")
        var randomInit = false

        @Flag(help: "Baseline without a network: raw pixel values in [0, 1] as features.")
        var rawPixels = false

        @Option(help: "Use only the first N train images.")
        var limitTrain: Int?

        @Option(help: "Use only the first N validation images.")
        var limitVal: Int?

        @Flag(help: "Only extract features: write train_features.safetensors and val_features.safetensors to --out.")
        var featuresOnly = false

        @Option(help: "Output directory for --features-only.")
        var out: String?

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Flag(help: "Print only the result (no progress).")
        var quiet = false

        func validate() throws {
            try backbone.validateShared()
            _ = try parsedKs()
            guard temperature > 0 else { throw ValidationError("--temperature must be positive, got \(temperature)") }
            guard train != nil || trainFeatures != nil else { throw ValidationError("give --train or --train-features") }
            guard val != nil || valFeatures != nil else { throw ValidationError("give --val or --val-features") }
            if !rawPixels && backbone.checkpoint == nil && (trainFeatures == nil || valFeatures == nil) {
                throw ValidationError("--checkpoint is required (or --raw-pixels, or both --train-features and "
                                      + "--val-features)")
            }
            if rawPixels && randomInit { throw ValidationError("--raw-pixels and --random-init exclude each other") }
            if featuresOnly && out == nil { throw ValidationError("--features-only needs --out DIR") }
            for (name, v) in [("--limit-train", limitTrain), ("--limit-val", limitVal)] {
                if let v, v < 1 { throw ValidationError("\(name) must be ≥ 1, got \(v)") }
            }
        }

        func parsedKs() throws -> [Int] {
            let parts = ks.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = parts.compactMap { Int($0) }
            guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ $0 >= 1 }) else {
                throw ValidationError("--k must be positive integers separated by commas, got '\(ks)'")
            }
            return values
        }

        func run() throws {
            BLAS.setThreads(backbone.threads)
            let pool = ComputePool(threads: backbone.threads)
            do {
                let started = Date()
                let (trainSet, valSet, description) = try features(pool: pool)
                if featuresOnly {
                    try FileManager.default.createDirectory(atPath: out!, withIntermediateDirectories: true)
                    let t = (out! as NSString).appendingPathComponent("train_features.safetensors")
                    let v = (out! as NSString).appendingPathComponent("val_features.safetensors")
                    try trainSet.write(to: t)
                    try valSet.write(to: v)
                    print("mugs eval knn: \(description): wrote \(t) [\(trainSet.count), \(trainSet.dim)] and \(v) "
                          + "[\(valSet.count), \(valSet.dim)]")
                    return
                }
                let ks = try parsedKs()
                let results = try KNNClassifier.evaluate(train: trainSet, test: valSet, ks: ks,
                                                         temperature: temperature, pool: pool)
                let seconds = Date().timeIntervalSince(started)
                if json {
                    let object: [String: Any] = [
                        "features": description, "train_images": trainSet.count, "val_images": valSet.count,
                        "dim": trainSet.dim, "temperature": temperature, "seconds": seconds,
                        "results": results.map { ["k": $0.k, "top1": $0.top1, "top5": $0.top5] },
                    ]
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print("mugs eval knn: \(description)")
                    print("  \(trainSet.count) train → \(valSet.count) val images, \(trainSet.dim)-d features, "
                          + "T = \(temperature), \(String(format: "%.1f", seconds)) s")
                    print("      k    top-1 %    top-5 %")
                    for r in results {
                        print(String(format: "  %5d    %7.2f    %7.2f", r.k, r.top1, r.top5))
                    }
                }
            } catch let error as EvalError {
                throw CLIError("mugs eval knn: \(error.description)")
            }
        }

        /// Train and val features and a description of where they came from.
        func features(pool: ComputePool) throws -> (FeatureSet, FeatureSet, String) {
            let progress = ProgressLine(quiet: quiet || json)
            if rawPixels {
                let tr = try trainFeatures.map(FeatureSet.read)
                    ?? RawPixels.extract(try openDataset(train!, option: "--train"), limit: limitTrain,
                                         threads: backbone.threads)
                let size = Int((Double(tr.dim / 3)).squareRoot().rounded())
                let va = try valFeatures.map(FeatureSet.read)
                    ?? RawPixels.extract(try openDataset(val!, option: "--val"), size: size, limit: limitVal,
                                         threads: backbone.threads)
                return (tr, va, "raw pixels (\(size)×\(size) RGB in [0, 1])")
            }
            var extractor: FeatureExtractor?
            var source: BackboneSource?
            var what = "precomputed features"
            if backbone.checkpoint != nil {
                let s = try backbone.source()
                let embedder = randomInit ? try s.makeRandomEmbedder() : try s.makeEmbedder()
                let e = try FeatureExtractor(embedder: embedder, kind: .cls, imageSize: backbone.imageSize,
                                             batch: backbone.batch, pool: pool)
                let step = s.checkpoint.map { " (step \($0.step))" } ?? ""
                what = (randomInit ? "random-init " : "") + "\(s.name) \(randomInit ? "" : "weights ")"
                    + "\(s.checkpoint?.path ?? s.weightsPath)\(step), [CLS] after the final norm at "
                    + "\(e.imageSize) px"
                extractor = e; source = s
            }
            func get(_ file: String?, _ spec: String?, _ option: String, _ limit: Int?) throws -> FeatureSet {
                if let file { return try FeatureSet.read(file) }
                let dataset = try openDataset(spec!, option: option)
                let report: (Int, Int) -> Void = { progress.update("features of \(dataset.spec)", $0, $1) }
                if backbone.noCache || randomInit {
                    return try extractor!.extract(dataset, limit: limit, threads: backbone.threads, progress: report)
                }
                let cache = FeatureCache(directory: backbone.cacheDir)
                let got = try cache.features(extractor: extractor!, source: source!, dataset: dataset, limit: limit,
                                             threads: backbone.threads, progress: report)
                if got.cached && !quiet && !json {
                    FileHandle.standardError.write(Data("features of \(dataset.spec): from the cache \(got.path)\n".utf8))
                }
                return got.set
            }
            let tr = try get(trainFeatures, train, "--train", limitTrain)
            let va = try get(valFeatures, val, "--val", limitVal)
            return (tr, va, what)
        }
    }
}
