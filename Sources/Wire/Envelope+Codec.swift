/// Encoding of envelopes as ZeroMQ multipart frames (header, [body], [data]) and as one flat byte string (the
/// frames concatenated; the header's lengths delimit them). Decoding is total: any input gives an envelope or a
/// `WireError`.
extension Envelope {
    /// The message as frames: the 80-byte header, then the body and/or data frame its type carries.
    public func encodedFrames() -> [[UInt8]] {
        var header = FrameHeader(type: message.type, jobID: jobID, generation: generation, step: step,
                                 sender: sender)
        var body: [UInt8]? = nil
        var data: [UInt8]? = nil
        switch message {
        case let .join(m):
            var w = ByteWriter()
            w.string(m.workerID); w.string(m.host); w.string(m.dataEndpoint); w.u32(m.cores)
            Self.writeOptional(&w, m.cachedStep)
            w.string(m.token)
            Self.writeOptional(&w, m.cachedStateHash)
            w.string(m.gemm)
            w.string(m.precisions); w.string(m.precisionNote)
            body = w.bytes
        case let .heartbeat(m):
            var w = ByteWriter()
            w.string(m.workerID); Self.writeOptional(&w, m.cachedStep); w.f64(m.imagesPerSecond)
            w.f64(m.gemmGflopPerSecond)
            body = w.bytes
        case let .stepPlan(m):
            var w = ByteWriter()
            w.u64(m.epoch); w.u32(m.batchSize); w.u32(UInt32(m.ranks.count))
            for r in m.ranks {
                w.string(r.workerID); w.string(r.dataEndpoint); w.u64(r.sampleStart); w.u32(r.sampleCount)
            }
            body = w.bytes
        case let .commit(m):
            var w = ByteWriter()
            w.u64(m.stateHash)
            body = w.bytes
        case let .stateTransfer(m):
            var w = ByteWriter()
            w.string(m.section); w.u64(m.offset); w.u64(m.totalCount)
            body = w.bytes
            data = Self.floatBytes(m.values)
        case let .reducedChunk(m):
            var w = ByteWriter()
            w.u64(m.offset); w.u64(m.totalCount)
            body = w.bytes
            data = Self.floatBytes(m.values)
        case let .ringHello(m):
            header.aux = UInt64(m.ringSize)
        case let .ringCredit(m):
            header.sequence = m.upTo
            header.aux = m.sharedAccepted ? 1 : 0
        case let .ringSegment(m):
            header.phase = m.phase
            header.sequence = m.sequence
            header.segment = m.segment
            header.aux = m.operationBytes
            data = m.payload
        case let .ringAbort(m):
            var w = ByteWriter()
            w.u32(m.failedRank); w.string(m.reason)
            body = w.bytes
        case let .ringSharedOffer(m):
            body = m.encodedBody()
        case let .ringSharedSegment(m):
            header.phase = m.phase
            header.sequence = m.sequence
            header.segment = m.segment
            header.aux = m.operationBytes
            body = RingSharedSegment.encodeBody(slot: m.slot, byteCount: m.byteCount)
        case let .job(m):
            (body, data) = m.encodedPayload()
        }
        header.bodyLength = UInt64(body?.count ?? 0)
        header.dataLength = UInt64(data?.count ?? 0)
        header.frameCount = UInt8((body == nil ? 0 : 1) + (data == nil ? 0 : 1))
        var frames = [header.encoded()]
        if let body { frames.append(body) }
        if let data { frames.append(data) }
        return frames
    }

    /// The frames concatenated into one byte string (for streams and files).
    public func encodedFlat() -> [UInt8] { encodedFrames().flatMap { $0 } }

    /// Decodes multipart frames. Total.
    public static func decode(frames: [[UInt8]]) throws(WireError) -> Envelope {
        guard let first = frames.first else { throw .frameCountMismatch(declared: 1, actual: 0) }
        let header = try withRawBytes(first) { (b) throws(WireError) in try FrameHeader.decode(b) }
        let (hasBody, hasData) = try Self.checkLayout(header)
        guard frames.count == 1 + Int(header.frameCount) else {
            throw .frameCountMismatch(declared: 1 + Int(header.frameCount), actual: frames.count)
        }
        var index = 1
        var body: [UInt8] = []
        var data: [UInt8] = []
        if hasBody {
            body = frames[index]
            index += 1
            guard UInt64(body.count) == header.bodyLength else {
                throw .frameLengthMismatch(frame: "body", declared: header.bodyLength, actual: body.count)
            }
        }
        if hasData {
            data = frames[index]
            guard UInt64(data.count) == header.dataLength else {
                throw .frameLengthMismatch(frame: "data", declared: header.dataLength, actual: data.count)
            }
        }
        return try decode(header: header, body: body, data: data)
    }

    /// Decodes one flat byte string (header, body, data back to back). Total.
    public static func decode(flat bytes: [UInt8]) throws(WireError) -> Envelope {
        let header = try withRawBytes(bytes) { (b) throws(WireError) in try FrameHeader.decodePrefix(b) }
        _ = try checkLayout(header)
        let total = UInt64(FrameHeader.size) + header.payloadLength
        guard UInt64(bytes.count) >= total else {
            throw .truncated(field: "payload", needed: Int(total), available: bytes.count)
        }
        guard UInt64(bytes.count) == total else {
            throw .trailingBytes(frame: "message", count: bytes.count - Int(total))
        }
        let bodyEnd = FrameHeader.size + Int(header.bodyLength)
        return try decode(header: header, body: Array(bytes[FrameHeader.size ..< bodyEnd]),
                          data: Array(bytes[bodyEnd...]))
    }

    /// Checks that the header's frame count and lengths fit its type; returns which frames are present.
    static func checkLayout(_ h: FrameHeader) throws(WireError) -> (body: Bool, data: Bool) {
        let (body, data) = h.type.frames
        let expected = (body ? 1 : 0) + (data ? 1 : 0)
        guard Int(h.frameCount) == expected else {
            throw .invalidValue(field: "header.frameCount", detail: "\(h.type) has \(expected) payload frames, "
                                + "header says \(h.frameCount)")
        }
        if !body && h.bodyLength != 0 {
            throw .invalidValue(field: "header.bodyLength", detail: "\(h.type) has no body")
        }
        if !data && h.dataLength != 0 {
            throw .invalidValue(field: "header.dataLength", detail: "\(h.type) has no data")
        }
        let segment = h.type == .ringSegment || h.type == .ringSharedSegment
        if !segment && h.phase != .none {
            throw .invalidValue(field: "header.phase", detail: "\(h.type) carries no ring phase")
        }
        if segment && h.phase == .none {
            throw .invalidValue(field: "header.phase", detail: "ring segment without a phase")
        }
        return (body, data)
    }

    static func decode(header h: FrameHeader, body: [UInt8], data: [UInt8]) throws(WireError) -> Envelope {
        let message = try withRawBytes(body) { (raw) throws(WireError) -> Message in
            var r = ByteReader(raw, frame: "\(h.type) body")
            let m: Message
            switch h.type {
            case .join:
                m = .join(Join(workerID: try r.string("join.workerID"), host: try r.string("join.host"),
                               dataEndpoint: try r.string("join.dataEndpoint"), cores: try r.u32("join.cores"),
                               cachedStep: try readOptional(&r, "join.cachedStep"), token: try r.string("join.token"),
                               cachedStateHash: try readOptional(&r, "join.cachedStateHash"),
                               gemm: try r.string("join.gemm"), precisions: try r.string("join.precisions"),
                               precisionNote: try r.string("join.precisionNote")))
            case .heartbeat:
                m = .heartbeat(Heartbeat(workerID: try r.string("heartbeat.workerID"),
                                         cachedStep: try readOptional(&r, "heartbeat.cachedStep"),
                                         imagesPerSecond: try r.f64("heartbeat.imagesPerSecond"),
                                         gemmGflopPerSecond: try r.f64("heartbeat.gemmGflopPerSecond")))
            case .stepPlan:
                let epoch = try r.u64("stepPlan.epoch")
                let batch = try r.u32("stepPlan.batchSize")
                let n = Int(try r.u32("stepPlan.rankCount"))
                guard n <= StepPlan.maxRanks else {
                    throw .oversized(field: "stepPlan.rankCount", length: UInt64(n), limit: UInt64(StepPlan.maxRanks))
                }
                var ranks: [RankSlot] = []
                for i in 0 ..< n {
                    ranks.append(RankSlot(workerID: try r.string("stepPlan.ranks[\(i)].workerID"),
                                          dataEndpoint: try r.string("stepPlan.ranks[\(i)].dataEndpoint"),
                                          sampleStart: try r.u64("stepPlan.ranks[\(i)].sampleStart"),
                                          sampleCount: try r.u32("stepPlan.ranks[\(i)].sampleCount")))
                }
                m = .stepPlan(StepPlan(epoch: epoch, batchSize: batch, ranks: ranks))
            case .commit:
                m = .commit(Commit(stateHash: try r.u64("commit.stateHash")))
            case .stateTransfer:
                m = .stateTransfer(StateTransfer(section: try r.string("stateTransfer.section"),
                                                 offset: try r.u64("stateTransfer.offset"),
                                                 totalCount: try r.u64("stateTransfer.totalCount"),
                                                 values: try floats(data, "stateTransfer.data")))
            case .reducedChunk:
                m = .reducedChunk(ReducedChunk(offset: try r.u64("reducedChunk.offset"),
                                               totalCount: try r.u64("reducedChunk.totalCount"),
                                               values: try floats(data, "reducedChunk.data")))
            case .ringHello:
                guard h.aux <= UInt64(UInt32.max) else {
                    throw .invalidValue(field: "ringHello.ringSize", detail: "\(h.aux) does not fit 32 bits")
                }
                m = .ringHello(RingHello(ringSize: UInt32(h.aux)))
            case .ringCredit:
                guard h.aux <= 1 else {
                    throw .invalidValue(field: "ringCredit.sharedAccepted", detail: "aux \(h.aux) is not 0 or 1")
                }
                m = .ringCredit(RingCredit(upTo: h.sequence, sharedAccepted: h.aux == 1))
            case .ringSegment:
                m = .ringSegment(RingSegment(phase: h.phase, sequence: h.sequence, segment: h.segment,
                                             operationBytes: h.aux, payload: data))
            case .ringAbort:
                m = .ringAbort(RingAbort(failedRank: try r.u32("ringAbort.failedRank"),
                                         reason: try r.string("ringAbort.reason")))
            case .ringSharedOffer:
                m = .ringSharedOffer(try RingSharedOffer.read(&r))
            case .ringSharedSegment:
                m = .ringSharedSegment(RingSharedSegment(phase: h.phase, sequence: h.sequence, segment: h.segment,
                                                         operationBytes: h.aux,
                                                         slot: try r.u32("ringSharedSegment.slot"),
                                                         byteCount: try r.u64("ringSharedSegment.byteCount")))
            default:
                m = .job(try JobMessage.decode(h.type, &r, data: data))
            }
            try r.finish()
            return m
        }
        return Envelope(jobID: h.jobID, generation: h.generation, step: h.step, sender: h.sender, message: message)
    }

    private static func writeOptional(_ w: inout ByteWriter, _ v: UInt64?) {
        w.u8(v == nil ? 0 : 1)
        w.u64(v ?? 0)
    }

    private static func readOptional(_ r: inout ByteReader, _ field: String) throws(WireError) -> UInt64? {
        let flag = try r.u8("\(field).present")
        let v = try r.u64(field)
        switch flag {
        case 0:
            guard v == 0 else { throw .invalidValue(field: field, detail: "absent but value \(v) is not zero") }
            return nil
        case 1: return v
        default: throw .invalidValue(field: "\(field).present", detail: "flag \(flag) is not 0 or 1")
        }
    }

    private static func floatBytes(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 4)
        out.withUnsafeMutableBytes { raw in
            #if _endian(little)
            // State transfers and reduced chunks are megabytes: one copy, not a loop (a debug build's loop is slow).
            values.withUnsafeBytes { raw.copyMemory(from: $0) }
            #else
            for (i, v) in values.enumerated() {
                raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
            #endif
        }
        return out
    }

    private static func floats(_ bytes: [UInt8], _ field: String) throws(WireError) -> [Float] {
        guard bytes.count % 4 == 0 else {
            throw .invalidValue(field: field, detail: "\(bytes.count) bytes is not a whole number of Float32")
        }
        #if _endian(little)
        return [Float](unsafeUninitializedCapacity: bytes.count / 4) { out, n in
            bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(out).copyMemory(from: $0) }
            n = bytes.count / 4
        }
        #else
        return bytes.withUnsafeBytes { raw in
            (0 ..< bytes.count / 4).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
            }
        }
        #endif
    }
}
