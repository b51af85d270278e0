import Foundation
import Testing
@testable import MugsModel

@Suite struct LossesTests {
    let pool = ComputePool(threads: 2)

    static func unitRows(_ p: UnsafeMutablePointer<Float>, rows: Int, D: Int, key: UInt64) {
        ObjectiveFD.fill(p, rows * D, scale: 1, key: key)
        for r in 0 ..< rows {
            var s: Float = 0
            for c in 0 ..< D { s += p[r * D + c] * p[r * D + c] }
            for c in 0 ..< D { p[r * D + c] /= s.squareRoot() }
        }
    }

    /// The reference's loop, in Double: 0.5·(mean over large pairs + mean over small pairs) per image.
    static func naiveInfoNCE(_ S: [Float], _ U: [Float], _ Q: [Float], b: Int, L: Int, D: Int, K: Int,
                             tau: Double) -> [Double] {
        let nS = 2 + L
        var out = [Double](repeating: 0, count: b)
        for i in 0 ..< b {
            var large = 0.0, small = 0.0, nl = 0, ns = 0
            for t in 0 ..< 2 {
                for v in 0 ..< nS where v != t {
                    func dot(_ a: [Float], _ ao: Int, _ bb: [Float], _ bo: Int) -> Double {
                        (0 ..< D).reduce(0.0) { $0 + Double(a[ao + $1]) * Double(bb[bo + $1]) }
                    }
                    let s0 = (v * b + i) * D
                    let logits = [dot(S, s0, U, (t * b + i) * D) / tau] + (0 ..< K).map { dot(S, s0, Q, $0 * D) / tau }
                    let m = logits.max()!
                    let lse = m + log(logits.reduce(0.0) { $0 + exp($1 - m) })
                    if v < 2 { large += lse - logits[0]; nl += 1 } else { small += lse - logits[0]; ns += 1 }
                }
            }
            out[i] = 0.5 * (large / Double(nl) + small / Double(ns))
        }
        return out
    }

    @Test func infoNCEMatchesReferenceLoopAndFiniteDifferences() {
        let (b, L, D, K) = (3, 2, 6, 10)
        let nS = 2 + L
        let tau: Float = 0.2
        let S = ScratchBuffer(nS * b * D), U = ScratchBuffer(2 * b * D), Q = ScratchBuffer(K * D)
        Self.unitRows(S.p, rows: nS * b, D: D, key: 1)
        Self.unitRows(U.p, rows: 2 * b, D: D, key: 2)
        Self.unitRows(Q.p, rows: K, D: D, key: 3)
        let loss = InfoNCELoss(maxImages: b, localCrops: L, K: K, D: D)
        var per = [Double](repeating: 0, count: b)
        let dS = ScratchBuffer(nS * b * D)
        let scale: Float = 1 / Float(b)
        per.withUnsafeMutableBufferPointer {
            loss.forwardBackward(sampleLoss: $0.baseAddress!, dStudent: dS.p, student: S.p, teacher: U.p, queue: Q.p,
                                 temperature: tau, gradScale: scale, b: b, pool: pool)
        }
        let ref = Self.naiveInfoNCE(S.array(), U.array(), Q.array(), b: b, L: L, D: D, K: K, tau: Double(tau))
        for i in 0 ..< b { #expect(abs(per[i] - ref[i]) < 1e-5, "image \(i): \(per[i]) vs \(ref[i])") }
        func f() -> Double {
            var p = [Double](repeating: 0, count: b)
            p.withUnsafeMutableBufferPointer {
                loss.forwardBackward(sampleLoss: $0.baseAddress!, dStudent: nil, student: S.p, teacher: U.p,
                                     queue: Q.p, temperature: tau, gradScale: 0, b: b, pool: pool)
            }
            return p.reduce(0, +) / Double(b)
        }
        ObjectiveFD.expectClose("infoNCE dS", ObjectiveFD.directional(S.p, nS * b * D, grad: dS.p, eps: 1e-2,
                                                                       key: 4, f: f), rel: 1e-2, abs: 1e-5)
    }

    @Test func infoNCEIsPerSampleSeparable() {
        let (b, L, D, K) = (3, 1, 4, 7)
        let nS = 2 + L
        let S = ScratchBuffer(nS * b * D), U = ScratchBuffer(2 * b * D), Q = ScratchBuffer(K * D)
        Self.unitRows(S.p, rows: nS * b, D: D, key: 5)
        Self.unitRows(U.p, rows: 2 * b, D: D, key: 6)
        Self.unitRows(Q.p, rows: K, D: D, key: 7)
        let loss = InfoNCELoss(maxImages: b, localCrops: L, K: K, D: D)
        func run() -> [Double] {
            var p = [Double](repeating: 0, count: b)
            p.withUnsafeMutableBufferPointer {
                loss.forwardBackward(sampleLoss: $0.baseAddress!, dStudent: nil, student: S.p, teacher: U.p,
                                     queue: Q.p, temperature: 0.2, gradScale: 0, b: b, pool: pool)
            }
            return p
        }
        let before = run()
        // change everything about image 1 only
        for v in 0 ..< nS { for c in 0 ..< D { S.p[(v * b + 1) * D + c] *= -1 } }
        for t in 0 ..< 2 { for c in 0 ..< D { U.p[(t * b + 1) * D + c] = U.p[(t * b + 2) * D + c] } }
        let after = run()
        #expect(before[0] == after[0] && before[2] == after[2])
        #expect(before[1] != after[1])
    }

    static func naiveClustering(_ S: [Float], _ T: [Float], _ c: [Float], b: Int, L: Int, P: Int, tauS: Double,
                                tauT: Double) -> [Double] {
        let nS = 2 + L
        func softmax(_ x: [Double]) -> [Double] {
            let m = x.max()!; let e = x.map { exp($0 - m) }; let s = e.reduce(0, +); return e.map { $0 / s }
        }
        var out = [Double](repeating: 0, count: b)
        for i in 0 ..< b {
            var large = 0.0, small = 0.0, nl = 0, ns = 0
            for t in 0 ..< 2 {
                let q = softmax((0 ..< P).map { (Double(T[(t * b + i) * P + $0]) - Double(c[$0])) / tauT })
                for v in 0 ..< nS where v != t {
                    let p = softmax((0 ..< P).map { Double(S[(v * b + i) * P + $0]) / tauS })
                    let term = -(0 ..< P).reduce(0.0) { $0 + q[$1] * log(p[$1]) }
                    if v < 2 { large += term; nl += 1 } else { small += term; ns += 1 }
                }
            }
            out[i] = 0.5 * (large / Double(nl) + small / Double(ns))
        }
        return out
    }

    @Test func clusteringMatchesReferenceLoopAndFiniteDifferences() {
        let (b, L, P) = (3, 2, 17)
        let nS = 2 + L
        let S = ScratchBuffer(nS * b * P), T = ScratchBuffer(2 * b * P), c = ScratchBuffer(P)
        ObjectiveFD.fill(S.p, nS * b * P, scale: 0.5, key: 8)
        ObjectiveFD.fill(T.p, 2 * b * P, scale: 0.5, key: 9)
        ObjectiveFD.fill(c.p, P, scale: 0.1, key: 10)
        let loss = ClusteringLoss(maxImages: b, localCrops: L, P: P)
        var per = [Double](repeating: 0, count: b)
        let dS = ScratchBuffer(nS * b * P)
        per.withUnsafeMutableBufferPointer {
            loss.forwardBackward(sampleLoss: $0.baseAddress!, dStudent: dS.p, student: S.p, teacher: T.p,
                                 center: c.p, studentTemperature: 0.1, teacherTemperature: 0.04,
                                 gradScale: 1 / Float(b), b: b, pool: pool)
        }
        let ref = Self.naiveClustering(S.array(), T.array(), c.array(), b: b, L: L, P: P, tauS: 0.1, tauT: 0.04)
        for i in 0 ..< b { #expect(abs(per[i] - ref[i]) < 1e-4 * max(1, abs(ref[i])), "\(per[i]) vs \(ref[i])") }
        func f() -> Double {
            var p = [Double](repeating: 0, count: b)
            p.withUnsafeMutableBufferPointer {
                loss.forwardBackward(sampleLoss: $0.baseAddress!, dStudent: nil, student: S.p, teacher: T.p,
                                     center: c.p, studentTemperature: 0.1, teacherTemperature: 0.04,
                                     gradScale: 0, b: b, pool: pool)
            }
            return p.reduce(0, +) / Double(b)
        }
        ObjectiveFD.expectClose("clustering dS", ObjectiveFD.directional(S.p, nS * b * P, grad: dS.p, eps: 1e-3,
                                                                         key: 11, f: f), rel: 1e-2, abs: 1e-4)
    }

    @Test func pairWeightsFollowTheReferenceAverages() {
        // 2 large pairs at 1/4, 2L small pairs at 1/(4L): total weight 1 per image.
        for L in 1 ... 10 {
            var total: Float = 0
            for t in 0 ..< 2 { for v in 0 ..< 2 + L { total += CropPairs.weight(teacher: t, student: v, localCrops: L) } }
            #expect(abs(total - 1) < 1e-6)
        }
        #expect(CropPairs.weight(teacher: 0, student: 1, localCrops: 6) == 0.25)
        #expect(CropPairs.weight(teacher: 1, student: 1, localCrops: 6) == 0)
        #expect(CropPairs.weight(teacher: 1, student: 4, localCrops: 6) == Float(0.5) / 12)
    }
}
