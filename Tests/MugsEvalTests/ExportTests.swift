import Foundation
import MugsData
import MugsEval
import MugsModel
import SafeTensors
import Testing

@Suite struct ExportTests {
    let pool = ComputePool(threads: 2)

    /// The timm model calls of the fixture, as configurations (parsed from the call's arguments).
    static func config(ofCall call: String) -> ViTConfig {
        var dims = (192, 12, 3)
        if call.contains("vit_small") { dims = (384, 12, 6) }
        if call.contains("vit_base") { dims = (768, 12, 12) }
        func arg(_ name: String) -> Int? {
            guard let r = call.range(of: name + "=") else { return nil }
            return Int(call[r.upperBound...].prefix { $0.isNumber })
        }
        return ViTConfig(embedDim: arg("embed_dim") ?? dims.0, depth: arg("depth") ?? dims.1,
                         heads: arg("num_heads") ?? dims.2, patchSize: arg("patch_size") ?? 16,
                         imageSize: arg("img_size") ?? 224)
    }

    /// For vit_tiny/small/base at 224, vit_small patch 8 at 96 px, vit_tiny patch 4 at 32 px and a custom size:
    /// the export's names and shapes are exactly those of timm's state_dict, in the same order, and the timm call
    /// mugs prints is the one that built it.
    @Test func exportNamesAreTimmsForEveryPresetAndSize() throws {
        let f = try EvalFixtures.file("export.safetensors")
        let keys = try JSONSerialization.jsonObject(with: Data(f.metadata["timm_keys"]!.utf8)) as! [String: [[Any]]]
        #expect(keys.count == 6)
        for (call, list) in keys {
            let config = Self.config(ofCall: call)
            let timm = list.map { ($0[0] as! String, $0[1] as! [Int]) }
            let ours = TimmExport.exportedTensors(config).map { ($0.name, $0.shape) }
            #expect(ours.map(\.0) == timm.map(\.0), "\(call): names differ")
            #expect(ours.map(\.1) == timm.map(\.1), "\(call): shapes differ")
            #expect(TimmExport.timmCall(config) == call)
        }
    }

    /// A checkpoint → `mugs export` → a file with exactly timm's names (relation block and heads left out), the
    /// teacher's values bit for bit, and the [CLS] features timm computes from the same weights.
    @Test func exportOfACheckpointLoadsAsTimmAndGivesTimmsFeatures() throws {
        let dir = EvalFixtures.temporaryDirectory("export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ckpt = (dir as NSString).appendingPathComponent("step-000000012")
        try EvalFixtures.writeCheckpoint(to: ckpt)
        let source = try BackboneSource.open(ckpt)
        #expect(source.prefix == "teacher." && source.checkpoint?.step == 12)
        #expect(source.architecture.heads == 3 && source.architecture.patchSize == 4)
        let out = (dir as NSString).appendingPathComponent("backbone.safetensors")
        let (names, call) = try TimmExport.export(source, to: out)
        let fixture = try EvalFixtures.file("export.safetensors")
        #expect(call == fixture.metadata["timm_call"])
        let keys = try JSONSerialization.jsonObject(with: Data(fixture.metadata["timm_keys"]!.utf8)) as! [String: [[Any]]]
        #expect(names == keys[call]!.map { $0[0] as! String })
        let exported = try SafeTensors.read(path: out)
        #expect(exported.names == names)
        #expect(exported.metadata["num_heads"] == "3" && exported.metadata["checkpoint_step"] == "12")
        for name in names {
            #expect(try exported.tensor(name) == fixture.tensor("param." + name), "\(name) differs from the teacher")
        }
        // The exported file read back as a backbone (heads from its metadata) gives timm's features.
        let features = try Self.features(of: BackboneSource.open(out), fixture: fixture, pool: pool)
        let diff = EvalFixtures.maxDiff(features, try fixture.tensor("timm_cls").data)
        print("export → timm [CLS] max |diff| \(diff)")
        #expect(diff < clsTolerance)
    }

    /// tools/convert_pth.py's output from a .pth in the official Mugs layout is read by mugs and gives timm's
    /// features (the import path).
    @Test func convertedOfficialCheckpointGivesTimmsFeatures() throws {
        let fixture = try EvalFixtures.file("export.safetensors")
        let source = try BackboneSource.open(EvalFixtures.path("import_mugs.safetensors"))
        #expect(source.prefix == "" && source.architecture.heads == 3 && source.architecture.depth == 3)
        let diff = EvalFixtures.maxDiff(try Self.features(of: source, fixture: fixture, pool: pool),
                                        try fixture.tensor("timm_cls").data)
        print("convert_pth → mugs [CLS] max |diff| \(diff)")
        #expect(diff < clsTolerance)
    }

    static func features(of source: BackboneSource, fixture: SafeTensorsFile, pool: ComputePool) throws -> [Float] {
        let embedder = try source.makeEmbedder()
        let images = try fixture.tensor("images")
        return try images.data.withUnsafeBufferPointer {
            try embedder.embed(images: $0.baseAddress!, N: 4, H: 32, W: 32, batch: 3, pool: pool)
        }
    }

    /// A custom-sized file without head information is refused with a message naming --heads; a file that is not a
    /// backbone names what it holds.
    @Test func unusableSourcesAreExplained() throws {
        let dir = EvalFixtures.temporaryDirectory("export-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fixture = try EvalFixtures.file("export.safetensors")
        let plain = (dir as NSString).appendingPathComponent("plain.safetensors")
        try SafeTensors.write(path: plain, tensors: fixture.names.filter { $0.hasPrefix("param.") }.map {
            SafeTensorsEntry(String($0.dropFirst(6)), try fixture.tensor($0))
        })
        do {
            _ = try BackboneSource.open(plain)
            Issue.record("a custom backbone without num_heads was accepted")
        } catch {
            #expect(error.kind == .configuration && error.description.contains("--heads"))
        }
        #expect(try BackboneSource.open(plain, heads: 3).architecture.heads == 3)
        do {
            _ = try BackboneSource.open(EvalFixtures.path("knn.safetensors"))
            Issue.record("a feature file was taken for a backbone")
        } catch {
            #expect(error.kind == .weights && error.description.contains("no ViT backbone"))
        }
        #expect(throws: EvalError.self) { try BackboneSource.open((dir as NSString).appendingPathComponent("none")) }
    }
}

extension ExportTests {
    /// `--random-init` of a checkpoint is the network training starts from: `MugsNetwork.initialize` of the
    /// checkpoint's config with its seed, backbone tensor for tensor.
    @Test func randomInitIsTheTrainingInitialisation() throws {
        let dir = EvalFixtures.temporaryDirectory("random-init")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try EvalFixtures.writeCheckpoint(to: dir + "/step-000000012")
        let source = try BackboneSource.open(dir)
        let random = try source.makeRandomEmbedder()
        let config = source.checkpoint!.config
        let net = try MugsNetwork(config: config, student: true)
        let params = ParameterBuffer(layout: net.layout)
        net.initialize(params, seed: source.checkpoint!.seed)
        for spec in random.vit.layout.specs {
            #expect(random.params.values(spec.name) == params.values(spec.name), "\(spec.name) differs")
        }
        let trained = try source.makeEmbedder()
        #expect(random.params.values("blocks.0.attn.qkv.weight") != trained.params.values("blocks.0.attn.qkv.weight"))
    }
}
