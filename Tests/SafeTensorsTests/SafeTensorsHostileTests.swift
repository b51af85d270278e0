import Foundation
import SafeTensors
import Sampling
import TestSupport
import Testing

/// Malformed and hostile files: each must give its typed error (through the in-memory and the file path), and a
/// fixed-seed random-mutation fuzz of a valid file must never trap.
@Suite struct SafeTensorsHostileTests {
    static let f32x2 = #"{"dtype":"F32","shape":[2],"data_offsets":"#
    static let eight = [UInt8](repeating: 0, count: 8)

    /// (what, file bytes, expected error kind)
    static let cases: [(String, [UInt8], SafeTensorsError.Kind)] = {
        let valid = #"{"a":\#(f32x2)[0,8]}}"#
        let validBytes = safeTensorsBytes(valid, eight)
        return [
            ("empty file", [], .fileTooSmall),
            ("7 bytes", [1, 0, 0, 0, 0, 0, 0], .fileTooSmall),
            ("header length 2^64-1", safeTensorsBytes("{}", length: .max), .headerTooLarge),
            ("header length just over the bound", safeTensorsBytes("{}", length: 100_000_001), .headerTooLarge),
            ("header length past the end", safeTensorsBytes("{}", length: 100), .headerOutOfBounds),
            ("header length 0", safeTensorsBytes(""), .headerNotObject),
            ("header is an array", safeTensorsBytes("[1,2]"), .headerNotObject),
            ("header starts with whitespace", safeTensorsBytes(" {}"), .headerNotObject),
            ("header not JSON", safeTensorsBytes("{abc}"), .invalidJSON),
            ("header cut in the middle", safeTensorsBytes(#"{"a":{"dtype":"F3"#), .invalidJSON),
            ("trailing comma", safeTensorsBytes(#"{"__metadata__":{},}"#), .invalidJSON),
            ("garbage after the object", safeTensorsBytes("{} x"), .invalidJSON),
            ("header not UTF-8",  // the first byte of "ÿ" (C3 BF) replaced by FF
             safeTensorsBytes("{\"\u{FF}\":1}").enumerated().map { $0.offset == 10 ? 0xFF : $0.element },
             .headerNotUTF8),
            ("lone surrogate escape", safeTensorsBytes(#"{"\ud800":1}"#), .invalidJSON),
            ("raw control character in a name", safeTensorsBytes("{\"a\u{01}\":1}"), .invalidJSON),
            ("invalid escape", safeTensorsBytes(#"{"\x":1}"#), .invalidJSON),
            ("nesting 1000 deep", safeTensorsBytes("{\"a\":" + String(repeating: "[", count: 1000)), .invalidJSON),
            ("duplicate tensor names",
             safeTensorsBytes(#"{"a":\#(f32x2)[0,8]},"a":\#(f32x2)[8,16]}}"#, eight + eight), .duplicateName),
            ("duplicate names, one escaped",
             safeTensorsBytes(#"{"a":\#(f32x2)[0,8]},"\u0061":\#(f32x2)[8,16]}}"#, eight + eight), .duplicateName),
            ("duplicate field inside an entry",
             safeTensorsBytes(#"{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, eight),
             .invalidJSON),
            ("metadata value a number", safeTensorsBytes(#"{"__metadata__":{"k":1}}"#), .invalidMetadata),
            ("metadata value null", safeTensorsBytes(#"{"__metadata__":{"k":null}}"#), .invalidMetadata),
            ("metadata an array", safeTensorsBytes(#"{"__metadata__":["k"]}"#), .invalidMetadata),
            ("entry a number", safeTensorsBytes(#"{"a":1}"#), .invalidEntry),
            ("entry missing shape", safeTensorsBytes(#"{"a":{"dtype":"F32","data_offsets":[0,0]}}"#), .invalidEntry),
            ("entry with an extra field",
             safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"x":1}}"#, [0, 0, 0, 0]),
             .invalidEntry),
            ("dtype a number", safeTensorsBytes(#"{"a":{"dtype":32,"shape":[],"data_offsets":[0,4]}}"#), .invalidEntry),
            ("shape a string", safeTensorsBytes(#"{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}"#),
             .invalidEntry),
            ("unknown dtype", safeTensorsBytes(#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}"#),
             .unknownDType),
            ("lower-case dtype", safeTensorsBytes(#"{"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}"#),
             .unknownDType),
            ("negative dimension", safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#),
             .invalidShape),
            ("fractional dimension", safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#),
             .invalidShape),
            ("dimension beyond Int",
             safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#),
             .invalidShape),
            ("shape product overflows",
             safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#),
             .invalidShape),
            ("byte count overflows",
             safeTensorsBytes(#"{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}"#),
             .sizeMismatch),
            ("one offset", safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[0]}}"#), .invalidOffsets),
            ("begin after end", safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, eight),
             .invalidOffsets),
            ("negative offset", safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#, eight),
             .invalidOffsets),
            ("offset beyond Int",
             safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551616]}}"#, eight),
             .invalidOffsets),
            ("shape and size disagree", safeTensorsBytes(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                                                          eight), .sizeMismatch),
            ("overlapping offsets",
             safeTensorsBytes(#"{"a":\#(f32x2)[0,8]},"b":\#(f32x2)[4,12]}}"#, eight + [0, 0, 0, 0]), .overlappingData),
            ("identical offsets",
             safeTensorsBytes(#"{"a":\#(f32x2)[0,8]},"b":\#(f32x2)[0,8]}}"#, eight), .overlappingData),
            ("gap between tensors",
             safeTensorsBytes(#"{"a":\#(f32x2)[0,8]},"b":\#(f32x2)[12,20]}}"#, eight + eight + [0, 0, 0, 0]),
             .gapInData),
            ("first tensor not at 0", safeTensorsBytes(#"{"a":\#(f32x2)[4,12]}}"#, eight + [0, 0, 0, 0]), .gapInData),
            ("offsets out of range", safeTensorsBytes(#"{"a":\#(f32x2)[0,8]}}"#, [0, 0, 0, 0]), .dataOutOfBounds),
            ("second tensor past the end",
             safeTensorsBytes(#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"#
                              + #""b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}"#, eight), .dataOutOfBounds),
            ("offsets near Int.max",
             safeTensorsBytes(#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[9223372036854775799,"#
                              + #"9223372036854775807]}}"#, eight), .gapInData),
            ("truncated data", Array(validBytes.dropLast()), .dataOutOfBounds),
            ("trailing bytes", validBytes + [0], .trailingData),
            ("no tensors but data", safeTensorsBytes("{}", [1]), .trailingData),
        ]
    }()

    @Test func everyHostileFileGivesItsError() throws {
        let dir = makeTemporaryDirectory("st-hostile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (i, (what, bytes, kind)) in Self.cases.enumerated() {
            let memory = #expect(throws: SafeTensorsError.self, "\(what)") { try SafeTensors.parse(bytes: bytes) }
            #expect(memory?.kind == kind, "\(what): \(String(describing: memory))")
            let path = dir + "/case\(i).safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let file = #expect(throws: SafeTensorsError.self, "\(what)") { try SafeTensors.read(path: path) }
            #expect(file?.kind == kind, "\(what) (file): \(String(describing: file))")
            #expect(file?.description.contains(path) == true)
        }
    }

    @Test func validEdgeCasesAreAccepted() throws {
        // Zero-length tensors at the cursor, a scalar, out-of-header-order offsets, whitespace padding, escapes.
        let header = #"{"s":{"dtype":"F32","shape":[],"data_offsets":[8,12]},"#
            + #""z":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},"#
            + #""\u00e9\n":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"__metadata__":{}}    "#
        let data = [UInt8](repeating: 0, count: 8) + [0, 0, 0x80, 0x3F]
        let f = try SafeTensors.parse(bytes: safeTensorsBytes(header, data))
        #expect(f.names == ["s", "z", "é\n"])
        #expect(try f.tensor("s").data == [1] && f.tensor("z").count == 0)
        #expect(f.metadata.isEmpty)
        #expect(try SafeTensors.parse(bytes: safeTensorsBytes("{}")).tensors.isEmpty)
    }

    /// Tens of thousands of mutations of a valid file (bytes flipped, replaced by JSON punctuation, inserted,
    /// deleted, truncated, length prefix changed); each must open or fail with a typed error, and every tensor of
    /// a file that opens must read or fail with a typed error. A trap would end the test process.
    @Test func randomMutationFuzzNeverTraps() throws {
        let base = try SafeTensors.encode(tensors: [
            SafeTensorsEntry("cls_token", shape: [1, 1, 3], values: [1, 2, 3]),
            SafeTensorsEntry("blocks.0.attn.qkv.weight", shape: [2, 3], values: [0.5, -1, 2, 3, 4, 5]),
            SafeTensorsEntry("s", shape: [], values: [7]),
        ], metadata: ["format": "pt", "config": "depth=2"])
        let extra = #"{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"#
            + #""b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"#
            + #""i":{"dtype":"I16","shape":[1],"data_offsets":[6,8]}}"#
        let bases = [base, safeTensorsBytes(extra, [0, 0x3C, 0, 0x7C, 0x80, 0x3F, 1, 0])]
        let alphabet = Array(#"{}[]",:-.eE0123456789 \"#.utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xFF]
        var rng = SampleRNG(key: [0x5AFE, 2024])
        var outcomes: [String: Int] = [:]
        let iterations = 40_000
        for iteration in 0 ..< iterations {
            var bytes = bases[iteration % 2]
            let headerEnd = 8 + Int(bytes[0]) + Int(bytes[1]) << 8
            for _ in 0 ... rng.int(below: 3) {
                // Mostly inside the header, where the parser's decisions are.
                let inHeader = rng.bernoulli(0.85) && headerEnd > 8
                let at = inHeader ? 8 + rng.int(below: headerEnd - 8) : rng.int(below: max(bytes.count, 1))
                switch rng.int(below: 8) {
                case 0: if at < bytes.count { bytes[at] ^= UInt8(1 << rng.int(below: 8)) }
                case 1, 2: if at < bytes.count { bytes[at] = alphabet[rng.int(below: alphabet.count)] }
                case 3: bytes.insert(alphabet[rng.int(below: alphabet.count)], at: min(at, bytes.count))
                case 4: if at < bytes.count { bytes.remove(at: at) }
                case 5: bytes = Array(bytes.prefix(rng.int(below: bytes.count + 1)))
                case 6: if bytes.count >= 8 { bytes[rng.int(below: 8)] = UInt8(truncatingIfNeeded: rng.next()) }
                default:  // nudge the length prefix by a little
                    if bytes.count >= 8 { bytes[0] = bytes[0] &+ UInt8(rng.int(below: 5)) &- 2 }
                }
            }
            do throws(SafeTensorsError) {
                let f = try SafeTensors.parse(bytes: bytes, name: "fuzz")
                outcomes["opened", default: 0] += 1
                for t in f.tensors {
                    do throws(SafeTensorsError) {
                        let v = try f.tensor(t.name)
                        #expect(v.count == t.count)
                    } catch {
                        #expect(error.kind == .unsupportedDType)
                        #expect(try f.rawBytes(t.name).count == t.dataRange.count)
                    }
                }
            } catch {
                outcomes[error.kind.rawValue, default: 0] += 1
                #expect(error.description.hasPrefix("safetensors file fuzz: "))
            }
        }
        print("safetensors fuzz: \(iterations) mutated files:",
              outcomes.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        // The mutations reach deep into validation, not only the first check.
        #expect(outcomes["opened", default: 0] > 100)
        #expect(outcomes.count >= 12, "only \(outcomes.keys.sorted()) reached")
    }
}
