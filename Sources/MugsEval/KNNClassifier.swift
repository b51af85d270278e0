import Foundation
import MugsModel

/// Accuracy of the weighted kNN classifier for one k.
public struct KNNResult: Sendable, Equatable, Codable {
    public let k: Int
    /// Percentages (0–100) of test images whose label is the top prediction / among the top min(5, k).
    public let top1: Double
    public let top5: Double
    public let correct1: Int
    public let correct5: Int
    public let total: Int

    public init(k: Int, top1: Double, top5: Double, correct1: Int, correct5: Int, total: Int) {
        self.k = k; self.top1 = top1; self.top5 = top5
        self.correct1 = correct1; self.correct5 = correct5; self.total = total
    }
}

/// The weighted k-nearest-neighbour classifier of DINO and Mugs (`eval_knn.py`, `knn_classifier`): features
/// L2-normalised, cosine similarity, the k most similar train images vote for their labels with weight
/// exp(sim / T), classes ranked by their summed votes; top-1 counts the first class, top-5 the first min(5, k).
///
/// Ties, which the reference leaves to `topk`/`sort`: equal similarities keep the lower train index; classes with
/// equal votes rank the lower class index first (so a class with no votes can fill the top-5 when fewer than five
/// classes were voted for, as in the reference, where such classes sit at zero).
public enum KNNClassifier {
    /// Evaluates every k of `ks` with one neighbour search (the top max(ks) neighbours serve all k).
    public static func evaluate(train: FeatureSet, test: FeatureSet, ks: [Int], temperature: Double = 0.07,
                                pool: ComputePool, queryChunk: Int = 256,
                                trainBlock: Int = 8192) throws(EvalError) -> [KNNResult] {
        guard !ks.isEmpty else { throw EvalError(.configuration, "no k given") }
        guard train.count >= 1, test.count >= 1 else {
            throw EvalError(.input, "kNN needs train and test features; got \(train.count) train and \(test.count) test")
        }
        guard train.dim == test.dim else {
            throw EvalError(.input, "train features have dimension \(train.dim) but test features \(test.dim); "
                            + "they must come from the same backbone")
        }
        if let bad = ks.first(where: { $0 < 1 || $0 > train.count }) {
            throw EvalError(.configuration, "k = \(bad) must be in 1...\(train.count) (the number of train images)")
        }
        guard temperature > 0, temperature.isFinite else {
            throw EvalError(.configuration, "temperature must be positive, got \(temperature)")
        }
        let classes = max(train.classCount, test.classCount)
        let a = train.l2Normalized(), b = test.l2Normalized()
        let K = ks.max()!, T = Float(temperature)
        var correct1 = [Int](repeating: 0, count: ks.count), correct5 = correct1
        let search = NeighbourSearch(K: K, queryChunk: queryChunk, trainBlock: trainBlock)
        let trainLabels = train.labels.map { Int32($0) }
        a.features.withUnsafeBufferPointer { tr in
            b.features.withUnsafeBufferPointer { te in
                search.run(train: tr.baseAddress!, Ntr: a.count, queries: te.baseAddress!, Nq: b.count, C: a.dim,
                           pool: pool) { q0, rows, sims, idx in
                    var votes = [Float](repeating: 0, count: classes)
                    for i in 0 ..< rows {
                        let target = b.labels[q0 + i]
                        for (n, k) in ks.enumerated() {
                            let rank = Self.rank(of: target, sims: sims + i * K, idx: idx + i * K, k: k,
                                                 labels: trainLabels, T: T, votes: &votes)
                            if rank < 1 { correct1[n] += 1 }
                            if rank < min(5, k) { correct5[n] += 1 }
                        }
                    }
                }
            }
        }
        let total = b.count
        return ks.indices.map { n in
            KNNResult(k: ks[n], top1: 100 * Double(correct1[n]) / Double(total),
                      top5: 100 * Double(correct5[n]) / Double(total), correct1: correct1[n],
                      correct5: correct5[n], total: total)
        }
    }

    /// Position of `target` in the class ranking by summed votes exp(sim/T) of the first k neighbours (0 = top-1):
    /// the number of classes with more votes, or equal votes and a lower index.
    static func rank(of target: Int, sims: UnsafePointer<Float>, idx: UnsafePointer<Int32>, k: Int,
                     labels: [Int32], T: Float, votes: inout [Float]) -> Int {
        for c in votes.indices { votes[c] = 0 }
        for j in 0 ..< k { votes[Int(labels[Int(idx[j])])] += Foundation.exp(sims[j] / T) }
        let mine = target < votes.count ? votes[target] : 0
        var rank = 0
        for c in votes.indices where votes[c] > mine || (votes[c] == mine && c < target) { rank += 1 }
        return rank
    }
}
