import Foundation
import SafeTensors
import Testing
@testable import MugsModel

/// A `ParameterBuffer` written as safetensors entries and loaded back (`SafeTensorsFile.load(into:prefix:)`).
@Suite struct SafeTensorsParameterTests {
    @Test func parameterBufferExportAndStrictLoad() throws {
        var layout = ParameterLayout()
        layout.add("cls_token", [1, 1, 4])
        layout.add("blocks.0.attn.qkv.weight", [12, 4])
        layout.add("norm.bias", [4])
        let src = ParameterBuffer(layout: layout)
        for i in 0 ..< src.count { src.all[i] = Float(i) * 0.5 }
        let bytes = try SafeTensors.encode(tensors: src.safeTensorsEntries(prefix: "student.")
            + [SafeTensorsEntry("student.extra", shape: [1], values: [9])])
        let f = try SafeTensors.parse(bytes: bytes, name: "ckpt")
        let dst = ParameterBuffer(layout: layout)
        try f.load(into: dst, prefix: "student.")
        for spec in layout.specs { #expect(Array(dst[spec.name]) == Array(src[spec.name])) }

        let strict = #expect(throws: SafeTensorsError.self) {
            try f.load(into: ParameterBuffer(layout: layout), prefix: "student.", allowUnused: false)
        }
        #expect(strict?.kind == .invalidArgument && strict!.description.contains("student.extra"))

        var other = ParameterLayout()
        other.add("cls_token", [1, 1, 5])
        other.add("pos_embed", [1, 2, 4])
        other.add("norm.bias", [4])
        let untouched = ParameterBuffer(layout: other)
        let e = #expect(throws: SafeTensorsError.self) { try f.load(into: untouched, prefix: "student.") }
        #expect(e?.kind == .missingTensor)
        let text = e?.description ?? ""
        #expect(text.contains("ckpt") && text.contains("student.pos_embed"))
        #expect(text.contains("student.cls_token is [1, 1, 4], expected [1, 1, 5]"))
        #expect(untouched.all.allSatisfy { $0 == 0 })
    }
}
