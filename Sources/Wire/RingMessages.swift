/// Data-plane messages between ring neighbours. Their fields live in the header (sequence, segment, phase, aux),
/// so the ring decodes only the 80-byte header on its hot path; these structs are the same messages as values.

/// First message on a ring connection (sender's rank is in the header).
public struct RingHello: Sendable, Equatable {
    public var ringSize: UInt32
    public init(ringSize: UInt32) { self.ringSize = ringSize }
}

/// Credit grant: the receiver allows segments with global sequence number `< upTo`. Cumulative, so a lost or
/// repeated grant is harmless. `sharedAccepted` (header aux 1) says the receiver has mapped the sender's
/// shared-memory region (`RingSharedOffer`), so the sender may send `RingSharedSegment`s from now on.
public struct RingCredit: Sendable, Equatable {
    public var upTo: UInt64
    public var sharedAccepted: Bool
    public init(upTo: UInt64, sharedAccepted: Bool = false) {
        self.upTo = upTo
        self.sharedAccepted = sharedAccepted
    }
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

/// Sender → successor, after its hello: its segment slots are a shared-memory file the successor may map if it runs
/// on the same host (same `hostKey`: boot id, PID and network namespaces, user) — `/proc/<pid>/fd/<fd>`, `slots`
/// slots of `slotBytes` bytes. The successor answers with a credit whose `sharedAccepted` is set, or ignores it.
public struct RingSharedOffer: Sendable, Equatable {
    public var hostKey: String
    public var pid: UInt32
    public var fd: UInt32
    public var slots: UInt32
    public var slotBytes: UInt64

    public init(hostKey: String, pid: UInt32, fd: UInt32, slots: UInt32, slotBytes: UInt64) {
        self.hostKey = hostKey
        self.pid = pid
        self.fd = fd
        self.slots = slots
        self.slotBytes = slotBytes
    }
}

/// One segment of a ring collective whose `byteCount` bytes are in slot `slot` of the sender's shared region
/// (header fields as `RingSegment`; the slot is `sequence mod slots`, checked by the receiver).
public struct RingSharedSegment: Sendable, Equatable {
    public var phase: RingPhase
    public var sequence: UInt64
    public var segment: UInt32
    public var operationBytes: UInt64
    public var slot: UInt32
    public var byteCount: UInt64

    public init(phase: RingPhase, sequence: UInt64, segment: UInt32, operationBytes: UInt64, slot: UInt32,
                byteCount: UInt64) {
        self.phase = phase
        self.sequence = sequence
        self.segment = segment
        self.operationBytes = operationBytes
        self.slot = slot
        self.byteCount = byteCount
    }
}

extension RingSharedOffer {
    /// The body frame: host key, pid, descriptor, slots, slot bytes (little-endian).
    public func encodedBody() -> [UInt8] {
        var w = ByteWriter()
        w.string(hostKey); w.u32(pid); w.u32(fd); w.u32(slots); w.u64(slotBytes)
        return w.bytes
    }

    /// Reads the fields `encodedBody` writes.
    static func read(_ r: inout ByteReader) throws(WireError) -> RingSharedOffer {
        RingSharedOffer(hostKey: try r.string("ringSharedOffer.hostKey"), pid: try r.u32("ringSharedOffer.pid"),
                        fd: try r.u32("ringSharedOffer.fd"), slots: try r.u32("ringSharedOffer.slots"),
                        slotBytes: try r.u64("ringSharedOffer.slotBytes"))
    }

    /// Decodes a whole body frame (the ring's path, which reads only the header as an envelope). Total.
    public static func decode(body: UnsafeRawBufferPointer) throws(WireError) -> RingSharedOffer {
        var r = ByteReader(body, frame: "ringSharedOffer body")
        let offer = try read(&r)
        try r.finish()
        return offer
    }
}

extension RingSharedSegment {
    /// Size of the body: slot (u32) and byte count (u64), little-endian.
    public static let bodySize = 12

    /// Writes the body to `p` (at least `bodySize` bytes): the ring's hot path, without allocating.
    public static func encodeBody(slot: UInt32, byteCount: UInt64, into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: slot.littleEndian, as: UInt32.self)
        (p + 4).storeBytes(of: byteCount.littleEndian, as: UInt64.self)
    }

    static func encodeBody(slot: UInt32, byteCount: UInt64) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bodySize)
        out.withUnsafeMutableBytes { encodeBody(slot: slot, byteCount: byteCount, into: $0.baseAddress!) }
        return out
    }

    /// Reads a body written by `encodeBody`; nil unless it is exactly `bodySize` bytes.
    public static func decodeBody(_ b: UnsafeRawBufferPointer) -> (slot: UInt32, byteCount: UInt64)? {
        guard b.count == bodySize, let p = b.baseAddress else { return nil }
        return (UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)),
                UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt64.self)))
    }
}
