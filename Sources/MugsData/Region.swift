/// A half-open pixel rectangle [x0, x1) × [y0, y1) of an image.
public struct Region: Sendable, Equatable, CustomStringConvertible {
    public var x0: Int, y0: Int, x1: Int, y1: Int

    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }

    /// The whole of a `width` × `height` image.
    public static func full(_ width: Int, _ height: Int) -> Region { Region(x0: 0, y0: 0, x1: width, y1: height) }

    /// A crop box as a region.
    public init(_ box: RandomResizedCrop.Box) {
        self.init(x0: box.left, y0: box.top, x1: box.left + box.width, y1: box.top + box.height)
    }

    public var isEmpty: Bool { x1 <= x0 || y1 <= y0 }

    /// Grown by `m` pixels on every side, clamped to a `width` × `height` image.
    public func expanded(by m: Int, width: Int, height: Int) -> Region {
        Region(x0: max(0, x0 - m), y0: max(0, y0 - m), x1: min(width, x1 + m), y1: min(height, y1 + m))
    }

    public var description: String { "[\(x0), \(x1)) × [\(y0), \(y1))" }
}
