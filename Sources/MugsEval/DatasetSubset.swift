import MugsData

/// `count` images of a dataset spread evenly over it: image i is the base's ⌊i · base.count / count⌋. Online kNN
/// evaluates on such subsets rather than on the first images, because an ImageFolder dataset is sorted by class — its
/// first 1000 images are one or two classes — while evenly spaced images cover every class in proportion.
public final class DatasetSubset: ImageDataset, @unchecked Sendable {
    public let base: ImageDataset
    public let count: Int

    /// The whole dataset when `count` ≥ its size.
    public static func evenlySpaced(_ base: ImageDataset, count: Int) -> ImageDataset {
        count >= base.count ? base : DatasetSubset(base, count: max(0, count))
    }

    init(_ base: ImageDataset, count: Int) {
        self.base = base
        self.count = count
    }

    func baseIndex(_ i: Int) -> Int { i * base.count / count }

    public var spec: String { "\(base.spec) (\(count) evenly spaced)" }
    public var classNames: [String] { base.classNames }
    public var fingerprint: String { "\(base.fingerprint)/spaced-\(count)" }
    public func label(_ index: Int) -> Int { base.label(baseIndex(index)) }
    public func name(_ index: Int) -> String { base.name(baseIndex(index)) }
    public func load(_ index: Int, into image: RGBImage, minimumArea: Int, buffer: inout [UInt8]) throws {
        try base.load(baseIndex(index), into: image, minimumArea: minimumArea, buffer: &buffer)
    }
}
