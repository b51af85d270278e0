/// Deterministic per-sample randomness. A generator is a pure function of (seed, epoch, sample index,
/// stream), never of which worker or batch position handles the sample, so 1 worker and N workers see
/// the same crops and stochastic-depth masks, and a redone step replays them exactly.
///
/// Seeding: SplitMix64 mixes the key into the 256-bit state of xoshiro256** (Blackman & Vigna 2018).
public struct SampleRNG: Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// Named independent streams of one sample's randomness.
    public enum Stream: UInt64, Sendable {
        case augmentation = 1
        case stochasticDepth = 2
        case other = 3
    }

    public init(seed: UInt64, epoch: UInt64, index: UInt64, stream: Stream) {
        self.init(key: [seed, epoch, index, stream.rawValue])
    }

    /// A generator keyed by any sequence of integers.
    public init(key: [UInt64]) {
        var x = SplitMix64(state: 0x6D75_6773_5F72_6E67) // "mugs_rng"
        for k in key { x = SplitMix64(state: x.next() ^ k); _ = x.next() }
        s0 = x.next(); s1 = x.next()
        s2 = x.next(); s3 = x.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// xoshiro256**: next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = SampleRNG.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = SampleRNG.rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [a, b).
    public mutating func uniform(_ a: Double, _ b: Double) -> Double { a + (b - a) * uniform() }

    /// True with probability p.
    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    /// Uniform integer in 0..<n (Lemire's nearly-divisionless rejection; unbiased).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0, "int(below:) needs n > 0")
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    /// Standard normal (Box–Muller, one value per call).
    public mutating func normal() -> Double {
        var u = uniform()
        while u <= 0 { u = uniform() }
        let v = uniform()
        return (-2 * _log(u)).squareRoot() * _cos(2 * Double.pi * v)
    }

    /// A 64-bit seed for a sub-generator (e.g. a per-block stochastic-depth key).
    public mutating func seed() -> UInt64 { next() }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
