import Foundation

/// The per-rank loop of the all-reduce benchmark (shared by `mugs bench allreduce` and RingProbe), timed as
/// nccl-tests and the gloo reference do: per iteration a barrier (a 1-float all-reduce), the timed all-reduce, and
/// the per-op time taken as the maximum over ranks (an all-gather of the times). algbw = bytes / time,
/// busbw = algbw · 2(N−1)/N.
public enum AllReduceBenchmark {
    /// One message size's result (times in seconds, bandwidths in GB/s = 1e9 B/s).
    public struct Row: Sendable {
        public var ranks: Int
        public var bytes: Int
        public var iterations: Int
        public var median: Double
        public var min: Double
        public var max: Double

        public var algbw: Double { Double(bytes) / median / 1e9 }
        public var busbw: Double { algbw * 2 * Double(ranks - 1) / Double(ranks) }

        /// One line: size, time median/min/max in ms, algbw and busbw in GB/s.
        public var line: String {
            func f(_ x: Double, _ d: Int) -> String { String(format: "%.\(d)f", x) }
            return "ranks=\(ranks) size=\(bytes >> 20) MiB iters=\(iterations)  time median \(f(median * 1e3, 2)) ms "
                + "min \(f(min * 1e3, 2)) max \(f(max * 1e3, 2))  algbw \(f(algbw, 2)) GB/s  busbw \(f(busbw, 2)) GB/s"
        }
    }

    /// Runs on one rank: for each size (bytes, a multiple of 4), 2 warm-up and `iterations` timed all-reduces of a
    /// buffer of ones. Every rank returns the same rows. Checks the result (first and last element equal N).
    /// With `refill` (default) the buffer is refilled with ones (untimed) before every iteration and every result is
    /// checked; without it the buffer is filled once and only the first result is checked, so the processes' CPU time
    /// per iteration is the all-reduce's alone, as in gloo_allreduce.py (which never refills).
    public static func run(ring: Ring, sizes: [Int], iterations: Int, refill: Bool = true) throws -> [Row] {
        var rows: [Row] = []
        let barrier = AlignedFloatBuffer(count: 1)
        let times = GatheredBlocks(capacity: 8 * ring.size)
        for bytes in sizes {
            let buffer = AlignedFloatBuffer(count: bytes / 4)
            var samples: [Double] = []
            let n = bytes >= 256 << 20 ? max(3, iterations / 2) : iterations
            for i in 0 ..< 2 + n {
                if refill || i == 0 { buffer.base.update(repeating: 1, count: buffer.count) }
                try ring.allReduce(barrier.buffer, keepingAlive: barrier)
                let t0 = DispatchTime.now().uptimeNanoseconds
                try ring.allReduce(buffer.buffer, keepingAlive: buffer)
                var dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                try withUnsafeBytes(of: &dt) { try ring.allGather($0, into: times) }
                let slowest = (0 ..< ring.size).map { times.block($0).loadUnaligned(as: Double.self) }.max()!
                if i >= 2 { samples.append(slowest) }
                let expected = Float(ring.size), checked = refill || i == 0
                if checked && buffer.count > 0
                    && (buffer.base[0] != expected || buffer.base[buffer.count - 1] != expected) {
                    throw BenchmarkError.wrongResult(bytes: bytes, got: buffer.base[0], expected: expected)
                }
            }
            samples.sort()
            rows.append(Row(ranks: ring.size, bytes: bytes, iterations: n, median: samples[samples.count / 2],
                            min: samples.first!, max: samples.last!))
        }
        return rows
    }

    public enum BenchmarkError: Error, CustomStringConvertible {
        case wrongResult(bytes: Int, got: Float, expected: Float)

        public var description: String {
            switch self {
            case let .wrongResult(bytes, got, expected):
                return "all-reduce of \(bytes) bytes gave \(got), expected \(expected)"
            }
        }
    }
}
