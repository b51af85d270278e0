import Foundation
import MugsModel
import SafeTensors

/// Features of a labelled image set: `features` (N, C) row-major, one integer label per row, the class names in
/// label order, and where they came from. Written and read as safetensors (`features` [N, C] F32, `labels` [N]
/// F32 holding integers, class names and provenance in the metadata), which is what `mugs eval knn
/// --features-only` writes and `--train-features`/`--val-features` read.
public struct FeatureSet: Sendable {
    public var features: [Float]
    public var labels: [Int]
    public let dim: Int
    public var classNames: [String]
    /// Provenance kept in the file's metadata (weights, dataset spec and fingerprint, feature kind, image size).
    public var metadata: [String: String]

    public var count: Int { labels.count }
    /// Number of classes: the class names, or 1 + the largest label when there are none.
    public var classCount: Int { max(classNames.count, (labels.max() ?? -1) + 1) }

    public init(features: [Float], labels: [Int], dim: Int, classNames: [String] = [],
                metadata: [String: String] = [:]) throws(EvalError) {
        guard dim >= 1 else { throw EvalError(.input, "feature dimension must be ≥ 1, got \(dim)") }
        guard features.count == labels.count * dim else {
            throw EvalError(.input, "\(features.count) feature values for \(labels.count) labels of dimension \(dim)")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 }) {
            throw EvalError(.input, "label \(labels[bad]) of row \(bad) is negative")
        }
        if !classNames.isEmpty, let bad = labels.firstIndex(where: { $0 >= classNames.count }) {
            throw EvalError(.input, "label \(labels[bad]) of row \(bad) is outside the \(classNames.count) classes")
        }
        self.features = features; self.labels = labels; self.dim = dim
        self.classNames = classNames; self.metadata = metadata
    }

    /// Each row divided by max(‖row‖₂, 1e-12) (`torch.nn.functional.normalize(x, dim=1, p=2)`).
    public func l2Normalized() -> FeatureSet {
        var copy = self
        let C = dim
        copy.features.withUnsafeMutableBufferPointer { f in
            let p = f.baseAddress!
            for i in 0 ..< count {
                let row = p + i * C
                var sum: Float = 0
                for c in 0 ..< C { sum = sum.addingProduct(row[c], row[c]) }
                let scale = 1 / max(sum.squareRoot(), 1e-12)
                for c in 0 ..< C { row[c] *= scale }
            }
        }
        return copy
    }

    /// Writes the set atomically to `path`.
    public func write(to path: String) throws(EvalError) {
        var meta = metadata
        meta["class_names"] = Self.encodeNames(classNames)
        meta["format"] = "mugs features"
        do {
            try SafeTensors.write(path: path, tensors: [
                SafeTensorsEntry("features", shape: [count, dim], values: features),
                SafeTensorsEntry("labels", shape: [count], values: labels.map { Float($0) }),
            ], metadata: meta)
        } catch {
            throw EvalError(.output, error.description)
        }
    }

    /// Reads a set written by `write(to:)` (or any file with `features` [N, C] and `labels` [N]).
    public static func read(_ path: String) throws(EvalError) -> FeatureSet {
        do {
            let file = try SafeTensors.read(path: path)
            guard let shape = file.shape(of: "features"), shape.count == 2, shape[1] >= 1 else {
                throw EvalError(.input, "\(path): expected a tensor 'features' [N, C] (as `mugs eval knn "
                                + "--features-only` writes); found \(file.shape(of: "features").map { "\($0)" } ?? "none")")
            }
            guard file.shape(of: "labels") == [shape[0]] else {
                throw EvalError(.input, "\(path): expected 'labels' [\(shape[0])] beside 'features' \(shape); found "
                                + (file.shape(of: "labels").map { "\($0)" } ?? "none"))
            }
            let features = try file.tensor("features").data
            let raw = try file.tensor("labels").data
            var labels: [Int] = []
            labels.reserveCapacity(raw.count)
            for (i, v) in raw.enumerated() {
                guard v >= 0, v < 16_777_216, v.rounded() == v else {
                    throw EvalError(.input, "\(path): label \(v) of row \(i) is not a non-negative integer")
                }
                labels.append(Int(v))
            }
            var meta = file.metadata
            let names = meta.removeValue(forKey: "class_names").map(decodeNames) ?? []
            return try FeatureSet(features: features, labels: labels, dim: shape[1], classNames: names,
                                  metadata: meta)
        } catch let error as EvalError {
            throw error
        } catch {
            throw EvalError(.weights, "\(error)")
        }
    }

    static func encodeNames(_ names: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: names)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeNames(_ text: String) -> [String] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] ?? []
    }
}
