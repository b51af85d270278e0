import Foundation

/// An ImageFolder dataset (`root/<class>/…/<image>`), indexed as torchvision's `ImageFolder` (and the
/// reference's `src/dataset.py`) does: classes are the sorted sub-directory names, files are walked
/// recursively (symlinks followed) in sorted order, and only .jpg/.jpeg/.png files (any case) are kept.
///
/// The index is cached (see `FolderIndex`) so a 1.28M-image ImageNet is not re-scanned at every start; the
/// cache is trusted only while the modification times of every indexed directory are unchanged.
public final class ImageFolder: ImageDataset, @unchecked Sendable {
    public let spec: String
    public let root: String
    public let index: FolderIndex
    /// Whether the index came from the cache (false: scanned now).
    public let fromCache: Bool

    public var count: Int { index.paths.count }
    public var classNames: [String] { index.classes }
    public var fingerprint: String { index.fingerprint }

    public static func open(root: String, cacheDirectory: String? = nil) throws -> ImageFolder {
        let absolute = URL(fileURLWithPath: root).standardizedFileURL.path
        let cacheFile = FolderIndex.cachePath(root: absolute, directory: cacheDirectory)
        if let cacheFile, let cached = FolderIndex.load(cacheFile, root: absolute), cached.isCurrent() {
            return ImageFolder(spec: root, root: absolute, index: cached, fromCache: true)
        }
        let scanned = try FolderIndex.scan(root: absolute)
        if let cacheFile { try? scanned.save(cacheFile) }
        return ImageFolder(spec: root, root: absolute, index: scanned, fromCache: false)
    }

    init(spec: String, root: String, index: FolderIndex, fromCache: Bool) {
        self.spec = spec
        self.root = root
        self.index = index
        self.fromCache = fromCache
    }

    public func label(_ i: Int) -> Int { Int(index.labels[i]) }
    public func name(_ i: Int) -> String { root + "/" + index.paths[i] }

    public func load(_ i: Int, into image: RGBImage, minimumArea: Int, buffer: inout [UInt8]) throws {
        try ImageDecoder.decodeFile(name(i), into: image, minimumArea: minimumArea, buffer: &buffer)
    }
}
