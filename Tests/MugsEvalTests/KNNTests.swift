import Foundation
import MugsEval
import MugsData
import MugsModel
import Testing

@Suite struct KNNTests {
    let pool = ComputePool(threads: 2)

    /// Unit vectors at the given angles (degrees).
    func circle(_ degrees: [Double], labels: [Int]) throws -> FeatureSet {
        let values = degrees.flatMap { d -> [Float] in
            let r = d * .pi / 180
            return [Float(cos(r)), Float(sin(r))]
        }
        return try FeatureSet(features: values, labels: labels, dim: 2)
    }

    /// Train: class 0 at 0°, 10°, 20°; class 1 at 90°, 100°, 110°; class 2 at 180°, 190°. Test: 5° (class 0, its
    /// three nearest are class 0), 95° (class 1, likewise) and 143° (class 2, whose nearest are 110° (1, 33° away),
    /// 180° (2, 37°), 100° (1, 43°)). So k = 1: 2 of 3 right in top-1 and top-"5" (= top-1 when k = 1); k = 3:
    /// class 1 outvotes class 2 at 143° for top-1 (2 of 3) but class 2 is second, inside the top min(5, 3) = 3.
    @Test func knownNeighboursGiveExactAccuracy() throws {
        let train = try circle([0, 10, 20, 90, 100, 110, 180, 190], labels: [0, 0, 0, 1, 1, 1, 2, 2])
        let test = try circle([5, 95, 143], labels: [0, 1, 2])
        let r = try KNNClassifier.evaluate(train: train, test: test, ks: [1, 3], temperature: 0.07, pool: pool)
        #expect(r[0] == KNNResult(k: 1, top1: 200.0 / 3, top5: 200.0 / 3, correct1: 2, correct5: 2, total: 3))
        #expect(r[1] == KNNResult(k: 3, top1: 200.0 / 3, top5: 100, correct1: 2, correct5: 3, total: 3))
        // Scaling a feature does not change cosine neighbours (features are L2-normalised first).
        var scaled = test
        for i in scaled.features.indices { scaled.features[i] *= 7 }
        #expect(try KNNClassifier.evaluate(train: train, test: scaled, ks: [1, 3], pool: pool) == r)
    }

    /// The vote weights matter. With a class-2 point at 145° (2° from the query at 143°) and T = 0.07, that one
    /// neighbour outweighs the two class-1 ones (exp(cos 2°/T) against exp(cos 33°/T) + exp(cos 43°/T)). With it at
    /// 175° (32° away, still the nearest) and T = 100, the weights are nearly equal and the two class-1 votes win;
    /// class 2 is then second, inside the top min(5, 3).
    @Test func voteWeightsFollowExpSimilarityOverT() throws {
        let train = try circle([0, 10, 20, 90, 100, 110, 145, 190], labels: [0, 0, 0, 1, 1, 1, 2, 2])
        let test = try circle([143], labels: [2])
        #expect(try KNNClassifier.evaluate(train: train, test: test, ks: [3], temperature: 0.07, pool: pool)[0]
            .correct1 == 1)
        let far = try circle([0, 10, 20, 90, 100, 110, 175, 190], labels: [0, 0, 0, 1, 1, 1, 2, 2])
        let flat = try KNNClassifier.evaluate(train: far, test: test, ks: [3], temperature: 100, pool: pool)[0]
        #expect(flat.correct1 == 0 && flat.correct5 == 1)
    }

    /// Every (k, T) of the fixture written by tools/make_eval_fixtures.py with the reference's knn_classifier,
    /// exactly, for several query-chunk and train-block sizes (so the batching cannot change a result).
    @Test(arguments: [(256, 8192), (7, 50), (1, 299), (120, 1)])
    func matchesTheReferenceFixture(chunk: Int, block: Int) throws {
        let f = try EvalFixtures.file("knn.safetensors")
        func set(_ x: String, _ y: String) throws -> FeatureSet {
            let shape = f.shape(of: x)!
            return try FeatureSet(features: try f.tensor(x).data, labels: try f.tensor(y).data.map { Int($0) },
                                  dim: shape[1])
        }
        let train = try set("train", "train_labels"), test = try set("test", "test_labels")
        let expected = try JSONSerialization.jsonObject(with: Data(f.metadata["results"]!.utf8)) as! [[String: Any]]
        #expect(expected.count == 14)
        for e in expected {
            let k = e["k"] as! Int, T = e["T"] as! Double
            let got = try KNNClassifier.evaluate(train: train, test: test, ks: [k], temperature: T, pool: pool,
                                                 queryChunk: chunk, trainBlock: block)[0]
            #expect(got.correct1 == e["correct1"] as! Int && got.correct5 == e["correct5"] as! Int,
                    "k \(k) T \(T): got \(got.correct1)/\(got.correct5), reference \(e["correct1"]!)/\(e["correct5"]!)")
            #expect(abs(got.top1 - (e["top1"] as! Double)) < 1e-9)
        }
    }

    @Test func badInputIsATypedError() throws {
        let a = try FeatureSet(features: [1, 0, 0, 1], labels: [0, 1], dim: 2)
        let b = try FeatureSet(features: [1, 0, 0], labels: [0], dim: 3)
        #expect(throws: EvalError.self) { try KNNClassifier.evaluate(train: a, test: a, ks: [3], pool: pool) }
        #expect(throws: EvalError.self) { try KNNClassifier.evaluate(train: a, test: b, ks: [1], pool: pool) }
        #expect(throws: EvalError.self) {
            try KNNClassifier.evaluate(train: a, test: a, ks: [1], temperature: 0, pool: pool)
        }
        #expect(throws: EvalError.self) { try FeatureSet(features: [1, 2, 3], labels: [0, 1], dim: 2) }
        #expect(throws: EvalError.self) { try FeatureSet(features: [1, 2], labels: [-1], dim: 2) }
    }

    /// Feature files round-trip (features, labels, class names).
    @Test func featureFilesRoundTrip() throws {
        let dir = EvalFixtures.temporaryDirectory("features")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let set = try FeatureSet(features: [1, 2, 3, 4, 5, 6], labels: [2, 0, 1], dim: 2, classNames: ["a", "b", "c"],
                                 metadata: ["dataset": "x"])
        let path = (dir as NSString).appendingPathComponent("f.safetensors")
        try set.write(to: path)
        let back = try FeatureSet.read(path)
        #expect(back.features == set.features && back.labels == set.labels && back.classNames == set.classNames)
        #expect(back.metadata["dataset"] == "x")
        #expect(throws: EvalError.self) { try FeatureSet.read(EvalFixtures.path("export.safetensors")) }
    }
}

/// The online kNN hook gives the same accuracy as extracting the features and running the classifier directly.
@Suite struct OnlineKNNTests {
    @Test(.enabled(if: (try? FashionMNIST.open(split: .test)) != nil, "dataset-fashion-mnist is not installed"))
    func onlineKNNMatchesTheOfflinePath() throws {
        let pool = ComputePool(threads: 2)
        let test = try FashionMNIST.open(split: .test)
        let online = try OnlineKNN(train: test, val: test, trainCount: 200, valCount: 60, k: 10, imageSize: 32,
                                   threads: 2)
        let source = try BackboneSource.open(EvalFixtures.path("import_mugs.safetensors"))
        let embedder = try source.makeEmbedder()
        let got = try online.evaluate(params: embedder.params, architecture: source.architecture)
        let extractor = try FeatureExtractor(embedder: embedder, kind: .cls, imageSize: 32, pool: pool)
        let bank = try extractor.extract(test, limit: 200), queries = try extractor.extract(test, limit: 60)
        let want = try KNNClassifier.evaluate(train: bank, test: queries, ks: [10], pool: pool)[0]
        #expect(got == want)
        #expect(got.total == 60)
    }
}

/// Online kNN's subsets are spread over the dataset (a class-sorted ImageFolder's first images are one class).
@Suite struct DatasetSubsetTests {
    /// 100 images in 10 classes, sorted by class as ImageFolder sorts them.
    final class Sorted: ImageDataset, @unchecked Sendable {
        let spec = "sorted", count = 100, fingerprint = "f"
        let classNames = (0 ..< 10).map { "c\($0)" }
        func label(_ index: Int) -> Int { index / 10 }
        func name(_ index: Int) -> String { "img\(index)" }
        func load(_ index: Int, into image: RGBImage, minimumArea: Int, buffer: inout [UInt8]) throws {}
    }

    @Test func evenlySpacedSubsetsCoverEveryClass() {
        let base = Sorted()
        let s = DatasetSubset.evenlySpaced(base, count: 20)
        #expect(s.count == 20 && s.classNames == base.classNames)
        #expect((0 ..< 20).map { s.name($0) } == (0 ..< 20).map { "img\($0 * 5)" })
        #expect(Set((0 ..< 20).map { s.label($0) }) == Set(0 ..< 10))
        #expect(DatasetSubset.evenlySpaced(base, count: 100) === base && DatasetSubset.evenlySpaced(base, count: 500) === base)
    }
}
