import Foundation

// The same helpers as Tests/SafeTensorsTests/SafeTensorsTests.swift (test targets cannot share code): raw
// safetensors bytes for hand-written headers (F16/BF16 inputs), temporary directories, this bundle's fixtures.

/// Builds a safetensors file from header JSON text and data bytes; `length` overrides the 8-byte prefix.
func safeTensorsBytes(_ header: String, _ data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    let n = length ?? UInt64(h.count)
    return (0 ..< 8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) } + h + data
}

func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in (0 ..< MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: v.littleEndian >> (8 * $0)) } }
}

/// A fresh empty directory under the system temp dir, removed by the caller.
func makeTemporaryDirectory(_ tag: String) -> String {
    let dir = NSTemporaryDirectory() + "mugs-\(tag)-\(getpid())-\(UInt32.random(in: 0 ... .max))"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Path of a committed fixture file (Tests/MugsModelTests/Fixtures, copied into the test bundle).
func fixturePath(_ name: String) -> String {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        fatalError("fixture \(name) is not in the test bundle; regenerate with tools/make_vit_fixtures.py")
    }
    return url.path
}
