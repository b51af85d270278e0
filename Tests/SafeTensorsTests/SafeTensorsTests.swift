import Foundation
import SafeTensors
import TestSupport
import Testing

/// Path of a committed fixture file (Tests/SafeTensorsTests/Fixtures, copied into the test bundle).
func fixturePath(_ name: String) -> String {
    guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
        fatalError("fixture \(name) is not in the test bundle; regenerate with tools/make_vit_fixtures.py")
    }
    return url.path
}

@Suite struct SafeTensorsTests {
    /// A file written by the `safetensors` Python package: F16/BF16 specials decode to the exact values that
    /// PyTorch's own conversion gives (stored beside them as F32).
    @Test func readsFilesWrittenByThePythonPackage() throws {
        let f = try SafeTensors.read(path: fixturePath("safetensors_interop.safetensors"))
        #expect(f.metadata["generator"] == "tools/make_vit_fixtures.py")
        #expect(f.dtype(of: "f16.values") == .f16 && f.dtype(of: "bf16.values") == .bf16)
        for (tag, expected) in [("f32", "expected.f32"), ("f16", "expected.f16"), ("bf16", "expected.bf16"),
                                ("bf16.subnormal", "expected.bf16.subnormal")] {
            let name = tag.contains(".") ? tag : "\(tag).values"
            let got = try f.tensor(name), want = try f.tensor(expected)
            #expect(got.shape == want.shape)
            for (g, w) in zip(got.data, want.data) {
                #expect(g.bitPattern == w.bitPattern || (g.isNaN && w.isNaN), "\(name): \(g) vs \(w)")
            }
        }
        #expect(try f.tensor("f32.scalar") == HostTensor(shape: [], data: [3.25]))
        #expect(try f.tensor("f32.empty").shape == [0, 3])
    }

    @Test func roundTripThroughAFile() throws {
        let dir = makeTemporaryDirectory("st")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.safetensors"
        let w = HostTensor(shape: [2, 3], data: [1, -2, 3.5, .infinity, -0.0, 0x1p-140])
        let meta = ["format": "pt", "quote\"and\\slash": "line\nbreak\t∑ é 🙂", "ctl": "\u{01}"]
        try SafeTensors.write(path: path, tensors: [
            SafeTensorsEntry("blocks.0.w", w),
            SafeTensorsEntry("scalar", shape: [], values: [42]),
            SafeTensorsEntry("empty", shape: [0, 3], values: []),
            SafeTensorsEntry("naïve name ☃", shape: [1], values: [.nan]),
        ], metadata: meta)

        let f = try SafeTensors.read(path: path)
        #expect(f.names == ["blocks.0.w", "scalar", "empty", "naïve name ☃"])
        #expect(f.metadata == meta)
        #expect(try f.tensor("blocks.0.w") == w)
        #expect(try f.tensor("scalar") == HostTensor(shape: [], data: [42]))
        #expect(try f.tensor("empty") == HostTensor(shape: [0, 3], data: []))
        #expect(try f.tensor("naïve name ☃").data[0].isNaN)
        #expect(f.shape(of: "blocks.0.w") == [2, 3] && f.dtype(of: "blocks.0.w") == .f32)
        #expect(f.shape(of: "nope") == nil && !f.contains("nope"))
        // -0.0 and the subnormal survive bit for bit.
        #expect(try f.tensor("blocks.0.w").data.map(\.bitPattern) == w.data.map(\.bitPattern))

        // The header is padded to a multiple of 8, the data section is exactly the tensors.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let n = bytes[0 ..< 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect(n % 8 == 0)
        #expect(bytes.count == 8 + n + 4 * (6 + 1 + 0 + 1))
        #expect(try SafeTensors.encode(tensors: [SafeTensorsEntry("blocks.0.w", w)]).count % 8 == 0)
        // No temporary files are left behind.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["t.safetensors"])
    }

    @Test func rewriteReplacesAtomicallyAndBadPathsAreIOErrors() throws {
        let dir = makeTemporaryDirectory("st")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.safetensors"
        try SafeTensors.write(path: path, tensors: [SafeTensorsEntry("a", shape: [1], values: [1])])
        let first = try SafeTensors.read(path: path)  // keeps the old inode open
        try SafeTensors.write(path: path, tensors: [SafeTensorsEntry("a", shape: [2], values: [2, 3])])
        #expect(try first.tensor("a").data == [1])
        #expect(try SafeTensors.read(path: path).tensor("a").data == [2, 3])

        let e1 = #expect(throws: SafeTensorsError.self) {
            try SafeTensors.write(path: dir + "/no/such/dir/x.safetensors", tensors: [])
        }
        #expect(e1?.kind == .io)
        let e2 = #expect(throws: SafeTensorsError.self) { try SafeTensors.read(path: dir + "/missing.safetensors") }
        #expect(e2?.kind == .io && e2!.description.contains("missing.safetensors"))
        let e3 = #expect(throws: SafeTensorsError.self) { try SafeTensors.read(path: dir) }
        #expect(e3?.kind == .io && e3!.description.contains("not a regular file"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.safetensors"])
    }

    @Test func writerRejectsBadEntries() {
        let cases: [([SafeTensorsEntry], SafeTensorsError.Kind)] = [
            ([SafeTensorsEntry("a", shape: [1], values: [1]), SafeTensorsEntry("a", shape: [1], values: [2])],
             .duplicateName),
            ([SafeTensorsEntry("a", shape: [2, 2], values: [1, 2, 3])], .invalidArgument),
            ([SafeTensorsEntry("a", shape: [-1], values: [])], .invalidArgument),
            ([SafeTensorsEntry("a", shape: [Int.max, 4], values: [])], .invalidArgument),
            ([SafeTensorsEntry("", shape: [1], values: [1])], .invalidArgument),
            ([SafeTensorsEntry("__metadata__", shape: [1], values: [1])], .invalidArgument),
        ]
        for (entries, kind) in cases {
            let e = #expect(throws: SafeTensorsError.self) { try SafeTensors.encode(tensors: entries) }
            #expect(e?.kind == kind, "\(entries.map(\.name)) gave \(String(describing: e))")
        }
    }

    @Test func halfFloatDecodingIsExact() {
        let f16: [(UInt16, Float)] = [
            (0x0000, 0), (0x8000, -0.0), (0x0001, 0x1p-24), (0x8001, -0x1p-24), (0x03FF, 1023 * 0x1p-24),
            (0x0400, 0x1p-14), (0x3C00, 1), (0xC000, -2), (0x3555, 0x1.554p-2), (0x7BFF, 65504),
            (0x7C00, .infinity), (0xFC00, -.infinity),
        ]
        for (bits, value) in f16 {
            let got = HalfFloat.f16ToFloat(bits)
            #expect(got.bitPattern == value.bitPattern, "f16 0x\(String(bits, radix: 16)) → \(got), want \(value)")
        }
        for nan: UInt16 in [0x7E00, 0x7C01, 0xFE00, 0x7FFF] { #expect(HalfFloat.f16ToFloat(nan).isNaN) }
        // Every pattern against the standard library's conversion.
        for bits in 0 ... UInt16.max {
            let want = Float(Float16(bitPattern: bits)), got = HalfFloat.f16ToFloat(bits)
            if want.isNaN { #expect(got.isNaN) } else if got.bitPattern != want.bitPattern {
                Issue.record("f16 0x\(String(bits, radix: 16)): \(got) vs \(want)")
            }
        }
        let bf16: [(UInt16, Float)] = [
            (0x3F80, 1), (0xBF80, -1), (0x0001, 0x1p-133), (0x007F, 127 * 0x1p-133), (0x0080, 0x1p-126),
            (0x7F7F, 0x1.FEp127), (0x7F80, .infinity), (0xFF80, -.infinity), (0x4049, 3.140625),
        ]
        for (bits, value) in bf16 { #expect(HalfFloat.bf16ToFloat(bits) == value) }
        #expect(HalfFloat.bf16ToFloat(0x7FC0).isNaN && HalfFloat.bf16ToFloat(0xFF81).isNaN)
    }

    @Test func readsF16BF16F64AndRefusesIntegersAsFloat() throws {
        let h16: [UInt16] = [0x3C00, 0x0001, 0x7C00, 0x7E00]
        let b16: [UInt16] = [0x3F80, 0x0001, 0xFF80, 0x7FC0]
        let f64: [UInt64] = [2.5, -0.0, 1e300].map { ($0 as Double).bitPattern }
        let i64: [Int64] = [7, -1]
        let header = #"{"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]},"#
            + #""d":{"dtype":"F64","shape":[3],"data_offsets":[16,40]},"#
            + #""i":{"dtype":"I64","shape":[2],"data_offsets":[40,56]},"__metadata__":{"k":"v"}}"#
        let data = littleEndianBytes(h16) + littleEndianBytes(b16) + littleEndianBytes(f64) + littleEndianBytes(i64)
        let f = try SafeTensors.parse(bytes: safeTensorsBytes(header, data))
        #expect(f.metadata == ["k": "v"])
        let h = try f.tensor("h")
        #expect(h.shape == [2, 2] && h.data[0] == 1 && h.data[1] == 0x1p-24 && h.data[2] == .infinity)
        #expect(h.data[3].isNaN)
        let b = try f.tensor("b").data
        #expect(b[0] == 1 && b[1] == 0x1p-133 && b[2] == -.infinity && b[3].isNaN)
        #expect(try f.tensor("d").data.map(\.bitPattern) == [Float(2.5), -0.0, .infinity].map(\.bitPattern))
        let e = #expect(throws: SafeTensorsError.self) { try f.tensor("i") }
        #expect(e?.kind == .unsupportedDType && e!.description.contains("'i'") && e!.description.contains("I64"))
        #expect(try f.rawBytes("i") == littleEndianBytes(i64))
        let m = #expect(throws: SafeTensorsError.self) { try f.tensor("x") }
        #expect(m?.kind == .missingTensor)
    }

    @Test func readIntoCallerMemoryChecksShapeAndCount() throws {
        let f = try SafeTensors.parse(bytes: SafeTensors.encode(tensors: [
            SafeTensorsEntry("w", shape: [2, 2], values: [1, 2, 3, 4])]))
        var out = [Float](repeating: 0, count: 4)
        try out.withUnsafeMutableBufferPointer { try f.read("w", into: $0, shape: [2, 2]) }
        #expect(out == [1, 2, 3, 4])
        let e1 = #expect(throws: SafeTensorsError.self) {
            try out.withUnsafeMutableBufferPointer { try f.read("w", into: $0, shape: [4]) }
        }
        #expect(e1?.kind == .shapeMismatch && e1!.description.contains("[2, 2]"))
        var small = [Float](repeating: 0, count: 3)
        let e2 = #expect(throws: SafeTensorsError.self) {
            try small.withUnsafeMutableBufferPointer { try f.read("w", into: $0) }
        }
        #expect(e2?.kind == .shapeMismatch)
    }

    @Test func readsElementRangesWithConversion() throws {
        let h16: [UInt16] = [0x3C00, 0x4000, 0x4200, 0x4400, 0x4500]  // 1 2 3 4 5
        let f = try SafeTensors.parse(bytes: safeTensorsBytes(
            #"{"h":{"dtype":"F16","shape":[5],"data_offsets":[0,10]}}"#, littleEndianBytes(h16)))
        var out = [Float](repeating: 0, count: 3)
        try out.withUnsafeMutableBufferPointer { try f.read("h", elements: 1 ..< 4, into: $0) }
        #expect(out == [2, 3, 4])
        let e = #expect(throws: SafeTensorsError.self) {
            try out.withUnsafeMutableBufferPointer { try f.read("h", elements: 3 ..< 6, into: $0) }
        }
        #expect(e?.kind == .shapeMismatch && e!.description.contains("outside"))
    }

    @Test func fileTruncatedAfterOpeningGivesAnError() throws {
        let dir = makeTemporaryDirectory("st")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.safetensors"
        let ones = [Float](repeating: 1, count: 1000)
        try SafeTensors.write(path: path, tensors: [SafeTensorsEntry("w", shape: [1000], values: ones)])
        let f = try SafeTensors.read(path: path)
        #expect(truncate(path, 100) == 0)
        let e = #expect(throws: SafeTensorsError.self) { try f.tensor("w") }
        #expect(e?.kind == .dataOutOfBounds)
    }
}
