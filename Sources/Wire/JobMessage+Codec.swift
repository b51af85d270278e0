/// Byte encoding of `JobMessage`s: a body of little-endian fields (`ByteWriter`) and, for entries, a data frame.
/// Decoding is total: any body gives a message or a `WireError` naming the field.
extension JobMessage {
    /// Which frames messages of a job type carry (nil for types that are not job messages).
    static func frames(_ type: MessageType) -> (body: Bool, data: Bool)? {
        switch type {
        case .welcome, .evict, .refused, .finished, .generation, .abort, .stateHeader, .stepApplied, .ringFailed,
             .leave, .onlineKNNRequest, .onlineKNNResult, .ringSetupFailed, .unreadableFiles:
            return (true, false)
        case .plan, .stateReceived: return (false, false)
        case .sliceEntries: return (true, true)
        default: return nil
        }
    }

    /// The body and data frames.
    func encodedPayload() -> (body: [UInt8]?, data: [UInt8]?) {
        var w = ByteWriter()
        switch self {
        case let .welcome(m):
            w.string(m.configYAML); w.string(m.datasetSpec); w.string(m.datasetFingerprint); w.u64(m.seed)
            w.u32(m.hashEvery); w.f64(m.heartbeatInterval); w.f64(m.heartbeatTimeout)
        case let .evict(reason), let .refused(reason), let .finished(reason), let .abort(reason), let .leave(reason):
            w.string(reason)
        case let .generation(rank, endpoints, firstStep):
            w.u32(rank); w.u32(UInt32(endpoints.count))
            for e in endpoints { w.string(e) }
            w.u64(firstStep)
        case let .stateHeader(h):
            w.u32(UInt32(h.adamSteps.count))
            for s in h.adamSteps { w.u64(s) }
            w.u32(UInt32(h.memoryPointers.count))
            for p in h.memoryPointers { w.u64(p) }
            w.u32(UInt32(h.sections.count))
            for s in h.sections { w.string(s.name); w.u64(s.count) }
            w.u64(h.chunkFloats)
        case .plan, .stateReceived:
            return (nil, nil)
        case let .stepApplied(hash, hashed, seconds):
            w.u64(hash); w.u8(hashed ? 1 : 0); w.f64(seconds)
        case let .sliceEntries(e):
            w.u32(e.count); w.u32(e.instanceDim); w.u32(e.localGroupDim); w.u32(e.memoryDim)
            for b in e.weak { w.u8(b) }
            return (w.bytes, e.floatBytes)
        case let .ringFailed(peer, reason):
            w.u32(UInt32(bitPattern: peer)); w.string(reason)
        case let .ringSetupFailed(f):
            w.u8(f.kind.rawValue); w.u32(UInt32(bitPattern: f.peerRank))
            w.string(clipped(f.endpoint, bytes: RingSetupFailure.maxText))
            w.string(clipped(f.detail, bytes: RingSetupFailure.maxText))
        case let .unreadableFiles(files):
            let sent = files.prefix(UnreadableFile.maxPerMessage)
            w.u32(UInt32(sent.count))
            for f in sent { w.string(clipped(f.path, bytes: 4000)); w.string(clipped(f.reason, bytes: 1000)) }
        case let .onlineKNNRequest(q):
            w.string(q.trainSpec); w.string(q.valSpec); w.u32(q.trainCount); w.u32(q.valCount); w.u32(q.k)
            w.f64(q.temperature)
        case let .onlineKNNResult(a):
            w.f64(a.top1); w.f64(a.top5); w.u32(a.k); w.u32(a.trainCount); w.u32(a.valCount); w.f64(a.seconds)
            w.u8(a.error == nil ? 0 : 1)
            if let e = a.error { w.string(e) }
        }
        return (w.bytes, nil)
    }

    /// Decodes the body (and data) of a job message of `type`. Total.
    static func decode(_ type: MessageType, _ r: inout ByteReader, data: [UInt8]) throws(WireError) -> JobMessage {
        func count(_ field: String, limit: Int) throws(WireError) -> Int {
            let n = Int(try r.u32(field))
            guard n <= limit else { throw .oversized(field: field, length: UInt64(n), limit: UInt64(limit)) }
            return n
        }
        switch type {
        case .welcome:
            return .welcome(Welcome(configYAML: try r.string("welcome.config", limit: 1 << 19),
                                    datasetSpec: try r.string("welcome.datasetSpec"),
                                    datasetFingerprint: try r.string("welcome.datasetFingerprint"),
                                    seed: try r.u64("welcome.seed"),
                                    hashEvery: try r.u32("welcome.hashEvery"),
                                    heartbeatInterval: try r.f64("welcome.heartbeatInterval"),
                                    heartbeatTimeout: try r.f64("welcome.heartbeatTimeout")))
        case .evict: return .evict(reason: try r.string("evict.reason"))
        case .finished: return .finished(reason: try r.string("finished.reason"))
        case .refused: return .refused(reason: try r.string("refused.reason"))
        case .abort: return .abort(reason: try r.string("abort.reason"))
        case .leave: return .leave(reason: try r.string("leave.reason"))
        case .generation:
            let rank = try r.u32("generation.rank")
            let n = try count("generation.endpointCount", limit: StepPlan.maxRanks)
            var endpoints: [String] = []
            for i in 0 ..< n { endpoints.append(try r.string("generation.endpoints[\(i)]")) }
            let first = try r.u64("generation.firstStep")
            guard Int(rank) < n else {
                throw .invalidValue(field: "generation.rank", detail: "rank \(rank) of a ring of \(n)")
            }
            return .generation(rank: rank, endpoints: endpoints, firstStep: first)
        case .plan:
            return .plan
        case .stateHeader:
            var adam: [UInt64] = [], pointers: [UInt64] = [], sections: [StateSection] = []
            for _ in 0 ..< (try count("stateHeader.adamStepCount", limit: StateHeader.maxItems)) {
                adam.append(try r.u64("stateHeader.adamSteps"))
            }
            for _ in 0 ..< (try count("stateHeader.memoryPointerCount", limit: StateHeader.maxItems)) {
                pointers.append(try r.u64("stateHeader.memoryPointers"))
            }
            for i in 0 ..< (try count("stateHeader.sectionCount", limit: StateHeader.maxItems)) {
                sections.append(StateSection(name: try r.string("stateHeader.sections[\(i)].name"),
                                             count: try r.u64("stateHeader.sections[\(i)].count")))
            }
            let chunk = try r.u64("stateHeader.chunkFloats")
            guard chunk > 0 else { throw .invalidValue(field: "stateHeader.chunkFloats", detail: "must be positive") }
            return .stateHeader(StateHeader(adamSteps: adam, memoryPointers: pointers, sections: sections,
                                            chunkFloats: chunk))
        case .stateReceived:
            return .stateReceived
        case .stepApplied:
            let hash = try r.u64("stepApplied.stateHash")
            let flag = try r.u8("stepApplied.hashed")
            guard flag <= 1 else { throw .invalidValue(field: "stepApplied.hashed", detail: "flag \(flag) is not 0 or 1") }
            return .stepApplied(stateHash: hash, hashed: flag == 1, seconds: try r.f64("stepApplied.seconds"))
        case .sliceEntries:
            let n = try r.u32("sliceEntries.count"), di = try r.u32("sliceEntries.instanceDim")
            let dl = try r.u32("sliceEntries.localGroupDim"), dm = try r.u32("sliceEntries.memoryDim")
            guard Int(n) == r.remaining else {
                throw .invalidValue(field: "sliceEntries.weak", detail: "\(r.remaining) flag bytes for \(n) images")
            }
            var weak: [UInt8] = []
            for i in 0 ..< Int(n) {
                let b = try r.u8("sliceEntries.weak[\(i)]")
                guard b <= 1 else { throw .invalidValue(field: "sliceEntries.weak[\(i)]", detail: "\(b) is not 0 or 1") }
                weak.append(b)
            }
            let e = SliceEntries(count: n, instanceDim: di, localGroupDim: dl, memoryDim: dm, weak: weak, floatBytes: data)
            guard UInt64(data.count) == 4 * e.expectedFloats else {
                throw .invalidValue(field: "sliceEntries.data", detail: "\(data.count) bytes, dimensions need "
                                    + "\(4 * e.expectedFloats)")
            }
            return .sliceEntries(e)
        case .ringFailed:
            return .ringFailed(peerRank: Int32(bitPattern: try r.u32("ringFailed.peerRank")),
                               reason: try r.string("ringFailed.reason"))
        case .ringSetupFailed:
            let raw = try r.u8("ringSetupFailed.kind")
            guard let kind = RingSetupFailure.Kind(rawValue: raw) else {
                throw .invalidValue(field: "ringSetupFailed.kind", detail: "\(raw) is not a known kind (1...4)")
            }
            let peer = Int32(bitPattern: try r.u32("ringSetupFailed.peerRank"))
            guard peer >= -1 && Int(peer) < StepPlan.maxRanks else {
                throw .invalidValue(field: "ringSetupFailed.peerRank", detail: "rank \(peer)")
            }
            return .ringSetupFailed(RingSetupFailure(kind: kind, peerRank: peer,
                                                     endpoint: try r.string("ringSetupFailed.endpoint"),
                                                     detail: try r.string("ringSetupFailed.detail")))
        case .unreadableFiles:
            let n = try count("unreadableFiles.count", limit: UnreadableFile.maxPerMessage)
            var files: [UnreadableFile] = []
            for i in 0 ..< n {
                files.append(UnreadableFile(path: try r.string("unreadableFiles[\(i)].path"),
                                            reason: try r.string("unreadableFiles[\(i)].reason")))
            }
            return .unreadableFiles(files)
        case .onlineKNNRequest:
            return .onlineKNNRequest(OnlineKNNRequest(
                trainSpec: try r.string("onlineKNNRequest.trainSpec"),
                valSpec: try r.string("onlineKNNRequest.valSpec"),
                trainCount: try r.u32("onlineKNNRequest.trainCount"), valCount: try r.u32("onlineKNNRequest.valCount"),
                k: try r.u32("onlineKNNRequest.k"), temperature: try r.f64("onlineKNNRequest.temperature")))
        case .onlineKNNResult:
            var a = OnlineKNNResult(top1: try r.f64("onlineKNNResult.top1"), top5: try r.f64("onlineKNNResult.top5"),
                                    k: try r.u32("onlineKNNResult.k"),
                                    trainCount: try r.u32("onlineKNNResult.trainCount"),
                                    valCount: try r.u32("onlineKNNResult.valCount"),
                                    seconds: try r.f64("onlineKNNResult.seconds"))
            let flag = try r.u8("onlineKNNResult.failed")
            guard flag <= 1 else {
                throw .invalidValue(field: "onlineKNNResult.failed", detail: "flag \(flag) is not 0 or 1")
            }
            if flag == 1 { a.error = try r.string("onlineKNNResult.error") }
            return .onlineKNNResult(a)
        default:
            throw .unknownType(type.rawValue)
        }
    }
}

/// `s` cut to at most about `bytes` UTF-8 bytes (a multi-byte character cut in half becomes U+FFFD), so a long text
/// never exceeds the decoder's string limit.
func clipped(_ s: String, bytes: Int) -> String {
    s.utf8.count <= bytes ? s : String(decoding: s.utf8.prefix(bytes), as: UTF8.self)
}
