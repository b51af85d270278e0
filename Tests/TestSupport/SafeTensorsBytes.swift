import Foundation

// Helpers shared by test targets (SwiftPM test targets cannot import each other): raw safetensors bytes for
// hand-written headers, little-endian byte arrays, temporary directories. Each target keeps its own `fixturePath`,
// which must read that target's bundle.

/// Builds a safetensors file from header JSON text and data bytes; `length` overrides the 8-byte prefix.
public func safeTensorsBytes(_ header: String, _ data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    let n = length ?? UInt64(h.count)
    return (0 ..< 8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
}

/// The little-endian bytes of `values`, back to back.
public func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in (0 ..< MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: v.littleEndian >> (8 * $0)) } }
}

/// A fresh empty directory under the system temp dir, removed by the caller.
public func makeTemporaryDirectory(_ tag: String) -> String {
    let dir = NSTemporaryDirectory() + "mugs-\(tag)-\(getpid())-\(UInt32.random(in: 0 ... .max))"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}
