import Foundation
import MugsData
import MugsModel

/// Which feature of each image to extract.
public enum FeatureKind: Sendable, Equatable, CustomStringConvertible {
    /// The [CLS] token after the final norm (DINO/Mugs `forward_knn`; the kNN feature and `mugs embed`'s).
    case cls
    /// The reference linear probe's input (`get_intermediate_layers(x, n)`): the [CLS] token of each of the last n
    /// blocks, each through the final norm, concatenated oldest first; with `avgpool`, the mean of the last
    /// block's normed patch tokens appended (the reference interleaves the two for n = 1 — a permutation of the
    /// same values, which a linear classifier does not notice).
    case lastBlocks(n: Int, avgpool: Bool)

    public var description: String {
        switch self {
        case .cls: return "[CLS] after the final norm"
        case let .lastBlocks(n, avgpool):
            return "[CLS] of the last \(n) blocks (each final-normed)\(avgpool ? " + mean patch token" : "")"
        }
    }

    /// Feature width for embedding dim C.
    public func width(C: Int) -> Int {
        switch self {
        case .cls: return C
        case let .lastBlocks(n, avgpool): return C * (n + (avgpool ? 1 : 0))
        }
    }
}

/// Extracts features of a dataset through a backbone: the eval transform (resize to ⌊S/0.875⌋, centre crop S,
/// ImageNet normalisation — `MugsData.EvalTransform`), then the backbone in eval mode. Activations are planned
/// once per batch size and reused.
public final class FeatureExtractor {
    public let embedder: BackboneEmbedder
    public let kind: FeatureKind
    public let imageSize: Int
    public let batch: Int
    let pool: ComputePool
    var activations: [Int: ViTActivations] = [:]

    /// `imageSize` defaults to the backbone's native size (its `pos_embed` grid × patch).
    public init(embedder: BackboneEmbedder, kind: FeatureKind = .cls, imageSize: Int? = nil, batch: Int = 64,
                pool: ComputePool) throws(EvalError) {
        let S = imageSize ?? embedder.imageSize, P = embedder.vit.config.patchSize
        guard S >= P, S % P == 0 else {
            throw EvalError(.configuration, "image size \(S) must be a positive multiple of the patch size \(P)")
        }
        guard batch >= 1 else { throw EvalError(.configuration, "batch must be ≥ 1, got \(batch)") }
        if case let .lastBlocks(n, _) = kind, !(1 ... embedder.vit.config.depth).contains(n) {
            throw EvalError(.configuration, "the last \(n) blocks: the backbone has \(embedder.vit.config.depth)")
        }
        self.embedder = embedder; self.kind = kind; self.imageSize = S; self.batch = batch; self.pool = pool
    }

    /// Features of every image of `dataset` (or its first `limit`), decoding on `threads` threads.
    /// `progress(done, total)` after each batch. Unreadable images are skipped and reported in the metadata.
    public func extract(_ dataset: ImageDataset, limit: Int? = nil, threads: Int = 1,
                        progress: ((Int, Int) -> Void)? = nil) throws(EvalError) -> FeatureSet {
        let total = min(limit ?? dataset.count, dataset.count)
        guard total >= 1 else { throw EvalError(.input, "\(dataset.spec): no images") }
        let width = kind.width(C: embedder.embedDim)
        var features: [Float] = []
        features.reserveCapacity(total * width)
        var labels: [Int] = []
        labels.reserveCapacity(total)
        var bad: [(String, String)] = []
        do {
            bad = try EvalBatches.forEach(dataset: dataset, size: imageSize, batchSize: batch, threads: threads,
                                          limit: total) { images, batchLabels, start in
                let n = batchLabels.count
                let rows = try self.forward(images.data, n: n)
                features.append(contentsOf: rows)
                labels.append(contentsOf: batchLabels)
                progress?(min(start + batch, total), total)
            }
        } catch let error as EvalError {
            throw error
        } catch {
            throw EvalError(.input, "\(dataset.spec): \(error)")
        }
        guard !labels.isEmpty else { throw EvalError(.input, "\(dataset.spec): none of the \(total) images was readable") }
        var meta = ["dataset": dataset.spec, "dataset_fingerprint": dataset.fingerprint, "feature": kind.description,
                    "image_size": "\(imageSize)", "images": "\(labels.count)"]
        if !bad.isEmpty {
            meta["skipped"] = "\(bad.count) unreadable, e.g. \(bad[0].0): \(bad[0].1)"
        }
        return try FeatureSet(features: features, labels: labels, dim: width, classNames: dataset.classNames,
                              metadata: meta)
    }

    /// Features (n, width) of n eval-transformed images (n, 3, S, S).
    public func forward(_ images: [Float], n: Int) throws(EvalError) -> [Float] {
        let vit = embedder.vit, C = embedder.embedDim, S = imageSize
        let a: ViTActivations
        if let cached = activations[n] { a = cached } else {
            do { a = try vit.makeActivations(B: n, Hi: S, Wi: S, pool: pool) } catch {
                throw EvalError(.configuration, "images \(S)×\(S): \(error)")
            }
            a.disableDropPath()
            activations[n] = a
        }
        images.withUnsafeBufferPointer { vit.forward(images: $0.baseAddress!, params: embedder.params, acts: a, pool: pool) }
        let width = kind.width(C: C), T = a.T
        var out = [Float](repeating: 0, count: n * width)
        out.withUnsafeMutableBufferPointer { o in
            let dst = o.baseAddress!
            switch kind {
            case .cls:
                // out(i, C) = output(i, token 0, C)
                for i in 0 ..< n { (dst + i * C).update(from: a.output.pointer + i * T * C, count: C) }
            case let .lastBlocks(blocks, avgpool):
                let params = embedder.params, eps = vit.config.layerNormEps
                let normW = UnsafePointer(params.pointer("norm.weight")), normB = UnsafePointer(params.pointer("norm.bias"))
                let cls = FloatStorage(n * C), normed = FloatStorage(n * C)
                let mean = FloatStorage(n), rstd = FloatStorage(n)
                let depth = a.blockCount
                for (j, l) in (depth - blocks ..< depth).enumerated() {
                    let x = a.blockOutput(l)
                    for i in 0 ..< n { (cls.pointer + i * C).update(from: x + i * T * C, count: C) }
                    // normed(n, C) = norm(cls(n, C)) with the backbone's final norm, as get_intermediate_layers does
                    layerNormForward(out: normed.pointer, mean: mean.pointer, rstd: rstd.pointer, inp: cls.pointer,
                                     weight: normW, bias: normB, N: n, C: C, eps: eps, pool: pool)
                    for i in 0 ..< n { (dst + i * width + j * C).update(from: normed.pointer + i * C, count: C) }
                }
                if avgpool {
                    // mean over the patch tokens (t ≥ 1) of the final-normed output
                    for i in 0 ..< n {
                        let row = dst + i * width + blocks * C
                        for t in 1 ..< T {
                            let tok = a.output.pointer + (i * T + t) * C
                            for c in 0 ..< C { row[c] += tok[c] }
                        }
                        let inv = 1 / Float(T - 1)
                        for c in 0 ..< C { row[c] *= inv }
                    }
                }
            }
        }
        return out
    }
}
