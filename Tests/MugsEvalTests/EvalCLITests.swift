import Foundation
import MugsData
import MugsEval
import MugsModel
import SafeTensors
import Testing

/// The `mugs eval knn`, `mugs export` and `mugs attention` commands end to end through the built executable.
@Suite(.serialized) struct EvalCLITests {
    static var mugs: String { DeployTests.products + "/mugs" }

    @Test func knnFromFeatureFilesPrintsTheReferenceAccuracy() throws {
        let dir = EvalFixtures.temporaryDirectory("cli-knn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = try EvalFixtures.file("knn.safetensors")
        for (x, y, name) in [("train", "train_labels", "train.safetensors"), ("test", "test_labels", "val.safetensors")] {
            try FeatureSet(features: try f.tensor(x).data, labels: try f.tensor(y).data.map { Int($0) },
                           dim: 16).write(to: dir + "/" + name)
        }
        let r = try DeployTests.run([Self.mugs, "eval", "knn", "--train-features", dir + "/train.safetensors",
                                     "--val-features", dir + "/val.safetensors", "--k", "20,5", "--json"], timeout: 120)
        #expect(r.status == 0, "\(r.output)")
        let json = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [String: Any]
        let results = json?["results"] as? [[String: Any]] ?? []
        let expected = try JSONSerialization.jsonObject(with: Data(f.metadata["results"]!.utf8)) as! [[String: Any]]
        for k in [20, 5] {
            let want = expected.first { $0["k"] as! Int == k && $0["T"] as! Double == 0.07 }!["top1"] as! Double
            let got = results.first { $0["k"] as? Int == k }?["top1"] as? Double
            #expect(got.map { abs($0 - want) < 1e-9 } == true, "k \(k): \(String(describing: got)) vs \(want)")
        }
        // Bad options are refused with a message, not a crash.
        let bad = try DeployTests.run([Self.mugs, "eval", "knn", "--train-features", dir + "/train.safetensors",
                                       "--val-features", dir + "/val.safetensors", "--k", "0"], timeout: 60)
        #expect(bad.status != 0 && bad.output.contains("--k"))
    }

    @Test func exportAndAttentionFromACheckpoint() throws {
        let dir = EvalFixtures.temporaryDirectory("cli-export")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try EvalFixtures.writeCheckpoint(to: dir + "/ckpt/step-000000012")
        let out = dir + "/backbone.safetensors"
        let r = try DeployTests.run([Self.mugs, "export", "--checkpoint", dir + "/ckpt", "--out", out], timeout: 120)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("timm.create_model('vit_small_patch16_224', num_classes=0, embed_dim=48, depth=3, "
                                  + "num_heads=3, patch_size=4, img_size=32)"))
        #expect(try SafeTensors.read(path: out).names.count == 4 + 3 * 12 + 2)
        // An attention map of a dataset image when Fashion-MNIST is installed, else of a PNG we write.
        var image = "fashion-mnist:test#3"
        if (try? FashionMNIST.open(split: .test)) == nil {
            image = dir + "/in.png"
            try PNGWriter.write(RGBImage(width: 20, height: 28, bytes: [UInt8](repeating: 90, count: 20 * 28 * 3)),
                                to: image)
        }
        let a = try DeployTests.run([Self.mugs, "attention", "--checkpoint", out, "--image", image, "--out",
                                     dir + "/att", "--zoom", "3"], timeout: 120)
        #expect(a.status == 0, "\(a.output)")
        for name in ["image.png", "attn-head0.png", "attn-head2.png", "attn-mean.png"] {
            let decoded = RGBImage()
            var buffer: [UInt8] = []
            try ImageDecoder.decodeFile(dir + "/att/" + name, into: decoded, buffer: &buffer)
            #expect(decoded.width == 96 && decoded.height == 96, "\(name): \(decoded.width)×\(decoded.height)")
        }
        let missing = try DeployTests.run([Self.mugs, "attention", "--checkpoint", out, "--image", dir + "/none.jpg",
                                           "--out", dir + "/att"], timeout: 60)
        #expect(missing.status != 0 && missing.output.contains("none.jpg"))
    }
}
