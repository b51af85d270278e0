import Foundation
import MugsModel
import Sampling

/// Settings of the linear probe (defaults: the reference's `eval_linear.py`).
public struct LinearProbeSettings: Sendable {
    public var epochs = 100
    /// Learning rate for a batch of 256, scaled linearly with `batchSize` (`args.lr * batch / 256`).
    public var lr = 0.001
    public var lrMin = 0.0
    public var batchSize = 256
    public var momentum = 0.9
    public var seed: UInt64 = 0
    /// Evaluate on the validation set every `valEvery` epochs (and after the last).
    public var valEvery = 1
    public init() {}
}

/// One epoch's numbers.
public struct LinearProbeEpoch: Sendable, Codable {
    public let epoch: Int
    public let lr: Double
    public let trainLoss: Double
    /// Validation accuracies in percent, when evaluated this epoch.
    public let top1: Double?
    public let top5: Double?
}

/// A linear classifier on frozen features (DINO/Mugs `eval_linear.py`): `nn.Linear(D, classes)` initialised
/// N(0, 0.01²) with zero bias, cross-entropy, SGD with momentum 0.9 and no weight decay, the learning rate
/// `lr · batch / 256` annealed by a cosine over the epochs (`CosineAnnealingLR(T_max = epochs, eta_min)`, stepped
/// once per epoch); reports the validation top-1 of every epoch and the best (what the reference prints).
///
/// The features are computed once and cached (`FeatureCache`), so an epoch is a pass over a matrix. The one
/// deliberate difference: the reference augments the train images each epoch (RandAugment crops); cached
/// features are of the eval transform, the usual fast protocol (its numbers run a little lower).
public final class LinearProbe {
    public let classes: Int, dim: Int
    /// Weight (classes, D) and bias (classes), PyTorch's layout.
    public private(set) var weight: [Float]
    public private(set) var bias: [Float]

    public init(classes: Int, dim: Int, seed: UInt64) {
        self.classes = classes; self.dim = dim
        var rng = SampleRNG(key: [seed, 0x6c_696e_6561_72])    // "linear"
        weight = (0 ..< classes * dim).map { _ in Float(rng.normal() * 0.01) }
        bias = [Float](repeating: 0, count: classes)
    }

    /// Trains on `train` and evaluates on `val` as set; `log` receives each epoch.
    public static func run(train: FeatureSet, val: FeatureSet, settings s: LinearProbeSettings, pool: ComputePool,
                           log: ((LinearProbeEpoch) -> Void)? = nil) throws(EvalError) -> (probe: LinearProbe,
                                                                                            epochs: [LinearProbeEpoch]) {
        guard train.dim == val.dim else {
            throw EvalError(.input, "train features have dimension \(train.dim), validation \(val.dim)")
        }
        guard train.count >= 1, val.count >= 1 else { throw EvalError(.input, "empty train or validation features") }
        guard s.epochs >= 1, s.batchSize >= 1, s.lr > 0, s.valEvery >= 1 else {
            throw EvalError(.configuration, "epochs, batch size, lr and val-every must be positive")
        }
        let classes = max(train.classCount, val.classCount)
        let probe = LinearProbe(classes: classes, dim: train.dim, seed: s.seed)
        let base = s.lr * Double(s.batchSize) / 256
        var history: [LinearProbeEpoch] = []
        var momentumW = [Float](repeating: 0, count: classes * train.dim), momentumB = [Float](repeating: 0, count: classes)
        var order = Array(0 ..< train.count)
        var first = true
        for epoch in 0 ..< s.epochs {
            // CosineAnnealingLR: eta_min + (base − eta_min)(1 + cos(π·epoch/T_max))/2
            let lr = s.lrMin + (base - s.lrMin) * (1 + cos(Double.pi * Double(epoch) / Double(s.epochs))) / 2
            var rng = SampleRNG(key: [s.seed, 0x7368_7566, UInt64(epoch)])     // "shuf"
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
            var lossSum = 0.0
            var start = 0
            while start < order.count {
                let rows = Array(order[start ..< min(start + s.batchSize, order.count)])
                let (loss, gW, gB) = probe.gradients(train, rows: rows)
                lossSum += loss * Double(rows.count)
                // SGD with momentum (PyTorch): buf = m·buf + g (buf = g on the first step); θ −= lr·buf
                let m = Float(first ? 0 : s.momentum), step = Float(lr)
                for i in momentumW.indices { momentumW[i] = m * momentumW[i] + gW[i]; probe.weight[i] -= step * momentumW[i] }
                for i in momentumB.indices { momentumB[i] = m * momentumB[i] + gB[i]; probe.bias[i] -= step * momentumB[i] }
                first = false
                start += s.batchSize
            }
            var top1: Double?, top5: Double?
            if (epoch + 1) % s.valEvery == 0 || epoch == s.epochs - 1 {
                (top1, top5) = probe.accuracy(val, pool: pool)
            }
            let record = LinearProbeEpoch(epoch: epoch, lr: lr, trainLoss: lossSum / Double(order.count),
                                          top1: top1, top5: top5)
            history.append(record)
            log?(record)
        }
        return (probe, history)
    }

    /// logits(B, K) = X(B, D) · Wᵀ(D, K) + b.
    func logits(_ set: FeatureSet, rows: [Int]) -> [Float] {
        let D = dim, K = classes, B = rows.count
        var x = [Float](repeating: 0, count: B * D), out = [Float](repeating: 0, count: B * K)
        for (r, i) in rows.enumerated() { for c in 0 ..< D { x[r * D + c] = set.features[i * D + c] } }
        for r in 0 ..< B { for k in 0 ..< K { out[r * K + k] = bias[k] } }
        // out(B,K) += X(B,D) · Wᵀ(D,K)
        BLAS.sgemm(transB: true, M: B, N: K, K: D, A: x, lda: D, B: weight, ldb: D, beta: 1, C: &out, ldc: K)
        return out
    }

    /// Mean cross-entropy over `rows` and its gradients (K, D), (K).
    func gradients(_ set: FeatureSet, rows: [Int]) -> (Double, [Float], [Float]) {
        let D = dim, K = classes, B = rows.count
        var p = logits(set, rows: rows)
        var loss = 0.0
        for r in 0 ..< B {
            let row = r * K
            var mx = -Float.infinity
            for k in 0 ..< K { mx = max(mx, p[row + k]) }
            let y = set.labels[rows[r]], zy = p[row + y] - mx
            var sum: Float = 0
            for k in 0 ..< K { p[row + k] = expf(p[row + k] - mx); sum += p[row + k] }
            loss -= Double(zy) - log(Double(sum))            // −log softmax_y, stable for any logit range
            // dlogits = (softmax − onehot) / B
            for k in 0 ..< K { p[row + k] = (p[row + k] / sum - (k == y ? 1 : 0)) / Float(B) }
        }
        var x = [Float](repeating: 0, count: B * D)
        for (r, i) in rows.enumerated() { for c in 0 ..< D { x[r * D + c] = set.features[i * D + c] } }
        var gW = [Float](repeating: 0, count: K * D), gB = [Float](repeating: 0, count: K)
        // gW(K,D) = dlogitsᵀ(K,B) · X(B,D)
        BLAS.sgemm(transA: true, M: K, N: D, K: B, A: p, lda: K, B: x, ldb: D, C: &gW, ldc: D)
        for r in 0 ..< B { for k in 0 ..< K { gB[k] += p[r * K + k] } }
        return (loss / Double(B), gW, gB)
    }

    /// Top-1 and top-5 accuracy (percent) on `set` (ties: the lower class index ranks first).
    public func accuracy(_ set: FeatureSet, pool: ComputePool, batch: Int = 1024) -> (Double, Double) {
        var c1 = 0, c5 = 0, start = 0
        let K = classes
        while start < set.count {
            let rows = Array(start ..< min(start + batch, set.count))
            let out = logits(set, rows: rows)
            for (r, i) in rows.enumerated() {
                let y = set.labels[i], mine = out[r * K + y]
                var rank = 0
                for k in 0 ..< K where out[r * K + k] > mine || (out[r * K + k] == mine && k < y) { rank += 1 }
                if rank < 1 { c1 += 1 }
                if rank < min(5, K) { c5 += 1 }
            }
            start += batch
        }
        return (100 * Double(c1) / Double(set.count), 100 * Double(c5) / Double(set.count))
    }
}
