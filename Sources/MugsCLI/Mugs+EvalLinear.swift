import ArgumentParser
import Foundation
import MugsData
import MugsEval
import MugsModel

extension Mugs {
    /// `mugs eval linear`: a linear probe on frozen, cached features.
    struct EvalLinear: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "linear",
            abstract: "Linear probe on frozen features (DINO/Mugs eval_linear protocol, features cached).",
            discussion: """
                Features: the [CLS] tokens of the last --n-last-blocks blocks, each through the final norm, \
                concatenated (4 for ViT-S as the reference uses; 1 with --avgpool-patchtokens for ViT-B), extracted \
                once with the eval transform and cached. Classifier: Linear(D, classes), N(0, 0.01²) init, SGD \
                momentum 0.9, no weight decay, lr · batch/256 with a cosine schedule over the epochs. Reports the \
                validation top-1 after every epoch and the best.

                Example:
                  mugs eval linear --checkpoint ckpt/ --train fashion-mnist:train --val fashion-mnist:test --epochs 20
                """)

        @OptionGroup var backbone: BackboneOptions

        @Option(help: "Train set: fashion-mnist:train, or an ImageFolder directory.")
        var train: String

        @Option(help: "Validation set: fashion-mnist:test, or an ImageFolder directory.")
        var val: String

        @Option(help: "Concatenate the [CLS] tokens of the last N blocks (reference: 4 for ViT-S, 1 for ViT-B).")
        var nLastBlocks: Int = 4

        @Flag(help: "Append the mean of the last block's patch tokens (reference: for ViT-B).")
        var avgpoolPatchtokens = false

        @Option(help: "Epochs.")
        var epochs: Int = 100

        @Option(help: "Learning rate for a batch of 256 (scaled by batch/256).")
        var lr: Double = 0.001

        @Option(help: "Final learning rate of the cosine schedule.")
        var lrMin: Double = 0

        @Option(help: "Classifier batch size.")
        var batchSize: Int = 256

        @Option(help: "Seed of the classifier's initialisation and shuffling.")
        var seed: UInt64 = 0

        @Option(help: "Use only the first N train images.")
        var limitTrain: Int?

        @Option(help: "Use only the first N validation images.")
        var limitVal: Int?

        @Flag(help: "Print the result as JSON.")
        var json = false

        @Flag(help: "Print only the result.")
        var quiet = false

        func validate() throws {
            try backbone.validateShared()
            guard backbone.checkpoint != nil else { throw ValidationError("--checkpoint is required") }
            guard nLastBlocks >= 1 else { throw ValidationError("--n-last-blocks must be ≥ 1") }
            guard epochs >= 1, batchSize >= 1, lr > 0, lrMin >= 0 else {
                throw ValidationError("--epochs, --batch-size and --lr must be positive, --lr-min ≥ 0")
            }
        }

        func run() throws {
            BLAS.setThreads(backbone.threads)
            let pool = ComputePool(threads: backbone.threads)
            do {
                let started = Date()
                let source = try backbone.source()
                let extractor = try FeatureExtractor(embedder: try source.makeEmbedder(),
                                                     kind: .lastBlocks(n: nLastBlocks, avgpool: avgpoolPatchtokens),
                                                     imageSize: backbone.imageSize, batch: backbone.batch, pool: pool)
                let progress = ProgressLine(quiet: quiet || json)
                func features(_ spec: String, _ option: String, _ limit: Int?) throws -> FeatureSet {
                    let dataset = try openDataset(spec, option: option)
                    let report: (Int, Int) -> Void = { progress.update("features of \(dataset.spec)", $0, $1) }
                    if backbone.noCache {
                        return try extractor.extract(dataset, limit: limit, threads: backbone.threads, progress: report)
                    }
                    return try FeatureCache(directory: backbone.cacheDir).features(
                        extractor: extractor, source: source, dataset: dataset, limit: limit,
                        threads: backbone.threads, progress: report).set
                }
                let trainSet = try features(train, "--train", limitTrain)
                let valSet = try features(val, "--val", limitVal)
                var settings = LinearProbeSettings()
                settings.epochs = epochs; settings.lr = lr; settings.lrMin = lrMin
                settings.batchSize = batchSize; settings.seed = seed
                let (_, history) = try LinearProbe.run(train: trainSet, val: valSet, settings: settings, pool: pool) { e in
                    guard !quiet && !json else { return }
                    print(String(format: "epoch %3d  lr %.2e  train loss %.4f  val top-1 %6.2f %%  top-5 %6.2f %%",
                                 e.epoch, e.lr, e.trainLoss, e.top1 ?? .nan, e.top5 ?? .nan))
                }
                let best = history.compactMap(\.top1).max() ?? 0
                let last = history.last!
                let seconds = Date().timeIntervalSince(started)
                if json {
                    let object: [String: Any] = [
                        "backbone": source.name, "weights": source.weightsPath, "feature": extractor.kind.description,
                        "dim": trainSet.dim, "train_images": trainSet.count, "val_images": valSet.count,
                        "epochs": epochs, "best_top1": best, "final_top1": last.top1 ?? 0, "final_top5": last.top5 ?? 0,
                        "seconds": seconds,
                    ]
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    print("mugs eval linear: \(source.name) \(source.weightsPath), \(extractor.kind) (\(trainSet.dim)-d) "
                          + "at \(extractor.imageSize) px; \(trainSet.count) train, \(valSet.count) val images")
                    print(String(format: "  top-1 %.2f %% (best over %d epochs %.2f %%), top-5 %.2f %%, %.1f s",
                                 last.top1 ?? 0, epochs, best, last.top5 ?? 0, seconds))
                }
            } catch let error as EvalError {
                throw CLIError("mugs eval linear: \(error.description)")
            }
        }
    }
}
