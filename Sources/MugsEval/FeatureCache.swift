import Foundation
import MugsData
import MugsModel

/// Extracted features kept on disk so that repeated evaluations (linear-probe epochs, several k, a second run) do
/// not run the backbone again. An entry is keyed by everything that determines the features: the weights file
/// (path, size, modification time) and prefix, the dataset's fingerprint, the feature kind, image size and limit.
/// Directory: `--cache-dir`, else `$MUGS_CACHE_DIR/features`, `$XDG_CACHE_HOME/mugs/features`,
/// `~/.cache/mugs/features`.
public struct FeatureCache: Sendable {
    public let directory: String

    public init(directory: String? = nil) {
        if let directory { self.directory = directory; return }
        let env = ProcessInfo.processInfo.environment
        if let d = env["MUGS_CACHE_DIR"], !d.isEmpty {
            self.directory = (d as NSString).appendingPathComponent("features")
        } else if let x = env["XDG_CACHE_HOME"], !x.isEmpty {
            self.directory = (x as NSString).appendingPathComponent("mugs/features")
        } else {
            self.directory = (NSHomeDirectory() as NSString).appendingPathComponent(".cache/mugs/features")
        }
    }

    /// The cache file for these inputs.
    public func path(weights: String, prefix: String, dataset: ImageDataset, kind: FeatureKind, imageSize: Int,
                     limit: Int?) -> String {
        let attrs = (try? FileManager.default.attributesOfItem(atPath: weights)) ?? [:]
        let size = (attrs[.size] as? NSNumber)?.int64Value ?? -1
        let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let absolute = URL(fileURLWithPath: weights).standardizedFileURL.path
        let key = [absolute, "\(size)", "\(mtime)", prefix, dataset.fingerprint, kind.description, "\(imageSize)",
                   limit.map { "\($0)" } ?? "all"].joined(separator: "\u{1f}")
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        let hex = String(h, radix: 16)
        return (directory as NSString).appendingPathComponent(String(repeating: "0", count: 16 - hex.count) + hex
                                                              + ".safetensors")
    }

    /// The cached set, or nil when there is none (or it is unreadable: it is then recomputed).
    public func load(_ path: String) -> FeatureSet? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? FeatureSet.read(path)
    }

    public func store(_ set: FeatureSet, at path: String) throws(EvalError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw EvalError(.output, "\(directory): cannot create the feature cache directory: "
                            + error.localizedDescription)
        }
        try set.write(to: path)
    }

    /// Features of `dataset` from the cache, or extracted (and then cached) when absent. `cached` tells which.
    public func features(extractor: FeatureExtractor, source: BackboneSource, dataset: ImageDataset, limit: Int?,
                         threads: Int, progress: ((Int, Int) -> Void)? = nil) throws(EvalError)
        -> (set: FeatureSet, cached: Bool, path: String) {
        let file = path(weights: source.weightsPath, prefix: source.prefix, dataset: dataset, kind: extractor.kind,
                        imageSize: extractor.imageSize, limit: limit)
        if let hit = load(file) { return (hit, true, file) }
        let set = try extractor.extract(dataset, limit: limit, threads: threads, progress: progress)
        try store(set, at: file)
        return (set, false, file)
    }
}
