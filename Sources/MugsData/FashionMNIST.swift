import CImage
import Foundation

/// Fashion-MNIST from Debian's `dataset-fashion-mnist` (IDX files, gzip, under
/// /usr/share/datasets/fashion-mnist; `$MUGS_FASHION_MNIST_DIR` overrides). 28×28 grayscale, served as RGB
/// with the grey value in all three channels (as PIL's `convert("RGB")` of an "L" image).
public final class FashionMNIST: ImageDataset, @unchecked Sendable {
    public enum Split: String, Sendable { case train, test }

    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                 "Sneaker", "Bag", "Ankle boot"]

    public let spec: String
    public let count: Int
    public let rows: Int, cols: Int
    public let fingerprint: String
    public var classNames: [String] { FashionMNIST.classes }
    let pixels: [UInt8]
    let labels: [UInt8]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [String: FashionMNIST] = [:]

    /// Opens a split (decoded once per process and shared).
    public static func open(split: Split, directory: String? = nil) throws -> FashionMNIST {
        let dir = directory ?? ProcessInfo.processInfo.environment["MUGS_FASHION_MNIST_DIR"] ?? defaultDirectory
        let key = dir + "|" + split.rawValue
        lock.lock(); defer { lock.unlock() }
        if let hit = cache[key] { return hit }
        let prefix = split == .train ? "train" : "t10k"
        let images = try readIDX(dir + "/\(prefix)-images-idx3-ubyte.gz", expectedDims: 3)
        let labels = try readIDX(dir + "/\(prefix)-labels-idx1-ubyte.gz", expectedDims: 1)
        guard images.dims[0] == labels.dims[0] else {
            throw DataError(.badIDX, dir, hint: "\(images.dims[0]) images but \(labels.dims[0]) labels")
        }
        if labels.data.contains(where: { $0 >= 10 }) {
            throw DataError(.badIDX, dir + "/\(prefix)-labels-idx1-ubyte.gz", hint: "a label is ≥ 10")
        }
        let ds = FashionMNIST(spec: "fashion-mnist:\(split.rawValue)", images: images, labels: labels.data)
        cache[key] = ds
        return ds
    }

    init(spec: String, images: IDX, labels: [UInt8]) {
        self.spec = spec
        count = images.dims[0]
        rows = images.dims[1]
        cols = images.dims[2]
        pixels = images.data
        self.labels = labels
        var h = FNV1a()
        h.add(images.data)
        h.add(labels)
        fingerprint = "\(spec)-\(count)-\(h.hex)"
    }

    public func label(_ index: Int) -> Int { Int(labels[index]) }
    public func name(_ index: Int) -> String { "\(spec)#\(index)" }

    public func load(_ index: Int, into image: RGBImage, minimumArea: Int, buffer: inout [UInt8]) throws {
        precondition(index >= 0 && index < count, "index \(index) outside 0..<\(count)")
        let n = rows * cols
        image.reshape(width: cols, height: rows)
        pixels.withUnsafeBufferPointer { src in
            let s = src.baseAddress! + index * n
            let d = image.pixels
            for i in 0 ..< n { let v = s[i]; d[3 * i] = v; d[3 * i + 1] = v; d[3 * i + 2] = v }
        }
    }

    struct IDX {
        var dims: [Int]
        var data: [UInt8]
    }

    /// Parses an IDX file of unsigned bytes (magic 0x0000 08 nd, big-endian dims).
    static func readIDX(_ path: String, expectedDims: Int) throws -> IDX {
        var out: UnsafeMutablePointer<UInt8>?
        var len = 0
        var err = [CChar](repeating: 0, count: Int(CIMAGE_ERR_LEN))
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError(.notFound, path, hint: "install the Debian package dataset-fashion-mnist "
                + "or set MUGS_FASHION_MNIST_DIR")
        }
        let rc = cimage_read_gzip(path, &out, &len, &err)
        guard rc == 0, let out else { throw DataError(.io, path, hint: String(cString: err)) }
        defer { cimage_free(out) }
        let bytes = UnsafeBufferPointer(start: out, count: len)
        guard len >= 4, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, Int(bytes[3]) == expectedDims else {
            throw DataError(.badIDX, path, hint: "expected an unsigned-byte IDX file with \(expectedDims) dimensions")
        }
        let header = 4 + 4 * expectedDims
        guard len >= header else { throw DataError(.badIDX, path, hint: "header is truncated") }
        var dims: [Int] = []
        for d in 0 ..< expectedDims {
            let o = 4 + 4 * d
            dims.append(Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]))
        }
        // The product of four-byte dimensions can overflow Int: check it against the bytes present as it grows.
        var n = 1
        for d in dims {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow, p <= len - header else {
                throw DataError(.badIDX, path, hint: "dims \(dims) need more bytes than the file's \(len - header)")
            }
            n = p
        }
        guard len - header == n else {
            throw DataError(.badIDX, path, hint: "dims \(dims) need \(n) bytes, file holds \(len - header)")
        }
        return IDX(dims: dims, data: Array(bytes[header...]))
    }
}
