/// Incremental decoder for flat-encoded envelopes arriving in arbitrary pieces (a byte stream, a file): feed bytes
/// as they come; `next()` returns a complete envelope, `nil` when more bytes are needed (consuming nothing), or
/// throws for invalid input as soon as the header shows it (the stream is then unusable: call `reset()`).
public struct StreamDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes buffered but not yet returned as an envelope.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// How many more bytes the next envelope needs before `next()` can return it (0 if complete).
    public func bytesNeeded() throws(WireError) -> Int {
        let have = buffer.count - start
        if have < FrameHeader.size { return FrameHeader.size - have }
        let header = try headerPrefix()
        let total = FrameHeader.size + Int(header.payloadLength)
        return max(0, total - have)
    }

    /// The next complete envelope, or `nil` if more bytes are needed.
    public mutating func next() throws(WireError) -> Envelope? {
        let have = buffer.count - start
        guard have >= FrameHeader.size else { return nil }
        let header = try headerPrefix()
        _ = try Envelope.checkLayout(header)
        let total = FrameHeader.size + Int(header.payloadLength)
        guard have >= total else { return nil }
        let bytes = Array(buffer[start ..< start + total])
        let envelope = try Envelope.decode(flat: bytes)
        start += total
        return envelope
    }

    public mutating func reset() {
        buffer.removeAll(keepingCapacity: true)
        start = 0
    }

    private func headerPrefix() throws(WireError) -> FrameHeader {
        try withRawBytes(buffer) { (raw) throws(WireError) in
            try FrameHeader.decodePrefix(UnsafeRawBufferPointer(rebasing: raw[start ..< start + FrameHeader.size]))
        }
    }
}
