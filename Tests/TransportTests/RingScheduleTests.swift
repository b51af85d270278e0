import Foundation
import Testing
@testable import Transport

/// The ring schedule as pure arithmetic: partitions, the forward-what-you-received rule, and a socket-free
/// simulation of the whole algorithm that must give every rank the same bits.
@Suite struct RingScheduleTests {
    static let counts = [0, 1, 2, 3, 15, 16, 17, 100, 1000, 4097, 65_536 + 5]

    @Test func chunksPartitionTheBufferOn64ByteBoundaries() {
        for n in 1 ... 7 {
            for count in Self.counts {
                var next = 0
                for c in 0 ..< n {
                    let r = RingSchedule.chunkRange(c, size: n, count: count)
                    #expect(r.lowerBound == next)
                    #expect(c == n - 1 ? r.upperBound == count : r.upperBound % 16 == 0)
                    next = r.upperBound
                }
                #expect(next == count)
            }
        }
    }

    @Test func everySendForwardsWhatWasReceivedOneStepEarlier() {
        for n in 2 ... 6 {
            for count in Self.counts {
                var s = RingSchedule(rank: 1 % n, size: n)
                s.configureAllReduce(count: count, segmentBytes: 256)
                let S = s.segmentsPerStep
                #expect(s.itemCount == 2 * (n - 1) * S)
                for i in S ..< s.itemCount { #expect(s.sendRange(item: i) == s.receiveRange(item: i - S)) }
                // The all-gather receive of item i overwrites exactly what send `hazard(i)` read.
                for i in 0 ..< s.itemCount {
                    if let h = s.hazard(item: i) { #expect(s.sendRange(item: h) == s.receiveRange(item: i)) }
                }
                // Segments of each block tile it.
                for b in 0 ..< n {
                    var covered = 0
                    for j in 0 ..< S { covered += s.segment(block: b, j).count }
                    #expect(covered == s.blockStarts[b + 1] - s.blockStarts[b])
                }
            }
        }
    }

    /// Runs the schedule for all ranks in lock step on plain arrays: all ranks end identical and each element is the
    /// fixed-order Float32 sum x[c] + x[c+1] + … of its chunk c.
    @Test func simulatedRingGivesIdenticalFixedOrderSums() {
        for n in 1 ... 6 {
            for count in [0, 1, 7, 33, 1000, 2049] {
                let inputs = (0 ..< n).map { r in (0 ..< count).map { Float(sin(Double(r * 1009 + $0))) * 1e3 } }
                var bufs = inputs
                let schedules = (0 ..< n).map { r -> RingSchedule in
                    var s = RingSchedule(rank: r, size: n)
                    s.configureAllReduce(count: count, segmentBytes: 128)
                    return s
                }
                for i in 0 ..< schedules[0].itemCount {
                    let t = i / schedules[0].segmentsPerStep
                    let sent = (0 ..< n).map { r -> [Float] in
                        let rg = schedules[r].sendRange(item: i)
                        return Array(bufs[r][rg.lowerBound / 4 ..< rg.upperBound / 4])
                    }
                    for r in 0 ..< n {
                        let rg = schedules[r].receiveRange(item: i)
                        let payload = sent[(r + n - 1) % n]
                        #expect(payload.count * 4 == rg.count)
                        for (k, v) in payload.enumerated() {
                            let at = rg.lowerBound / 4 + k
                            bufs[r][at] = schedules[r].receiveAdds(t) ? bufs[r][at] + v : v
                        }
                    }
                }
                for r in 1 ..< n { #expect(bufs[r].map { $0.bitPattern } == bufs[0].map { $0.bitPattern }) }
                for c in 0 ..< n {
                    for e in RingSchedule.chunkRange(c, size: n, count: count) {
                        var sum = inputs[c][e]
                        for k in 1 ..< n { sum = sum + inputs[(c + k) % n][e] }
                        #expect(bufs[0][e].bitPattern == sum.bitPattern)
                    }
                }
            }
        }
    }

    @Test func reduceKernelAddsFromAnyAlignment() {
        let n = 103
        let dst = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 4 * n + 8, alignment: 16)
        defer { dst.deallocate(); raw.deallocate() }
        for misalign in 0 ..< 4 {
            for i in 0 ..< n {
                dst[i] = Float(i) * 0.1
                raw.storeBytes(of: Float(i) * -0.37 + 1, toByteOffset: misalign + 4 * i, as: Float.self)
            }
            ReduceKernel.add(dst, raw + misalign, n)
            for i in 0 ..< n { #expect(dst[i].bitPattern == (Float(i) * 0.1 + (Float(i) * -0.37 + 1)).bitPattern) }
        }
    }
}
