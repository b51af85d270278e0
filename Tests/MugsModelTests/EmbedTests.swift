import Foundation
import SafeTensors
import TestSupport
import Testing
@testable import MugsModel

/// Tolerances for CLS features against the PyTorch reference (float32 on both sides).
enum EmbedTolerance {
    /// The fixtures' metadata records float64-vs-float32 differences of the final-normed tokens of at most
    /// 1.5e-6 (vit_reduced) and 3.1e-6 (vit_tiny, 12 blocks) for features of magnitude ≤ 4. Our float32 and
    /// PyTorch's float32 each sit within about that of the exact value, with different summation orders, so their
    /// difference is bounded by roughly twice it; 2e-5 leaves a ×3 margin on top. Real mistakes (interpolation
    /// off by a pixel, a missing norm, the wrong token, drop path left on) move features by 1e-2 or more.
    static let cls: Float = 2e-5
}

/// Max |a − b| of two feature arrays of the same size.
func clsMaxDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// vit_reduced's architecture (the fixture is not a preset).
let reducedArchitecture = ViTConfig(embedDim: 32, depth: 2, heads: 2, patchSize: 4, imageSize: 16)

/// vit_reduced's backbone as a weights file under plain timm names (the `param.` prefix stripped), optionally
/// changed by `edit` (name → tensor, nil to drop).
func writeReducedWeights(to path: String, prefix: String = "",
                         edit: (String, HostTensor) -> HostTensor? = { $1 }) throws {
    let f = try SafeTensors.read(path: fixturePath("vit_reduced.safetensors"))
    var entries: [SafeTensorsEntry] = []
    for name in f.names where name.hasPrefix("param.") {
        let plain = String(name.dropFirst("param.".count))
        if let t = edit(plain, try f.tensor(name)) { entries.append(SafeTensorsEntry(prefix + plain, t)) }
    }
    try SafeTensors.write(path: path, tensors: entries)
}

/// vit_tiny's formula weights (tools/README.md) as a weights file under `prefix` + timm names.
func writeTinyWeights(to path: String, prefix: String = "") throws {
    let entries = ViTFixtureFormula.vitTinySpecs.map { name, shape in
        SafeTensorsEntry(prefix + name, shape: shape, values: ViTFixtureFormula.values(name, shape: shape))
    }
    try SafeTensors.write(path: path, tensors: entries)
}

@Suite struct EmbedTests {
    let pool = ComputePool(threads: 2)

    @Test func reducedFixtureCLSMatchesReferenceAndTimm() throws {
        let dir = makeTemporaryDirectory("embed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try SafeTensors.read(path: fixturePath("vit_reduced.safetensors"))
        // Straight from the fixture under its `param.` prefix, and from a plain-timm-names file: the same result.
        let fromFixture = try BackboneEmbedder(weights: fixture, architecture: reducedArchitecture, prefix: "param.")
        try writeReducedWeights(to: dir + "/w.safetensors")
        let plain = try BackboneEmbedder(weights: SafeTensors.read(path: dir + "/w.safetensors"),
                                         architecture: reducedArchitecture)
        #expect(plain.prefix == "" && plain.imageSize == 16 && fromFixture.prefix == "param.")
        for k in 0 ..< 2 {
            let input = try fixture.tensor("input.\(k)")
            let (N, H, W) = (input.shape[0], input.shape[2], input.shape[3])
            let want = try fixture.tensor("cls.\(k)").data
            for embedder in [fromFixture, plain] {
                let got = try input.data.withUnsafeBufferPointer {
                    try embedder.embed(images: $0.baseAddress!, N: N, H: H, W: W, batch: 2, pool: pool)
                }
                let d = clsMaxDiff(got, want)
                print("embed vit_reduced input.\(k) (\(H)×\(W)): max |cls − reference| = \(d)")
                #expect(d <= EmbedTolerance.cls)
                if k == 0 {
                    let dt = clsMaxDiff(got, try fixture.tensor("timm_cls.0").data)
                    print("embed vit_reduced input.0: max |cls − timm| = \(dt)")
                    #expect(dt <= EmbedTolerance.cls)
                }
            }
            // Streaming from a file, one image per batch, gives the same features.
            let path = dir + "/images\(k).safetensors"
            try SafeTensors.write(path: path, tensors: [SafeTensorsEntry("images", input)])
            let streamed = try plain.embed(input: SafeTensors.read(path: path), batch: 1, pool: pool)
            #expect(streamed.shape == [N, 32])
            #expect(clsMaxDiff(streamed.data, want) <= EmbedTolerance.cls)
        }
    }

    @Test func vitTinyFormulaWeightsMatchReferenceAtBothSizes() throws {
        let dir = makeTemporaryDirectory("embed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try SafeTensors.read(path: fixturePath("vit_tiny.safetensors"))
        try writeTinyWeights(to: dir + "/tiny.safetensors")
        let embedder = try BackboneEmbedder(weights: SafeTensors.read(path: dir + "/tiny.safetensors"),
                                            architecture: ViTConfig.preset("vit_tiny"), name: "vit_tiny")
        for (k, side) in [(0, 224), (1, 96)] {
            let images = ViTFixtureFormula.values("input.\(k)", shape: [1, 3, side, side])
            let got = try images.withUnsafeBufferPointer {
                try embedder.embed(images: $0.baseAddress!, N: 1, H: side, W: side, batch: 1, pool: pool)
            }
            let d = clsMaxDiff(got, try fixture.tensor("cls.\(k)").data)
            print("embed vit_tiny input.\(k) (\(side)×\(side)): max |cls − reference| = \(d)")
            #expect(d <= EmbedTolerance.cls)
            if k == 0 {
                let dt = clsMaxDiff(got, try fixture.tensor("timm_cls.0").data)
                print("embed vit_tiny input.0: max |cls − timm| = \(dt)")
                #expect(dt <= EmbedTolerance.cls)
            }
        }
    }

    @Test func f16ImagesGiveTheSameFeaturesAsF32() throws {
        let fixture = try SafeTensors.read(path: fixturePath("vit_reduced.safetensors"))
        let embedder = try BackboneEmbedder(weights: fixture, architecture: reducedArchitecture, prefix: "param.")
        // Values k/8 for |k| ≤ 24 are exact in F16 and BF16.
        let values: [Float] = (0 ..< 2 * 3 * 16 * 12).map { (i: Int) -> Float in Float((i * 7) % 49 - 24) / 8 }
        func bits(_ v: Float, bf16: Bool) -> UInt16 {
            if bf16 { return UInt16(v.bitPattern >> 16) }
            return Float16(v).bitPattern
        }
        let f32 = try SafeTensors.parse(bytes: SafeTensors.encode(tensors: [
            SafeTensorsEntry("images", shape: [2, 3, 16, 12], values: values)]))
        let want = try embedder.embed(input: f32, batch: 2, pool: pool)
        for (dtype, bf16) in [("F16", false), ("BF16", true)] {
            let header = #"{"images":{"dtype":"\#(dtype)","shape":[2,3,16,12],"#
                + #""data_offsets":[0,\#(values.count * 2)]}}"#
            let raw: [UInt16] = values.map { bits($0, bf16: bf16) }
            let file = try SafeTensors.parse(bytes: safeTensorsBytes(header, littleEndianBytes(raw)))
            #expect(try embedder.embed(input: file, batch: 2, pool: pool) == want)
        }
    }

    @Test func badWeightsAreNamedErrors() throws {
        let dir = makeTemporaryDirectory("embed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func attempt(_ arch: ViTConfig = reducedArchitecture, prefix: String? = nil,
                     _ edit: @escaping (String, HostTensor) -> HostTensor?) throws -> EmbedError? {
            let path = dir + "/w.safetensors"
            try writeReducedWeights(to: path, edit: edit)
            let f = try SafeTensors.read(path: path)
            return #expect(throws: EmbedError.self) {
                _ = try BackboneEmbedder(weights: f, architecture: arch, name: "arch-under-test", prefix: prefix)
            }
        }
        let cases: [(String, EmbedError?, [String])] = [
            ("missing tensor", try attempt { $0 == "blocks.1.mlp.fc2.bias" ? nil : $1 },
             ["blocks.1.mlp.fc2.bias", "missing"]),
            ("mis-shaped tensor",
             try attempt { $0 == "norm.weight" ? HostTensor(zeros: [31]) : $1 },
             ["norm.weight is [31], expected [32]"]),
            ("embedding dim", try attempt(ViTConfig(embedDim: 64, depth: 2, heads: 2, patchSize: 4)) { $1 },
             ["embedding dim 32", "arch-under-test has 64"]),
            ("patch size", try attempt(ViTConfig(embedDim: 32, depth: 2, heads: 2, patchSize: 8)) { $1 },
             ["patch size 4", "given is 8"]),
            ("depth", try attempt(ViTConfig(embedDim: 32, depth: 3, heads: 2, patchSize: 4)) { $1 },
             ["2 blocks", "depth 3"]),
            ("pos_embed not a square grid",
             try attempt { $0 == "pos_embed" ? HostTensor(zeros: [1, 16, 32]) : $1 }, ["pos_embed", "n×n"]),
            ("no backbone", try attempt { name, t in name == "norm.bias" ? t : nil }, ["no ViT backbone found"]),
            ("wrong prefix", try attempt(prefix: "student.") { $1 }, ["no backbone under prefix 'student.'"]),
        ]
        for (what, error, fragments) in cases {
            #expect(error?.kind == .weights, "\(what)")
            for fragment in fragments {
                #expect(error?.description.contains(fragment) == true, "\(what): \(String(describing: error))")
            }
            #expect(error?.description.contains(dir + "/w.safetensors") == true, "\(what) names the file")
        }
        let heads = #expect(throws: EmbedError.self) {
            try writeReducedWeights(to: dir + "/w.safetensors")
            _ = try BackboneEmbedder(weights: SafeTensors.read(path: dir + "/w.safetensors"),
                                     architecture: ViTConfig(embedDim: 32, depth: 2, heads: 5, patchSize: 4))
        }
        #expect(heads?.kind == .configuration && heads!.description.contains("heads"))
    }

    /// `BackboneWeights` finds the prefix by itself and reads the dimensions from the shapes alone.
    @Test func backboneWeightsReadPrefixAndDimensions() throws {
        let dir = makeTemporaryDirectory("embed")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeReducedWeights(to: dir + "/w.safetensors", prefix: "teacher.backbone.")
        let file = try SafeTensors.read(path: dir + "/w.safetensors")
        let found = try BackboneWeights(file)
        #expect(found.prefix == "teacher.backbone." && found.embedDim == 32 && found.patchSize == 4)
        #expect(found.grid == 4 && found.imageSize == 16 && found.depth == 2)
        let fixture = try SafeTensors.read(path: fixturePath("vit_reduced.safetensors"))
        let given = try BackboneWeights(fixture, prefix: "param.")
        #expect(given.prefix == "param." && given.embedDim == 32 && given.depth == 2)
        let channels = #expect(throws: EmbedError.self) { try BackboneWeights(file, inChannels: 1) }
        #expect(channels?.kind == .weights && channels!.description.contains("expected [32, 1, p, p]"))
    }

    @Test func badInputsAreNamedErrors() throws {
        let fixture = try SafeTensors.read(path: fixturePath("vit_reduced.safetensors"))
        let embedder = try BackboneEmbedder(weights: fixture, architecture: reducedArchitecture, prefix: "param.")
        func file(_ name: String, _ shape: [Int]) throws -> SafeTensorsFile {
            try SafeTensors.parse(bytes: SafeTensors.encode(tensors: [
                SafeTensorsEntry(name, shape: shape, values: .init(repeating: 0.5, count: shape.reduce(1, *)))]),
                name: "in.safetensors")
        }
        let cases: [(String, SafeTensorsFile, [String])] = [
            ("no images key", try file("pixels", [1, 3, 16, 16]), ["no tensor 'images'", "pixels"]),
            ("rank 3", try file("images", [3, 16, 16]), ["[3, 16, 16]", "expected [N ≥ 1, 3, H, W]"]),
            ("one channel", try file("images", [2, 1, 16, 16]), ["[2, 1, 16, 16]"]),
            ("no images", try file("images", [0, 3, 16, 16]), ["[0, 3, 16, 16]"]),
            ("height not a multiple of the patch", try file("images", [1, 3, 18, 16]), ["height 18", "patch size 4"]),
            ("smaller than a patch", try file("images", [1, 3, 16, 0]), ["width 0"]),
        ]
        for (what, input, fragments) in cases {
            let e = #expect(throws: EmbedError.self, "\(what)") {
                try embedder.embed(input: input, batch: 4, pool: pool)
            }
            #expect(e?.kind == .input, "\(what)")
            for fragment in fragments {
                #expect(e?.description.contains(fragment) == true, "\(what): \(String(describing: e))")
            }
            #expect(e?.description.contains("in.safetensors") == true, "\(what) names the file")
        }
        let zeroBatch = #expect(throws: EmbedError.self) {
            try embedder.embed(input: try file("images", [1, 3, 16, 16]), batch: 0, pool: pool)
        }
        #expect(zeroBatch?.kind == .configuration)
    }
}
