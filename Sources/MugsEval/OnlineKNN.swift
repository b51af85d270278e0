import Foundation
import MugsData
import MugsModel

/// kNN accuracy of a teacher backbone during training, on fixed held-out subsets, for the coordinator or a worker
/// to run every N steps (the results belong in `/status`, `/metrics` and the log). The subsets are chosen once (the
/// first `trainCount` images of the train set as the neighbour bank, the first `valCount` of the validation set — the
/// worker passes evenly spaced `DatasetSubset`s) and decoded once; each evaluation only runs the backbone over them
/// and the neighbour search.
///
/// Typical cost for the CPU preset (vit_tiny/4 at 32 px), 5000 + 1000 images: one forward over 6000 small images.
public final class OnlineKNN {
    public let k: Int
    public let temperature: Double
    public let imageSize: Int
    let trainImages: [Float], trainLabels: [Int]
    let valImages: [Float], valLabels: [Int]
    let classNames: [String]
    let pool: ComputePool
    /// Images decoded into the bank and the queries (fewer than asked when a dataset is smaller).
    public var trainCount: Int { trainLabels.count }
    public var valCount: Int { valLabels.count }
    let batch: Int

    /// Decodes the subsets (eval transform at `imageSize`) once.
    public init(train: ImageDataset, val: ImageDataset, trainCount: Int = 5000, valCount: Int = 1000, k: Int = 20,
                temperature: Double = 0.07, imageSize: Int, batch: Int = 64, threads: Int = 1) throws(EvalError) {
        guard k >= 1, temperature > 0, imageSize >= 1, batch >= 1 else {
            throw EvalError(.configuration, "online kNN needs k ≥ 1, temperature > 0, image size ≥ 1, batch ≥ 1")
        }
        func load(_ d: ImageDataset, _ n: Int) throws(EvalError) -> ([Float], [Int]) {
            var images: [Float] = [], labels: [Int] = []
            do {
                try EvalBatches.forEach(dataset: d, size: imageSize, batchSize: 256, threads: threads, limit: n) { x, y, _ in
                    images.append(contentsOf: x.data); labels.append(contentsOf: y)
                }
            } catch { throw EvalError(.input, "\(d.spec): \(error)") }
            guard labels.count > k || d !== train else {
                throw EvalError(.input, "\(d.spec): \(labels.count) readable images, online kNN needs more than k = \(k)")
            }
            return (images, labels)
        }
        (trainImages, trainLabels) = try load(train, trainCount)
        (valImages, valLabels) = try load(val, valCount)
        guard !valLabels.isEmpty else { throw EvalError(.input, "\(val.spec): no readable image") }
        self.k = k; self.temperature = temperature; self.imageSize = imageSize
        classNames = train.classNames.count >= val.classNames.count ? train.classNames : val.classNames
        pool = ComputePool(threads: threads); self.batch = batch
    }

    /// Accuracy of the backbone whose parameters are `params` (a layout with the backbone's names — a teacher's
    /// `ParameterBuffer` works: only the backbone's tensors are read) for architecture `architecture`.
    public func evaluate(params: ParameterBuffer, architecture: ViTConfig) throws(EvalError) -> KNNResult {
        let embedder: BackboneEmbedder
        do {
            embedder = try BackboneEmbedder(parameters: params, architecture: architecture, name: "online teacher")
        } catch {
            throw EvalError(.weights, "online kNN: \(error)")
        }
        let extractor = try FeatureExtractor(embedder: embedder, kind: .cls, imageSize: imageSize, batch: batch,
                                             pool: pool)
        let train = try features(extractor, trainImages, trainLabels)
        let val = try features(extractor, valImages, valLabels)
        return try KNNClassifier.evaluate(train: train, test: val, ks: [k], temperature: temperature, pool: pool)[0]
    }

    func features(_ e: FeatureExtractor, _ images: [Float], _ labels: [Int]) throws(EvalError) -> FeatureSet {
        let per = 3 * imageSize * imageSize
        var out: [Float] = []
        var start = 0
        while start < labels.count {
            let n = min(batch, labels.count - start)
            out += try e.forward(Array(images[start * per ..< (start + n) * per]), n: n)
            start += n
        }
        return try FeatureSet(features: out, labels: labels, dim: e.kind.width(C: e.embedder.embedDim),
                              classNames: classNames)
    }
}
