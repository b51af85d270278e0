import Foundation
import MugsData
@testable import MugsEval
import MugsModel
import Sampling
import Testing

@Suite struct LinearProbeTests {
    let pool = ComputePool(threads: 2)

    /// Three linearly separable classes in 4-d: the probe reaches 100 % and its loss falls.
    @Test func separableClassesAreLearned() throws {
        var rng = SampleRNG(key: [1, 2, 3])
        func draw(_ n: Int) throws -> FeatureSet {
            var f: [Float] = [], l: [Int] = []
            for i in 0 ..< n {
                let c = i % 3
                var x = (0 ..< 4).map { _ in Float(rng.normal() * 0.3) }
                x[c] += 3
                f += x; l.append(c)
            }
            return try FeatureSet(features: f, labels: l, dim: 4)
        }
        let train = try draw(300), val = try draw(90)
        var s = LinearProbeSettings()
        s.epochs = 30; s.lr = 0.5; s.batchSize = 32
        let (_, history) = try LinearProbe.run(train: train, val: val, settings: s, pool: pool)
        #expect(history.count == 30)
        #expect(history.last!.top1 == 100)
        #expect(history.last!.trainLoss < history.first!.trainLoss / 4)
        // cosine schedule: lr(0) = base, decreasing, lr(last) = base·(1 + cos(π·29/30))/2
        let base = 0.5 * 32 / 256
        #expect(abs(history[0].lr - base) < 1e-12)
        #expect(abs(history[29].lr - base * (1 + cos(Double.pi * 29 / 30)) / 2) < 1e-12)
    }

    /// The classifier's features for n = 1 last block are the kNN feature: the final norm of the last block's
    /// [CLS] is the backbone's normed output token 0. For n = 2 the last C values are those again.
    @Test func lastBlockFeaturesMatchTheClsFeature() throws {
        let source = try BackboneSource.open(EvalFixtures.path("import_mugs.safetensors"))
        let fixture = try EvalFixtures.file("export.safetensors")
        let images = try fixture.tensor("images").data
        let cls = try FeatureExtractor(embedder: source.makeEmbedder(), kind: .cls, batch: 4, pool: pool)
        let one = try FeatureExtractor(embedder: source.makeEmbedder(), kind: .lastBlocks(n: 1, avgpool: false),
                                       batch: 4, pool: pool)
        let two = try FeatureExtractor(embedder: source.makeEmbedder(), kind: .lastBlocks(n: 2, avgpool: true),
                                       batch: 4, pool: pool)
        let a = try cls.forward(images, n: 4), b = try one.forward(images, n: 4), c = try two.forward(images, n: 4)
        // Same arithmetic through two paths, but OpenBLAS's thread count is process-wide and other tests running
        // concurrently change it, which changes sgemm's rounding: allow ~10 float32 ulps of these O(1–10) values.
        #expect(EvalFixtures.maxDiff(a, b) < 1e-5)
        #expect(c.count == 4 * 48 * 3)
        for i in 0 ..< 4 {
            #expect(EvalFixtures.maxDiff(Array(c[i * 144 + 48 ..< i * 144 + 96]), Array(a[i * 48 ..< i * 48 + 48])) < 1e-5)
            #expect(EvalFixtures.maxDiff(Array(c[i * 144 ..< i * 144 + 48]), Array(a[i * 48 ..< i * 48 + 48])) > 1e-3,
                    "block 1's [CLS] should differ from the last block's")
        }
        #expect(throws: EvalError.self) {
            try FeatureExtractor(embedder: source.makeEmbedder(), kind: .lastBlocks(n: 4, avgpool: false), pool: pool)
        }
    }

    /// Cross-entropy gradient of the probe (weight and bias) against central finite differences in Float64.
    @Test func gradientMatchesFiniteDifferences() throws {
        let set = try FeatureSet(features: [0.5, -1, 2, 0.3, 1.5, 0.2, -0.7, 0.9, 0.1], labels: [0, 2, 1], dim: 3)
        let probe = LinearProbe(classes: 3, dim: 3, seed: 4)
        let (loss, gW, gB) = probe.gradients(set, rows: [0, 1, 2])
        var worst: Double = 0
        for i in 0 ..< 9 { worst = max(worst, abs(Double(gW[i]) - Self.finiteDifference(probe, set: set, index: i))) }
        for k in 0 ..< 3 {
            worst = max(worst, abs(Double(gB[k]) - Self.finiteDifference(probe, set: set, index: 9 + k)))
        }
        print("linear probe gradient vs finite differences: max |diff| \(worst)")
        #expect(worst < 1e-5)
        #expect(abs(loss - log(3)) < 0.05, "N(0, 0.01²) weights give a loss near log(classes), got \(loss)")
    }

    /// ∂loss/∂θ by central differences in Float64; θ = W[index] for index < 9, else bias[index − 9].
    static func finiteDifference(_ p: LinearProbe, set: FeatureSet, index: Int) -> Double {
        func loss(_ delta: Double) -> Double {
            var total = 0.0
            for r in 0 ..< set.count {
                var logits = [Double](repeating: 0, count: 3)
                for k in 0 ..< 3 {
                    logits[k] = Double(p.bias[k]) + (9 + k == index ? delta : 0)
                    for c in 0 ..< 3 {
                        let w = Double(p.weight[k * 3 + c]) + (k * 3 + c == index ? delta : 0)
                        logits[k] += w * Double(set.features[r * 3 + c])
                    }
                }
                let m = logits.max()!, z = logits.reduce(0) { $0 + exp($1 - m) }
                total -= logits[set.labels[r]] - m - log(z)
            }
            return total / Double(set.count)
        }
        let h = 1e-4
        return (loss(h) - loss(-h)) / (2 * h)
    }
}

extension LinearProbeTests {
    /// The loss stays finite when the softmax of the true class underflows (weights ~0.01 × features 1e5: logits
    /// about a thousand apart, exp of which is 0 in Float).
    @Test func lossIsFiniteForLargeLogits() throws {
        let set = try FeatureSet(features: [100_000, -100_000], labels: [1, 0], dim: 1)
        let probe = LinearProbe(classes: 2, dim: 1, seed: 0)
        let (loss, _, _) = probe.gradients(set, rows: [0, 1])
        #expect(loss.isFinite)
    }
}
