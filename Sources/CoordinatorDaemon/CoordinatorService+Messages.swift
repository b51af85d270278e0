import ControlPort
import CoordinatorCore
import Foundation
import JobCommon
import MugsModel
import Transport
import Wire

/// Inbound messages: decode, check job and sender, and turn into machine events.
extension CoordinatorService {
    func receiveAll() {
        var budget = 10_000
        while budget > 0 {
            budget -= 1
            let received: JobChannel.Received?
            do { received = try JobChannel.receive(on: router, scratch: scratch, hasRoutingID: true) } catch {
                log.log("error", "control socket: \(error)")
                return
            }
            guard let r = received else { return }
            switch r.envelope {
            case .failure(let e): refuse(r.routingID, "undecodable message: \(e)")
            case .success(let env): handle(env, from: r.routingID)
            }
        }
    }

    /// Logs a refused message (at most once per sender and reason every 10 s).
    func refuse(_ routingID: [UInt8], _ reason: String) {
        let who = String(decoding: routingID, as: UTF8.self)
        let key = who + "|" + reason
        let now = ProcessLifecycle.now()
        if let t = refusalsLogged[key], now - t < 10 { return }
        refusalsLogged[key] = now
        log.log("refused", "refused a message from '\(who)': \(reason)", [("peer", .string(who))])
    }

    private func handle(_ env: Envelope, from routingID: [UInt8]) {
        if case let .join(j) = env.message {
            guard env.jobID == 0 || env.jobID == jobID else {
                refuse(routingID, "it belongs to job \(String(env.jobID, radix: 16)), this is \(String(jobID, radix: 16))")
                send(.job(.refused(reason: "this coordinator runs another job")), to: routingID)
                return
            }
            join(j, routingID: routingID)
            return
        }
        guard env.jobID == jobID else {
            refuse(routingID, "it belongs to job \(String(env.jobID, radix: 16)), this is \(String(jobID, radix: 16))")
            return
        }
        guard let id = idsByRouting[routingID] else {
            refuse(routingID, "\(env.message.type) from a worker that has not joined")
            return
        }
        peers[id]?.lastHeard = ProcessLifecycle.now()
        let g = Int(env.generation), step = Int(env.step)
        switch env.message {
        case let .heartbeat(h):
            peers[id]?.imagesPerSecond = h.imagesPerSecond
            peers[id]?.gemmGflopPerSecond = h.gemmGflopPerSecond
            handle(machine.handle(.heard(id)))
        case let .reducedChunk(c):
            guard let a = assembly(generation: g, step: step) else { handle(machine.handle(.heard(id))); return }
            do {
                if try a.add(chunk: c, rank: Int(env.sender)) { completed(id, g, step, Int(env.sender)) }
                else { handle(machine.handle(.heard(id))) }
            } catch { refuse(routingID, "\(error)") }
        case let .job(m):
            handle(m, id: id, generation: g, step: step, rank: Int(env.sender), routingID: routingID)
        default:
            refuse(routingID, "a worker does not send \(env.message.type)")
        }
    }

    private func handle(_ m: JobMessage, id: CoordinatorMachine.WorkerID, generation g: Int, step: Int, rank: Int,
                        routingID: [UInt8]) {
        switch m {
        case .stateReceived:
            log.log("state", "\(peers[id]?.name ?? "?") has the state at step \(step)")
            handle(machine.handle(.stateReceived(id, step: step)))
        case let .stepApplied(hash, hashed, _):
            handle(machine.handle(.stepApplied(id, generation: g, step: step, stateHash: hashed ? hash : 0)))
        case let .sliceEntries(e):
            guard let a = assembly(generation: g, step: step) else { handle(machine.handle(.heard(id))); return }
            do {
                if try a.add(entries: e, rank: rank) { completed(id, g, step, rank) }
                else { handle(machine.handle(.heard(id))) }
            } catch { refuse(routingID, "\(error)") }
        case let .ringFailed(peer, reason):
            // The peer blamed may simply be dead: check its connection first, so the next ring is formed without it.
            if peer >= 0, g == machine.generation, Int(peer) < machine.ring.count { probe(machine.ring[Int(peer)]) }
            handle(machine.handle(.ringFailed(id, generation: g, step: step, peer: peer >= 0 ? Int(peer) : nil,
                                              reason: reason)))
        case let .ringSetupFailed(f):
            let name = peers[id]?.name ?? "?"
            log.log("ring_setup", "\(name) could not set up generation \(g): \(f.kind) \(f.endpoint): \(f.detail)",
                    [("worker", .string(name)), ("generation", .int(g)), ("kind", .string("\(f.kind)")),
                     ("peer_rank", .int(Int(f.peerRank))), ("endpoint", .string(f.endpoint))])
            handle(machine.handle(.ringSetupFailed(id, generation: g, fault: Self.fault(f))))
        case let .unreadableFiles(files):
            handle(machine.handle(.heard(id)))
            recordUnreadable(files, worker: peers[id]?.name ?? "?")
        case let .onlineKNNResult(r):
            handle(machine.handle(.heard(id)))
            receivedOnlineKNN(r, from: id, step: step)
        case let .leave(reason):
            log.log("leave", "\(peers[id]?.name ?? "?") leaves: \(reason)")
            handle(machine.handle(.left(id, reason: "left: \(reason)")))
            forget(id)
        default:
            refuse(routingID, "a worker does not send \(m.type)")
        }
    }

    /// Who the machine blames for a worker's setup report.
    static func fault(_ f: RingSetupFailure) -> RingSetupFault {
        let rank = f.peerRank >= 0 ? Int(f.peerRank) : nil
        switch f.kind {
        case .cannotBind, .localSetup: return .reporter(f.detail)
        case .peerUnreachable:
            guard let rank else { return .silentPeer(rank: nil, f.detail) }
            return .unreachablePeer(rank: rank, f.detail)
        case .peerSilent: return .silentPeer(rank: rank, f.detail)
        }
    }

    /// Keeps the distinct paths (for the count) and the most recent few with their reasons.
    func recordUnreadable(_ files: [UnreadableFile], worker: String) {
        for f in files where unreadablePaths.insert(f.path).inserted {
            recentUnreadable.append(StatusReport.SkippedFile(path: f.path, reason: f.reason, worker: worker))
            log.log("unreadable", "\(worker) skipped unreadable file \(f.path): \(f.reason)",
                    [("worker", .string(worker)), ("path", .string(f.path)), ("reason", .string(f.reason))])
        }
        if recentUnreadable.count > Self.recentLimit {
            recentUnreadable.removeFirst(recentUnreadable.count - Self.recentLimit)
        }
    }

    private func completed(_ id: CoordinatorMachine.WorkerID, _ g: Int, _ step: Int, _ rank: Int) {
        handle(machine.handle(.chunkReceived(id, generation: g, step: step, segment: rank)))
    }

    /// The assembly for (g, step) of the current generation, if that step is in flight.
    func assembly(generation g: Int, step: Int) -> StepAssembly? {
        guard g == machine.generation, (machine.committed ..< machine.planned).contains(step) else { return nil }
        if let a = assemblies.first(where: { $0.generation == g && $0.step == step }) { return a }
        // Reuse the buffer of a step that is no longer in flight.
        guard let a = assemblies.first(where: {
            $0.generation != g || !(machine.committed ..< machine.planned).contains($0.step)
        }) else { return nil }
        a.reset(generation: g, step: step, worldSize: machine.ring.count)
        return a
    }

    private func join(_ j: Join, routingID: [UInt8]) {
        guard JobToken.equal(j.token, settings.token) else {
            refuse(routingID, "wrong job token from \(j.host)")
            send(.job(.refused(reason: "wrong job token")), to: routingID)
            return
        }
        if let why = j.refusal(precision: config.precisionMode.rawValue) {
            refuse(routingID, why)
            send(.job(.refused(reason: why)), to: routingID)
            return
        }
        if let old = idsByRouting[routingID] {
            // The same worker joins again (it lost us, e.g. across a restart of ours): treat as leave + join.
            handle(machine.handle(.left(old, reason: "rejoined")))
            forget(old)
        }
        let id = nextWorkerID
        nextWorkerID += 1
        peers[id] = Peer(routingID: routingID, name: j.workerID, host: j.host, gemm: j.gemm,
                         lastHeard: ProcessLifecycle.now())
        idsByRouting[routingID] = id
        let welcome = Welcome(configYAML: configYAML, datasetSpec: settings.dataSpec,
                              datasetFingerprint: dataset.fingerprint, seed: UInt64(config.seed),
                              hashEvery: UInt32(settings.hashEvery),
                              heartbeatInterval: settings.heartbeatInterval, heartbeatTimeout: settings.heartbeatTimeout)
        send(.job(.welcome(welcome)), to: routingID)
        // A cache is reused only if it is bitwise this coordinator's state at the committed step: a restarted
        // coordinator's timeline reaches the same step numbers with other rounding (e.g. another ring size).
        var cache = j.cachedStep.map { Int(clamping: $0) } ?? -1
        let reused = cache >= 0 && cache == state.step && j.cachedStateHash == state.stateHash()
        log.log("join", "\(j.workerID) joined from \(j.host) (data \(j.dataEndpoint), \(j.cores) threads, gemm "
                + "\(j.gemm.isEmpty ? "not reported" : j.gemm), cache at step "
                + "\(cache)\(cache < 0 ? "" : reused ? ", reused" : ", to be replaced"))",
                [("worker", .string(j.workerID)), ("cache_step", .int(cache)), ("cache_reused", .bool(reused)),
                 ("gemm", .string(j.gemm))])
        if !reused { cache = -1 }
        handle(machine.handle(.joined(id, WorkerInfo(host: j.host, dataEndpoint: j.dataEndpoint, threads: Int(j.cores),
                                                     name: j.workerID), cacheStep: cache)))
    }

    func forget(_ id: CoordinatorMachine.WorkerID) {
        if let p = peers.removeValue(forKey: id) { idsByRouting[p.routingID] = nil }
        streams.removeAll { $0.worker == id }
    }
}

extension JobToken {
    /// Compares without an early exit (the control port's rule, for joins), so timing does not reveal a prefix.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0 ..< max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }
}
