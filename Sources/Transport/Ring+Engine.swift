import CZMQ
import Foundation
import Wire

/// The ring's event loop: one thread, `zmq_poll` with a timeout on every wait, no spinning. Sends go out as soon
/// as their data is ready and the successor has granted credit; receives are reduced or copied straight out of
/// libzmq's frame; credits go back to the predecessor as segments are consumed.
extension Ring {
    /// Waits until both neighbours are up (hello received from the predecessor, first credit from the successor),
    /// at most `timeout` seconds (default `options.joinTimeout`). A rank started late joins as soon as it binds.
    public func waitUntilReady(timeout: Double? = nil) throws(RingError) {
        switch state {
        case .ready: return
        case let .failed(e): throw .ringUnusable(e)
        case .closed: throw .invalidConfiguration("ring is closed")
        case .forming: break
        }
        let limit = timeout ?? options.joinTimeout
        let start = Date()
        let deadline = start.addingTimeInterval(limit)
        do throws(RingError) {
            while predecessorIDCount == 0 || !creditReceived {
                if !helloSent { helloSent = try sendControl(type: .ringHello, aux: UInt64(size)) }
                if helloSent && !offerSent { offerSent = try sendSharedOffer() }
                let remaining = deadline.timeIntervalSinceNow
                if remaining <= 0 {
                    if !creditReceived && !successorConnected {
                        throw unreachableSuccessor(waited: -createdAt.timeIntervalSinceNow)
                    }
                    var waiting: [Int] = []
                    if predecessorIDCount == 0 { waiting.append(predecessor) }
                    if !creditReceived && successor != predecessor || waiting.isEmpty { waiting.append(successor) }
                    throw .joinTimedOut(waitingFor: waiting, endpoints: waiting.map { endpoints[$0] }, seconds: limit)
                }
                do throws(RingError) { try checkInterruption() } catch {
                    // The owner moved on (the coordinator ended this generation, e.g. because another rank reported a
                    // failure first). A successor we could never connect to is still worth naming: that observation is
                    // what tells the coordinator which worker cannot be reached. The DEALER has been connecting since
                    // the ring was built (every member builds its ring, and binds, when the generation starts).
                    let connecting = -createdAt.timeIntervalSinceNow
                    if !successorConnected && connecting >= min(limit, options.connectGrace) {
                        throw unreachableSuccessor(waited: connecting)
                    }
                    throw error
                }
                try pollAndPump(timeout: min(remaining, 0.5), wantsWrite: !helloSent || !offerSent)
            }
        } catch {
            throw fail(error)
        }
        state = .ready
        lastProgress = Date()
    }

    /// Runs the configured schedule over `base`. On any failure the ring aborts (telling its neighbours), closes
    /// its sockets and throws; the error names the failed peer.
    func run(base: UnsafeMutableRawPointer, step: UInt64, keepingAlive owner: AnyObject?) throws(RingError) {
        let total = schedule.itemCount
        let segments = schedule.segmentsPerStep
        opBase = base
        opStep = step
        opSent = 0
        opReceived = 0
        opActive = true
        defer { opActive = false }
        tracker.begin(count: total, keepAlive: owner)
        lastProgress = Date()
        do throws(RingError) {
            if predecessorLost {
                throw .peerFailed(rank: predecessor, endpoint: endpoints[predecessor], cause: .disconnected)
            }
            while opReceived < total || opSent < total {
                let blocked = try sendReadySegments(total: total, segments: segments)
                if opReceived == total && opSent == total { break }
                let waited = -lastProgress.timeIntervalSinceNow
                if waited >= options.peerTimeout { throw progressTimeout(total: total) }
                if waited >= 0.25 { try checkInterruption() }
                let cap = predecessorSuspectSince == nil ? (interruption == nil ? 1.0 : 0.5) : 0.05
                try pollAndPump(timeout: min(options.peerTimeout - waited, cap), wantsWrite: blocked)
            }
            // libzmq may still be writing the last segments from the caller's buffer: wait until it is done.
            if !tracker.finish(deadline: Date().addingTimeInterval(options.peerTimeout)) {
                throw .peerFailed(rank: successor, endpoint: endpoints[successor],
                                  cause: .timedOut(seconds: options.peerTimeout))
            }
        } catch {
            let e = fail(error)
            _ = tracker.finish(deadline: Date().addingTimeInterval(options.linger + 1))
            throw e
        }
        sendSequence += UInt64(total)
        receiveSequence += UInt64(total)
        statistics.operations += 1
        opBase = nil
    }

    /// The successor's data endpoint never accepted our connection in the `waited` seconds since the ring was built:
    /// `.cannotConnect`, with what one plain TCP connection attempt to it gets now (at most 1 s).
    private func unreachableSuccessor(waited: Double) -> RingError {
        let e = endpoints[successor]
        let detail = e.hasPrefix("tcp://") ? TCPProbe.check(e, timeout: 1) : "nothing accepted the connection"
        return .cannotConnect(rank: successor, endpoint: e, seconds: (waited * 10).rounded() / 10, detail: detail)
    }

    /// Throws `.interrupted` if the owner's check gives a reason (asked at most every 0.4 s).
    private func checkInterruption() throws(RingError) {
        guard let check = interruption, -lastInterruptionCheck.timeIntervalSinceNow >= 0.4 else { return }
        lastInterruptionCheck = Date()
        if let reason = check() { throw .interrupted(reason) }
    }

    /// Sends every segment whose data is ready and that the successor has credit for. Returns true if the socket
    /// would block (wait for POLLOUT).
    private func sendReadySegments(total: Int, segments: Int) throws(RingError) -> Bool {
        guard let base = opBase else { return false }
        if successorLost && opSent < total {
            throw .peerFailed(rank: successor, endpoint: endpoints[successor], cause: .disconnected)
        }
        while opSent < total {
            let i = opSent
            if i >= segments && i - segments >= opReceived { return false }  // forwards data not yet received
            let sequence = sendSequence + UInt64(i)
            if sequence >= creditLimit { return false }  // no credit
            let range = schedule.sendRange(item: i)
            if successorShares, let slots = sendSlots, range.count <= slots.slotBytes {
                guard try sendShared(item: i, sequence: sequence, range: range, base: base, slots: slots,
                                     segments: segments) else { return true }
                continue
            }
            do throws(TransportError) {
                guard try sendSegmentHeader(.ringSegment, item: i, sequence: sequence, segments: segments,
                                            dataLength: range.count) else { return true }
                let ok: Bool
                if range.count >= options.zeroCopyThreshold {
                    ok = try outbound.sendZeroCopy(base + range.lowerBound, count: range.count,
                                                   hint: tracker.hint(for: i), release: ZeroCopyTracker.release)
                } else {
                    ok = try outbound.send(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
                    tracker.markCopied(i)
                }
                // libzmq accepts the rest of a message once its first frame is in, so this cannot block.
                guard ok else {
                    throw TransportError.zmq(call: "zmq_msg_send (payload)", errno: EAGAIN,
                                             message: "blocked mid-message")
                }
            } catch {
                throw .transport(error)
            }
            segmentSent(bytes: range.count)
        }
        return false
    }

    /// Encodes segment `i`'s header into the scratch and sends it as the message's first frame; false if the socket
    /// would block (nothing was sent).
    private func sendSegmentHeader(_ type: MessageType, item i: Int, sequence: UInt64, segments: Int,
                                   bodyLength: Int = 0, dataLength: Int = 0) throws(TransportError) -> Bool {
        let header = FrameHeader(type: type, jobID: jobID, generation: generation, step: opStep, sequence: sequence,
                                 aux: UInt64(schedule.totalBytes), sender: UInt32(rank), segment: UInt32(i % segments),
                                 phase: schedule.phase(i / segments), frameCount: 1, bodyLength: UInt64(bodyLength),
                                 dataLength: UInt64(dataLength))
        header.encode(into: headerScratch)
        return try outbound.send(UnsafeRawBufferPointer(start: headerScratch, count: FrameHeader.size), more: true)
    }

    private func segmentSent(bytes: Int) {
        opSent += 1
        statistics.segmentsSent += 1
        statistics.payloadBytesSent += bytes
        lastProgress = Date()
    }

    /// Sends segment `i` through the co-located successor's view of our slots: one copy into slot
    /// (sequence mod slots), then the header and the 12-byte body over ZeroMQ. False if the socket would block.
    private func sendShared(item i: Int, sequence: UInt64, range: Range<Int>, base: UnsafeMutableRawPointer,
                            slots: SharedSlots, segments: Int) throws(RingError) -> Bool {
        let slot = Int(sequence % UInt64(slots.slots))
        do throws(TransportError) {
            guard try sendSegmentHeader(.ringSharedSegment, item: i, sequence: sequence, segments: segments,
                                        bodyLength: RingSharedSegment.bodySize) else { return false }
            // The slot is free (credits), and the receiver reads it only after this message arrives.
            if range.count > 0 {
                slots.slot(slot).copyMemory(from: base + range.lowerBound, byteCount: range.count)
            }
            RingSharedSegment.encodeBody(slot: UInt32(slot), byteCount: UInt64(range.count), into: sharedBodyScratch)
            guard try outbound.send(UnsafeRawBufferPointer(start: sharedBodyScratch,
                                                           count: RingSharedSegment.bodySize)) else {
                throw TransportError.zmq(call: "zmq_msg_send (shared segment body)", errno: EAGAIN,
                                         message: "blocked mid-message")
            }
        } catch {
            throw .transport(error)
        }
        tracker.markCopied(i)
        statistics.sharedSegmentsSent += 1
        segmentSent(bytes: range.count)
        return true
    }

    /// Offers our slots to the successor (after the hello); true when sent or when there is nothing to offer.
    private func sendSharedOffer() throws(RingError) -> Bool {
        guard let slots = sendSlots else { return true }
        let body = RingSharedOffer(hostKey: SharedSlots.hostKey,
                                   pid: UInt32(bitPattern: ProcessInfo.processInfo.processIdentifier),
                                   fd: UInt32(bitPattern: slots.fd), slots: UInt32(slots.slots),
                                   slotBytes: UInt64(slots.slotBytes)).encodedBody()
        let header = FrameHeader(type: .ringSharedOffer, jobID: jobID, generation: generation, sender: UInt32(rank),
                                 frameCount: 1, bodyLength: UInt64(body.count))
        do throws(TransportError) {
            guard try outbound.send(header.encoded(), more: true) else { return false }
            guard try outbound.send(body) else {
                throw TransportError.zmq(call: "zmq_msg_send (shared offer body)", errno: EAGAIN,
                                         message: "blocked mid-message")
            }
        } catch { throw .transport(error) }
        return true
    }

    /// Whether the inbound socket should be read now: during an operation until all its segments are in (later
    /// segments belong to the next operation), or while forming until the predecessor's hello is in.
    var readsInbound: Bool { opActive ? opReceived < schedule.itemCount : predecessorIDCount == 0 }

    /// One wait (at most `timeout` s) and the processing of everything that arrived.
    func pollAndPump(timeout: Double, wantsWrite: Bool) throws(RingError) {
        poller.setEvents(Self.pollInbound, read: readsInbound, write: false)
        poller.setEvents(Self.pollOutbound, read: true, write: wantsWrite)
        do throws(TransportError) { try poller.poll(timeout: timeout) } catch { throw .transport(error) }
        // Messages before monitor events: a neighbour that aborts sends its abort (naming the real culprit) and
        // then closes, so its abort is already queued when its disconnect is reported.
        if poller.readable(Self.pollOutbound) { try pumpOutbound() }
        if poller.readable(Self.pollInbound) { try pumpInbound() }
        if poller.readable(Self.pollInboundEvents) { try pumpEvents(inboundEvents, fromSuccessorSide: false) }
        if poller.readable(Self.pollOutboundEvents) { try pumpEvents(outboundEvents, fromSuccessorSide: true) }
        try checkSuspectPredecessor()
        try grantCredits()
    }

    /// Credits up to `window` segments beyond what has been consumed, in batches of half a window (fewer messages
    /// and wake-ups; the sender still always holds at least half a window): a sender that used all its credit
    /// has sent `window` segments past the last grant, and consuming half of them triggers the next one.
    private func grantCredits() throws(RingError) {
        guard predecessorIDCount > 0, !predecessorLost else { return }
        let consumed = receiveSequence + UInt64(opActive ? opReceived : 0)
        let want = consumed + UInt64(options.window)  // never below `granted`: consumption only grows
        guard want > granted || announceShared else { return }
        let batch = UInt64(max(1, options.window / 2))
        let operationDone = !opActive || opReceived == schedule.itemCount
        guard want - granted >= batch || operationDone || granted == 0 || announceShared else { return }
        do throws(RingError) {
            if try sendCredit(upTo: want) {
                granted = want
                announceShared = false
            }
        } catch {
            try predecessorUnreachable(error)
        }
    }

    /// The predecessor's routing id is gone. libzmq forgets it only after its last message was read, so this is a
    /// failure if the operation still needs data from it; otherwise it may have finished the last operation and
    /// closed normally, and the next operation that needs it fails at once.
    private func predecessorUnreachable(_ error: RingError) throws(RingError) {
        guard case .peerFailed = error else { throw error }
        predecessorSuspectSince = nil
        predecessorLost = true
        if opActive && opReceived < schedule.itemCount { throw error }
    }

    /// Sends a credit to the predecessor; false if its queue is full (retried later). A predecessor that is gone
    /// (EHOSTUNREACH under ROUTER_MANDATORY) throws `peerFailed`.
    func sendCredit(upTo: UInt64) throws(RingError) -> Bool {
        let header = FrameHeader(type: .ringCredit, jobID: jobID, generation: generation, step: opStep,
                                 sequence: upTo, aux: receiveSlots == nil ? 0 : 1, sender: UInt32(rank))
        header.encode(into: headerScratch)
        do throws(TransportError) {
            let id = UnsafeRawBufferPointer(start: predecessorID, count: predecessorIDCount)
            guard try inbound.send(id, more: true) else { return false }
            return try inbound.send(UnsafeRawBufferPointer(start: headerScratch, count: FrameHeader.size))
        } catch {
            if case let .zmq(_, errno, _) = error, errno == EHOSTUNREACH {
                throw .peerFailed(rank: predecessor, endpoint: endpoints[predecessor], cause: .disconnected)
            }
            throw .transport(error)
        }
    }

    /// Sends a header-only control message to the successor; false if it would block.
    func sendControl(type: MessageType, aux: UInt64 = 0) throws(RingError) -> Bool {
        let header = FrameHeader(type: type, jobID: jobID, generation: generation, aux: aux, sender: UInt32(rank))
        header.encode(into: headerScratch)
        do throws(TransportError) {
            return try outbound.send(UnsafeRawBufferPointer(start: headerScratch, count: FrameHeader.size))
        } catch { throw .transport(error) }
    }

    /// The error for "no progress within peerTimeout": blames the successor if we are out of credit, else the
    /// predecessor whose data we wait for.
    private func progressTimeout(total: Int) -> RingError {
        let waitingForCredit = opSent < total && sendSequence + UInt64(opSent) >= creditLimit
        let peer = waitingForCredit ? successor : predecessor
        return .peerFailed(rank: peer, endpoint: endpoints[peer], cause: .timedOut(seconds: options.peerTimeout))
    }

    /// After a disconnect on the ROUTER (which may be a stale or foreign connection), probes the predecessor with
    /// a mandatory send: unreachable means it is gone.
    private func checkSuspectPredecessor() throws(RingError) {
        guard let since = predecessorSuspectSince, predecessorIDCount > 0, !predecessorLost else { return }
        do throws(RingError) {
            _ = try sendCredit(upTo: granted)
        } catch {
            try predecessorUnreachable(error)
            return
        }
        if -since.timeIntervalSinceNow > 2 * options.effectiveHeartbeatTimeout + 1 { predecessorSuspectSince = nil }
    }

    /// Records the failure, tells both neighbours (best effort), closes the sockets. Returns the error to throw.
    @discardableResult
    func fail(_ error: RingError) -> RingError {
        if case let .failed(previous) = state { return previous }
        state = .failed(error)
        if inbound != nil {
            let failed = UInt32(error.failedRank ?? rank)
            // Forward the original observation unchanged, so the chain of reporters does not nest.
            let reason: String
            switch error {
            case let .peerFailed(_, _, .reportedBy(_, original)): reason = original
            case let .peerFailed(_, _, cause): reason = "rank \(rank) saw: \(cause)"
            default: reason = "rank \(rank) saw: \(error)"
            }
            var w = ByteWriter()
            w.u32(failed)
            w.string(String(reason.prefix(1000)))
            let header = FrameHeader(type: .ringAbort, jobID: jobID, generation: generation, step: opStep,
                                     sender: UInt32(rank), frameCount: 1, bodyLength: UInt64(w.bytes.count))
            let h = header.encoded()
            _ = try? outbound.send(h, more: true)
            _ = try? outbound.send(w.bytes)
            if predecessorIDCount > 0 {
                let id = UnsafeRawBufferPointer(start: predecessorID, count: predecessorIDCount)
                if (try? inbound.send(id, more: true)) == true {
                    _ = try? inbound.send(h, more: true)
                    _ = try? inbound.send(w.bytes)
                }
            }
        }
        closeSockets()
        return error
    }
}
