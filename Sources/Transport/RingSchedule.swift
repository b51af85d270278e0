import Wire

/// Which bytes move at each step of a ring collective — pure arithmetic over block boundaries, no sockets, so it
/// is unit-tested on its own. Rank r sends to r+1 and receives from r-1 (mod N).
///
/// All-reduce over N chunks (chunk c starts at c·count/N rounded down to 16 floats): steps t = 0 ..< 2(N-1).
///   reduce-scatter t < N-1:  send chunk (r-t), receive chunk (r-t-1) and add it in place;
///   all-gather  k = t-(N-1): send chunk (r+1-k), receive chunk (r-k) and copy it.
/// After reduce-scatter rank r owns chunk (r+1): its sum went around the ring in the fixed order
/// x[c] + x[c+1] + … + x[c+N-1] starting at rank c, and exactly one rank computed it, so the all-gather makes every
/// rank's bytes identical.
/// All-gather of blocks: steps t = 0 ..< N-1: send block (r-t), receive block (r-t-1) and copy it.
///
/// Every step moves S segments (S = the largest block's segment count; smaller blocks send empty segments), so
/// item i = t·S + j is the same on both ends of a link, and the send of item i (i ≥ S) waits for the receive of
/// item i-S (the data it forwards).
struct RingSchedule {
    enum Kind { case allReduce, allGather }

    let rank: Int
    let size: Int
    private(set) var kind: Kind = .allReduce
    private(set) var phaseOfGather: RingPhase = .gatherBlocks
    /// Byte offsets of the N blocks in the operation's buffer; `blockStarts[N]` is the total.
    private(set) var blockStarts: [Int]
    private(set) var segmentBytes = 64
    private(set) var segmentsPerStep = 1
    private(set) var steps = 0

    init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
        blockStarts = [Int](repeating: 0, count: size + 1)
    }

    var totalBytes: Int { blockStarts[size] }
    var itemCount: Int { steps * segmentsPerStep }

    /// Float range of chunk `c` when `count` floats are all-reduced by `size` ranks.
    static func chunkRange(_ c: Int, size: Int, count: Int) -> Range<Int> {
        func start(_ i: Int) -> Int { i == size ? count : (i * count / size) & ~15 }
        return start(c) ..< start(c + 1)
    }

    /// Prepares an all-reduce of `count` floats in segments of `segmentBytes` (a multiple of 64).
    mutating func configureAllReduce(count: Int, segmentBytes: Int) {
        kind = .allReduce
        for c in 0 ..< size { blockStarts[c] = 4 * Self.chunkRange(c, size: size, count: count).lowerBound }
        blockStarts[size] = 4 * count
        finish(segmentBytes: segmentBytes, steps: 2 * (size - 1))
    }

    /// Prepares an all-gather of blocks with the given byte lengths (rank order).
    mutating func configureAllGather(lengths: UnsafeBufferPointer<Int>, segmentBytes: Int, phase: RingPhase) {
        kind = .allGather
        phaseOfGather = phase
        blockStarts[0] = 0
        for b in 0 ..< size { blockStarts[b + 1] = blockStarts[b] + lengths[b] }
        finish(segmentBytes: segmentBytes, steps: size - 1)
    }

    private mutating func finish(segmentBytes: Int, steps: Int) {
        self.segmentBytes = segmentBytes
        self.steps = steps
        var s = 1
        for b in 0 ..< size {
            let len = blockStarts[b + 1] - blockStarts[b]
            s = max(s, (len + segmentBytes - 1) / segmentBytes)
        }
        segmentsPerStep = s
    }

    private func mod(_ x: Int) -> Int { ((x % size) + size) % size }

    /// Block sent at step `t`.
    func sendBlock(_ t: Int) -> Int {
        if kind == .allReduce && t >= size - 1 { return mod(rank + 1 - (t - (size - 1))) }
        return mod(rank - t)
    }

    /// Block received at step `t`.
    func receiveBlock(_ t: Int) -> Int {
        if kind == .allReduce && t >= size - 1 { return mod(rank - (t - (size - 1))) }
        return mod(rank - t - 1)
    }

    /// Whether the receive at step `t` adds into the buffer (reduce-scatter) rather than copying.
    func receiveAdds(_ t: Int) -> Bool { kind == .allReduce && t < size - 1 }

    func phase(_ t: Int) -> RingPhase {
        if kind == .allGather { return phaseOfGather }
        return t < size - 1 ? .reduceScatter : .allGather
    }

    /// Byte range of segment `j` of block `b` (empty when the block has fewer segments).
    func segment(block b: Int, _ j: Int) -> Range<Int> {
        let lo = blockStarts[b], hi = blockStarts[b + 1]
        let start = min(hi, lo + j * segmentBytes)
        return start ..< min(hi, start + segmentBytes)
    }

    func sendRange(item i: Int) -> Range<Int> { segment(block: sendBlock(i / segmentsPerStep), i % segmentsPerStep) }
    func receiveRange(item i: Int) -> Range<Int> {
        segment(block: receiveBlock(i / segmentsPerStep), i % segmentsPerStep)
    }

    /// The earlier send whose bytes the receive of item `i` overwrites (it must be released by libzmq first), or
    /// nil. In an all-reduce the all-gather receive of chunk (r-k) overwrites what reduce-scatter step k sent.
    func hazard(item i: Int) -> Int? {
        let t = i / segmentsPerStep
        guard kind == .allReduce, t >= size - 1 else { return nil }
        return (t - (size - 1)) * segmentsPerStep + i % segmentsPerStep
    }

    /// The item after whose receive this rank's owned chunk (r+1) is fully reduced: the last of step N-2.
    var ownedChunkCompleteItem: Int { (size - 1) * segmentsPerStep - 1 }
}
