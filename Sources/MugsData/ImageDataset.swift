import Foundation

/// A source of labelled images addressed by index 0 ..< count, named by a spec string:
/// a directory in ImageFolder layout (`root/<class>/<image>`), or `fashion-mnist:train` / `fashion-mnist:test`.
public protocol ImageDataset: AnyObject, Sendable {
    /// The spec string it was opened from.
    var spec: String { get }
    var count: Int { get }
    /// Class names in label order (sorted as torchvision's ImageFolder sorts them).
    var classNames: [String] { get }
    /// Identifies the exact file list and labels (stored in checkpoints; a change means a different dataset).
    var fingerprint: String { get }
    func label(_ index: Int) -> Int
    /// A human-readable name of one image (its path, or `spec#index`).
    func name(_ index: Int) -> String
    /// Decodes image `index` as RGB into `image`; `minimumArea` allows JPEG DCT down-scaling (0: none);
    /// `buffer` is the calling thread's reusable file buffer. Throws `DataError(.unreadableImage)`.
    func load(_ index: Int, into image: RGBImage, minimumArea: Int, buffer: inout [UInt8]) throws
}

/// 64-bit FNV-1a, for fingerprints.
struct FNV1a {
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
        for b in bytes { state = (state ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    }
    mutating func add(_ s: String) { add(s.utf8) }
    var hex: String {
        let h = String(state, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }
}
