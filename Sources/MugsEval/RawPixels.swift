import Foundation
import MugsData

/// The raw-pixel baseline: each image's RGB values in [0, 1] as its feature (then kNN as for any features).
/// Images are taken at their own size when it equals `size` (Fashion-MNIST's 28 × 28: the pixels as stored);
/// other images go through the eval transform's resize and centre crop to `size` × `size` first.
public enum RawPixels {
    public static func extract(_ dataset: ImageDataset, size: Int? = nil, limit: Int? = nil,
                               threads: Int = 1) throws(EvalError) -> FeatureSet {
        let total = min(limit ?? dataset.count, dataset.count)
        guard total >= 1 else { throw EvalError(.input, "\(dataset.spec): no images") }
        let probe = RGBImage()
        var buffer: [UInt8] = []
        do { try dataset.load(0, into: probe, minimumArea: 0, buffer: &buffer) } catch {
            throw EvalError(.input, "\(dataset.spec): the first image is unreadable: \(error)")
        }
        let S = size ?? min(probe.width, probe.height)
        guard S >= 1 else { throw EvalError(.configuration, "raw-pixel size must be ≥ 1") }
        let D = 3 * S * S
        var features = [Float](repeating: 0, count: total * D)
        var ok = [Bool](repeating: false, count: total)
        let workers = max(1, threads)
        features.withUnsafeMutableBufferPointer { fp in
            ok.withUnsafeMutableBufferPointer { okp in
                let f = fp.baseAddress!, good = okp.baseAddress!
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    let image = RGBImage(), transform = EvalTransform(size: S)
                    var bytes: [UInt8] = []
                    var staged = [Float](repeating: 0, count: D)
                    var i = w
                    while i < total {
                        defer { i += workers }
                        guard (try? dataset.load(i, into: image, minimumArea: 0, buffer: &bytes)) != nil else { continue }
                        let row = f + i * D
                        if image.width == S && image.height == S {
                            for j in 0 ..< D { row[j] = Float(image.pixels[j]) / 255 }
                        } else {
                            // eval transform (CHW, normalised) → HWC in [0, 1]
                            staged.withUnsafeMutableBufferPointer { transform.apply(image, to: $0.baseAddress!) }
                            let n = transform.normalization
                            let mean = [n.mean.0, n.mean.1, n.mean.2], std = [n.std.0, n.std.1, n.std.2]
                            for p in 0 ..< S * S {
                                for c in 0 ..< 3 { row[p * 3 + c] = staged[c * S * S + p] * std[c] + mean[c] }
                            }
                        }
                        good[i] = true
                    }
                }
            }
        }
        let keep = (0 ..< total).filter { ok[$0] }
        guard !keep.isEmpty else { throw EvalError(.input, "\(dataset.spec): no readable image") }
        var packed: [Float] = []
        if keep.count == total { packed = features } else {
            packed.reserveCapacity(keep.count * D)
            for i in keep { packed.append(contentsOf: features[i * D ..< (i + 1) * D]) }
        }
        return try FeatureSet(features: packed, labels: keep.map { dataset.label($0) }, dim: D,
                              classNames: dataset.classNames,
                              metadata: ["dataset": dataset.spec, "feature": "raw pixels \(S)×\(S) in [0, 1]"])
    }
}
