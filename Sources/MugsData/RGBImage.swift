/// An 8-bit RGB image, interleaved (`pixels[(y * width + x) * 3 + c]`), as PIL holds an "RGB" image.
///
/// A reusable scratch buffer: `reshape(width:height:)` only allocates when the new size exceeds the
/// capacity, so a loader thread that keeps a few of these performs no allocation after warm-up.
public final class RGBImage: @unchecked Sendable {
    public private(set) var width: Int = 0
    public private(set) var height: Int = 0
    public private(set) var capacity: Int = 0
    /// Interleaved RGB bytes; valid for `width * height * 3` bytes.
    public private(set) var pixels: UnsafeMutablePointer<UInt8>

    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 3)
        pixels = .allocate(capacity: self.capacity)
    }

    public convenience init(width: Int, height: Int) {
        self.init(capacity: width * height * 3)
        reshape(width: width, height: height)
    }

    /// An image holding a copy of `bytes` (interleaved RGB, `width * height * 3` values).
    public convenience init(width: Int, height: Int, bytes: [UInt8]) {
        precondition(bytes.count == width * height * 3, "RGB bytes \(bytes.count) != \(width)×\(height)×3")
        self.init(width: width, height: height)
        bytes.withUnsafeBufferPointer { pixels.update(from: $0.baseAddress!, count: bytes.count) }
    }

    deinit { pixels.deallocate() }

    /// Number of bytes of the current image (width · height · 3).
    @inlinable public var byteCount: Int { width * height * 3 }

    /// Sets the size; contents are unspecified afterwards unless the size is unchanged.
    public func reshape(width: Int, height: Int) {
        precondition(width >= 0 && height >= 0, "negative image size \(width)×\(height)")
        let need = max(width * height * 3, 3)
        if need > capacity {
            pixels.deallocate()
            capacity = need
            pixels = .allocate(capacity: need)
        }
        self.width = width
        self.height = height
    }

    /// Makes this image a copy of `other`.
    public func copy(from other: RGBImage) {
        reshape(width: other.width, height: other.height)
        pixels.update(from: other.pixels, count: other.byteCount)
    }

    /// Exchanges buffers and sizes with `other` (O(1); used to ping-pong between scratch images).
    public func swapContents(with other: RGBImage) {
        swap(&width, &other.width)
        swap(&height, &other.height)
        swap(&capacity, &other.capacity)
        swap(&pixels, &other.pixels)
    }

    /// The bytes as an array (tests, export).
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: pixels, count: byteCount)) }
}
