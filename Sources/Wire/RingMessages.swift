/// Data-plane messages between ring neighbours. Their fields live in the header (sequence, segment, phase, aux),
/// so the ring decodes only the 80-byte header on its hot path; these structs are the same messages as values.

/// First message on a ring connection (sender's rank is in the header).
public struct RingHello: Sendable, Equatable {
    public var ringSize: UInt32
    public init(ringSize: UInt32) { self.ringSize = ringSize }
}

/// Credit grant: the receiver allows segments with global sequence number `< upTo`. Cumulative, so a lost or
/// repeated grant is harmless.
public struct RingCredit: Sendable, Equatable {
    public var upTo: UInt64
    public init(upTo: UInt64) { self.upTo = upTo }
}

/// One segment of a ring collective. `sequence` is the sender's global segment counter on this connection,
/// `segment` the index within the chunk, `operationBytes` the operation's total byte count (both sides must
/// agree), `payload` the raw little-endian bytes.
public struct RingSegment: Sendable, Equatable {
    public var phase: RingPhase
    public var sequence: UInt64
    public var segment: UInt32
    public var operationBytes: UInt64
    public var payload: [UInt8]

    public init(phase: RingPhase, sequence: UInt64, segment: UInt32, operationBytes: UInt64, payload: [UInt8]) {
        self.phase = phase
        self.sequence = sequence
        self.segment = segment
        self.operationBytes = operationBytes
        self.payload = payload
    }
}

/// A rank abandons the current ring operation because `failedRank` failed; receivers abort too and pass it on.
public struct RingAbort: Sendable, Equatable {
    public var failedRank: UInt32
    public var reason: String
    public init(failedRank: UInt32, reason: String) {
        self.failedRank = failedRank
        self.reason = reason
    }
}
