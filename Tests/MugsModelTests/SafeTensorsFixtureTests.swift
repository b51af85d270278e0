import Foundation
import SafeTensors
import Testing
@testable import MugsModel

/// The formula that generates vit_tiny.safetensors' weights, inputs and upstream gradients (tools/README.md,
/// tools/make_vit_fixtures.py): v[i] = Float(offset + scale·sin(0.7·i + 0.001·Double(i·i) + φ(name))).
enum ViTFixtureFormula {
    static func fnv1a32(_ text: String) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in text.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    static func offsetScale(_ name: String, shape: [Int]) -> (Double, Double) {
        if name == "cls_token" || name == "pos_embed" { return (0, 0.5) }
        if name.hasPrefix("input.") || name.hasPrefix("dout.") { return (0, 1) }
        if name.hasSuffix(".weight") && shape.count == 1 { return (1, 0.1) }
        if name.hasSuffix(".bias") { return (0, 0.1) }
        return (0, 1.0 / Double(shape.dropFirst().reduce(1, *)).squareRoot())
    }

    /// The tensor `name` of `shape`, flattened row-major.
    static func values(_ name: String, shape: [Int]) -> [Float] {
        let (offset, scale) = offsetScale(name, shape: shape)
        let phi = 6.283185307179586 * (Double(fnv1a32(name)) / 4_294_967_296.0)
        let n = shape.reduce(1, *)
        return [Float](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0 ..< n {
                let theta = 0.7 * Double(i) + 0.001 * Double(i * i) + phi
                buf[i] = Float(offset + scale * sin(theta))
            }
            count = n
        }
    }

    /// vit_tiny's backbone tensors (name, shape) in reference order.
    static var vitTinySpecs: [(String, [Int])] {
        let C = 192, hidden = 768
        var specs: [(String, [Int])] = [("cls_token", [1, 1, C]), ("pos_embed", [1, 197, C]),
                                        ("patch_embed.proj.weight", [C, 3, 16, 16]), ("patch_embed.proj.bias", [C])]
        for l in 0 ..< 12 {
            let p = "blocks.\(l)."
            specs += [(p + "norm1.weight", [C]), (p + "norm1.bias", [C]), (p + "attn.qkv.weight", [3 * C, C]),
                      (p + "attn.qkv.bias", [3 * C]), (p + "attn.proj.weight", [C, C]), (p + "attn.proj.bias", [C]),
                      (p + "norm2.weight", [C]), (p + "norm2.bias", [C]), (p + "mlp.fc1.weight", [hidden, C]),
                      (p + "mlp.fc1.bias", [hidden]), (p + "mlp.fc2.weight", [C, hidden]), (p + "mlp.fc2.bias", [C])]
        }
        return specs + [("norm.weight", [C]), ("norm.bias", [C])]
    }
}

/// The committed reference fixtures are readable, complete and self-consistent, and the vit_tiny formula
/// regenerates exactly what the Python generator used.
@Suite struct SafeTensorsFixtureTests {
    @Test func vitTinyFormulaMatchesTheGenerator() throws {
        let f = try SafeTensors.read(path: fixturePath("vit_tiny.safetensors"))
        let checks = try #require(JSONSerialization.jsonObject(
            with: Data((f.metadata["formula_checks"] ?? "").utf8)) as? [String: [String: Any]])
        let specs = ViTFixtureFormula.vitTinySpecs + [("input.0", [1, 3, 224, 224]), ("input.1", [1, 3, 96, 96]),
                                                      ("dout.0", [1, 197, 192]), ("dout.1", [1, 37, 192])]
        #expect(Set(checks.keys) == Set(specs.map(\.0)))
        var worstSum = 0.0
        for (name, shape) in specs {
            let v = ViTFixtureFormula.values(name, shape: shape)
            let check = try #require(checks[name])
            for (index, value) in try #require(check["probe"] as? [String: Double]) {
                #expect(v[Int(index)!] == Float(value), "\(name)[\(index)] = \(v[Int(index)!]), generator \(value)")
            }
            // The sums differ only by summation order (float64 over float32 values).
            let sum = v.reduce(0.0) { $0 + Double($1) }, want = try #require(check["sum"] as? Double)
            let scale = v.reduce(0.0) { $0 + Double(abs($1)) }
            worstSum = max(worstSum, abs(sum - want) / scale)
            #expect(abs(sum - want) <= 1e-12 * scale, "\(name): sum \(sum) vs \(want)")
        }
        print("vit_tiny formula: \(specs.count) tensors regenerated; worst relative sum difference \(worstSum)")
    }

    @Test func vitReducedHoldsEveryParameterWithItsGradient() throws {
        let f = try SafeTensors.read(path: fixturePath("vit_reduced.safetensors"))
        let params = f.names.filter { $0.hasPrefix("param.") }
        #expect(params.count == 4 + 2 * 12 + 2)
        for p in params {
            let name = String(p.dropFirst("param.".count))
            #expect(f.shape(of: "grad." + name) == f.shape(of: p), "grad.\(name)")
        }
        #expect(f.shape(of: "param.pos_embed") == [1, 17, 32])
        for (k, hw) in [(0, (16, 16)), (1, (24, 12))] {
            let T = 1 + (hw.0 / 4) * (hw.1 / 4)
            #expect(f.shape(of: "input.\(k)") == [2, 3, hw.0, hw.1])
            #expect(f.shape(of: "grad_input.\(k)") == [2, 3, hw.0, hw.1])
            for key in ["out", "prenorm", "dout"] { #expect(f.shape(of: "\(key).\(k)") == [2, T, 32]) }
            let keep = try f.tensor("keep.\(k)")
            #expect(keep.shape == [2, 2, 2] && keep.data.allSatisfy { $0 == 0 || $0 == 1 })
            #expect(keep.data.prefix(4).allSatisfy { $0 == 1 } && keep.data.contains(0))
        }
        let timm = f.metadata["timm_check"] ?? ""
        #expect(timm.contains("All keys matched successfully"))
    }
}
