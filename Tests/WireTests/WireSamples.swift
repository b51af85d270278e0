import Sampling
import Wire

/// One envelope of every message type, with awkward values (empty strings, non-ASCII, extremes).
let sampleEnvelopes: [Envelope] = [
    Envelope(jobID: 1, generation: 2, step: 3, sender: 4, message: .join(Join(
        workerID: "node-7:4242", host: "nöde-7", dataEndpoint: "tcp://[fe80::1]:5601", cores: 64, cachedStep: nil,
        gemm: "onednn (oneDNN 2.6.3, avx512_core_bf16)", precisions: "fp32,bf16"))),
    Envelope(jobID: .max, generation: 0, step: .max, sender: .max, message: .join(Join(
        workerID: "", host: "", dataEndpoint: "", cores: 0, cachedStep: 0, precisions: "",
        precisionNote: "precision bf16 needs AVX512_BF16 — «ö»"))),
    Envelope(jobID: 9, generation: 9, step: 100, sender: 1, message: .heartbeat(Heartbeat(
        workerID: "w1", cachedStep: 99, imagesPerSecond: 123.5, gemmGflopPerSecond: 217.25))),
    Envelope(jobID: 9, generation: 10, step: 101, message: .stepPlan(StepPlan(epoch: 3, batchSize: 256, ranks: [
        RankSlot(workerID: "a", dataEndpoint: "tcp://10.0.0.1:5601", sampleStart: 1000, sampleCount: 86),
        RankSlot(workerID: "b", dataEndpoint: "tcp://10.0.0.2:5601", sampleStart: 1086, sampleCount: 85),
        RankSlot(workerID: "c", dataEndpoint: "ipc:///tmp/c", sampleStart: 1171, sampleCount: 85),
    ]))),
    Envelope(jobID: 9, generation: 10, step: 0, message: .stepPlan(StepPlan(epoch: 0, batchSize: 0, ranks: []))),
    Envelope(jobID: 9, generation: 10, step: 101, message: .commit(Commit(stateHash: 0xDEAD_BEEF_0123_4567))),
    Envelope(jobID: 9, generation: 10, step: 5, message: .stateTransfer(StateTransfer(
        section: "student", offset: 4096, totalCount: 1 << 40,
        values: [1, -2.5, .infinity, -0.0, .leastNonzeroMagnitude]))),
    Envelope(jobID: 9, generation: 10, step: 5, message: .stateTransfer(StateTransfer(
        section: "adam.v", offset: 0, totalCount: 0, values: []))),
    Envelope(jobID: 9, generation: 10, step: 6, sender: 2, message: .reducedChunk(ReducedChunk(
        offset: 16, totalCount: 48, values: (0 ..< 32).map { Float($0) * 0.25 }))),
    Envelope(jobID: 5, generation: 6, sender: 1, message: .ringHello(RingHello(ringSize: 4))),
    Envelope(jobID: 5, generation: 6, step: 7, sender: 1, message: .ringCredit(RingCredit(upTo: 123_456_789))),
    Envelope(jobID: 5, generation: 6, step: 7, sender: 3, message: .ringSegment(RingSegment(
        phase: .reduceScatter, sequence: 42, segment: 3, operationBytes: 1 << 30, payload: [1, 2, 3, 4, 5, 6, 7, 8]))),
    Envelope(jobID: 5, generation: 6, step: 7, sender: 3, message: .ringSegment(RingSegment(
        phase: .gatherBlocks, sequence: 0, segment: 0, operationBytes: 0, payload: []))),
    Envelope(jobID: 5, generation: 6, step: 7, sender: 0, message: .ringAbort(RingAbort(
        failedRank: 2, reason: "rank 3 saw: connection lost"))),
    Envelope(jobID: 5, generation: 6, step: 7, sender: 2,
             message: .ringCredit(RingCredit(upTo: 8, sharedAccepted: true))),
    Envelope(jobID: 5, generation: 6, sender: 1, message: .ringSharedOffer(RingSharedOffer(
        hostKey: "b0fe0d37|pid:[4026531836]|net:[4026531833]|0", pid: 4_000_000, fd: 7, slots: 4, slotBytes: 1 << 20))),
    Envelope(jobID: 5, generation: 6, step: 7, sender: 3, message: .ringSharedSegment(RingSharedSegment(
        phase: .allGather, sequence: 43, segment: 1, operationBytes: 1 << 30, slot: 3, byteCount: 1 << 20))),
]

/// Fuzz inputs come from the project's one SplitMix64 (`Sampling`).
extension SplitMix64 {
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
