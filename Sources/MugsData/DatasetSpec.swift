import Foundation

/// Opens datasets by spec.
public enum DatasetSpec {
    /// `fashion-mnist:train`, `fashion-mnist:test`, or a directory path (ImageFolder). `cacheDirectory`
    /// overrides where folder indexes are cached (default: `$MUGS_CACHE_DIR`, `$XDG_CACHE_HOME/mugs`,
    /// `~/.cache/mugs`).
    public static func open(_ spec: String, cacheDirectory: String? = nil) throws -> ImageDataset {
        if spec.hasPrefix("fashion-mnist") {
            switch spec {
            case "fashion-mnist:train": return try FashionMNIST.open(split: .train)
            case "fashion-mnist:test": return try FashionMNIST.open(split: .test)
            default:
                throw DataError(.badSpec, spec, hint: "use fashion-mnist:train or fashion-mnist:test")
            }
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec, isDirectory: &isDir) else {
            throw DataError(.notFound, spec, hint: "no such directory (expected an ImageFolder root or fashion-mnist:train)")
        }
        guard isDir.boolValue else {
            throw DataError(.badSpec, spec, hint: "not a directory; an ImageFolder root holds one folder per class")
        }
        return try ImageFolder.open(root: spec, cacheDirectory: cacheDirectory)
    }
}
