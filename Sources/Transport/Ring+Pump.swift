import CZMQ
import Foundation
import Wire

/// Reading the ring's sockets: validate every message (job, generation, sender, sequence, sizes), drop strangers,
/// and turn peer trouble into `RingError`s.
extension Ring {
    /// Drains the ROUTER: hellos and segments from the predecessor ([routing id, header, payload]).
    func pumpInbound() throws(RingError) {
        while readsInbound {
            let got: Bool
            do throws(TransportError) { got = try inbound.receive(into: frameID) } catch { throw .transport(error) }
            guard got else { return }
            guard frameID.hasMore, (try? inbound.receive(into: frameHeader)) == true else {
                statistics.droppedMessages += 1
                continue
            }
            var hasData = false
            if frameHeader.hasMore {
                hasData = (try? inbound.receive(into: frameData)) == true
                if hasData && frameData.hasMore {  // more frames than any ring message has: drop them all
                    while frameExtra.hasMore || frameData.hasMore {
                        guard (try? inbound.receive(into: frameExtra)) == true, frameExtra.hasMore else { break }
                    }
                    frameData.clear()
                    statistics.droppedMessages += 1
                    continue
                }
            }
            guard let header = try? FrameHeader.decode(frameHeader.bytes),
                  header.jobID == jobID, header.generation == generation, header.sender == UInt32(predecessor),
                  frameID.count > 0, frameID.count <= 256
            else {
                statistics.droppedMessages += 1
                continue
            }
            switch header.type {
            case .ringHello:
                // (Re)learn the predecessor's routing id and (re)send its credit.
                predecessorIDCount = frameID.count
                predecessorID.copyMemory(from: frameID.bytes.baseAddress!, byteCount: frameID.count)
                granted = 0
                // A (re)starting predecessor has new slots: forget any mapping until its offer is accepted again,
                // so no credit claims a mapping of the wrong process.
                receiveSlots = nil
                announceShared = false
            case .ringSegment:
                guard hasData, isPredecessor(frameID.bytes) else {
                    statistics.droppedMessages += 1
                    continue
                }
                try receiveSegment(header, payload: frameData.bytes)
            case .ringSharedSegment:
                guard hasData, isPredecessor(frameID.bytes) else {
                    statistics.droppedMessages += 1
                    continue
                }
                try receiveSegment(header, payload: try sharedPayload(header, body: frameData.bytes))
            case .ringSharedOffer:
                guard hasData, isPredecessor(frameID.bytes) else {
                    statistics.droppedMessages += 1
                    continue
                }
                acceptSharedOffer(frameData.bytes)
            case .ringAbort:
                throw abortError(header, body: hasData ? frameData.bytes : UnsafeRawBufferPointer(start: nil, count: 0))
            default:
                statistics.droppedMessages += 1
            }
        }
    }

    private func isPredecessor(_ id: UnsafeRawBufferPointer) -> Bool {
        guard id.count == predecessorIDCount else { return false }
        return memcmp(predecessorID, id.baseAddress!, id.count) == 0
    }

    /// Maps the predecessor's slots if it runs on this host; otherwise records why not (its segments then keep
    /// coming over ZeroMQ). Never fatal: a stranger's or broken offer is just declined.
    private func acceptSharedOffer(_ body: UnsafeRawBufferPointer) {
        guard receiveSlots == nil else { return }
        let offer: RingSharedOffer
        do { offer = try RingSharedOffer.decode(body: body) } catch {
            statistics.sharedMemoryDeclined = "unreadable offer: \(error)"
            return
        }
        let slots = offer.slots, slotBytes = offer.slotBytes
        guard options.sharedMemory else {
            statistics.sharedMemoryDeclined = "shared memory is off on this rank"
            return
        }
        guard offer.hostKey == SharedSlots.hostKey else {
            statistics.sharedMemoryDeclined = "predecessor is on another host or namespace"
            return
        }
        // Our credits allow `window` segments ahead, so the sender needs at least that many slots.
        guard Int(slots) >= options.window, slotBytes <= UInt64(Int.max) else {
            statistics.sharedMemoryDeclined = "offer of \(slots) slots is below this rank's window \(options.window)"
            return
        }
        do {
            receiveSlots = try SharedSlots.open(pid: offer.pid, fd: offer.fd, slots: Int(slots),
                                                slotBytes: Int(slotBytes))
            announceShared = true
            statistics.sharedMemoryDeclined = nil
        } catch {
            statistics.sharedMemoryDeclined = error.description
        }
    }

    /// The bytes of a shared segment, in the predecessor's slot the body names (checked against the sequence).
    private func sharedPayload(_ h: FrameHeader, body: UnsafeRawBufferPointer)
        throws(RingError) -> UnsafeRawBufferPointer {
        let pred = predecessor
        guard let slots = receiveSlots else {
            throw .protocolViolation(rank: pred, endpoint: endpoints[pred],
                                     detail: "shared-memory segment before its offer was accepted")
        }
        guard let (slot, count) = RingSharedSegment.decodeBody(body),
              UInt64(slot) == h.sequence % UInt64(slots.slots), count <= UInt64(slots.slotBytes) else {
            throw .protocolViolation(rank: pred, endpoint: endpoints[pred],
                                     detail: "shared-memory segment \(h.sequence) names a wrong slot or length")
        }
        statistics.sharedSegmentsReceived += 1
        return UnsafeRawBufferPointer(start: slots.slot(Int(slot)), count: Int(count))
    }

    /// Checks a segment against the schedule and reduces or copies it straight out of the received frame (or the
    /// predecessor's shared slot).
    private func receiveSegment(_ h: FrameHeader, payload: UnsafeRawBufferPointer) throws(RingError) {
        let pred = predecessor
        func violation(_ detail: String) -> RingError {
            .protocolViolation(rank: pred, endpoint: endpoints[pred], detail: detail)
        }
        guard opActive, let base = opBase else { throw violation("segment outside an operation") }
        let i = opReceived
        let segments = schedule.segmentsPerStep
        let expected = receiveSequence + UInt64(i)
        guard h.sequence == expected else { throw violation("segment sequence \(h.sequence), expected \(expected)") }
        guard h.aux == UInt64(schedule.totalBytes) else {
            throw violation("operation of \(h.aux) bytes, this rank has \(schedule.totalBytes)")
        }
        let t = i / segments
        guard h.phase == schedule.phase(t), h.segment == UInt32(i % segments) else {
            throw violation("phase \(h.phase) segment \(h.segment), expected \(schedule.phase(t)) \(i % segments)")
        }
        let range = schedule.receiveRange(item: i)
        guard payload.count == range.count else {
            throw violation("segment of \(payload.count) bytes, expected \(range.count) "
                            + "(same segmentBytes on all ranks?)")
        }
        if let earlier = schedule.hazard(item: i),
           !tracker.waitReleased(earlier, deadline: lastProgress.addingTimeInterval(options.peerTimeout)) {
            throw .peerFailed(rank: successor, endpoint: endpoints[successor],
                              cause: .timedOut(seconds: options.peerTimeout))
        }
        if range.count > 0 {
            let dst = base + range.lowerBound
            if schedule.receiveAdds(t) {
                ReduceKernel.add(dst.assumingMemoryBound(to: Float.self), payload.baseAddress!, range.count / 4)
            } else {
                ReduceKernel.copy(dst, payload.baseAddress!, range.count)
            }
        }
        opReceived += 1
        statistics.segmentsReceived += 1
        statistics.payloadBytesReceived += range.count
        lastProgress = Date()
        if schedule.kind == .allReduce && i == schedule.ownedChunkCompleteItem, let hook = ownedChunkReduced {
            hook(ownedChunkFloats)
        }
    }

    /// Drains the DEALER: credits and aborts from the successor ([header, body?]).
    func pumpOutbound() throws(RingError) {
        while true {
            let got: Bool
            do throws(TransportError) {
                got = try outbound.receive(into: frameHeader)
            } catch { throw .transport(error) }
            guard got else { return }
            var hasBody = false
            if frameHeader.hasMore {
                hasBody = (try? outbound.receive(into: frameData)) == true
                var more = hasBody && frameData.hasMore
                while more {
                    more = (try? outbound.receive(into: frameExtra)) == true && frameExtra.hasMore
                    hasBody = false
                }
            }
            guard let header = try? FrameHeader.decode(frameHeader.bytes),
                  header.jobID == jobID, header.generation == generation, header.sender == UInt32(successor)
            else {
                statistics.droppedMessages += 1
                continue
            }
            switch header.type {
            case .ringCredit:
                creditReceived = true
                // Every credit says whether the successor has our slots mapped (a new successor process has not).
                successorShares = header.aux == 1 && sendSlots != nil
                if header.sequence > creditLimit {
                    creditLimit = header.sequence
                    lastProgress = Date()
                }
            case .ringAbort:
                throw abortError(header, body: hasBody ? frameData.bytes : UnsafeRawBufferPointer(start: nil, count: 0))
            default:
                statistics.droppedMessages += 1
            }
        }
    }

    /// The error an abort message reports: the rank it names as failed, as seen by its sender.
    private func abortError(_ h: FrameHeader, body: UnsafeRawBufferPointer) -> RingError {
        var reader = ByteReader(body, frame: "ringAbort body")
        let failed = (try? reader.u32("failedRank")).map(Int.init) ?? Int(h.sender)
        let reason = (try? reader.string("reason")) ?? "(unreadable reason)"
        let name = (0 ..< size).contains(failed) ? failed : Int(h.sender)
        return .peerFailed(rank: name, endpoint: endpoint(name),
                           cause: .reportedBy(rank: Int(h.sender), reason: reason))
    }

    /// Socket monitor events. A DEALER disconnect means the successor is gone (dead, or heartbeats unanswered);
    /// a ROUTER disconnect may be the predecessor or a stranger, so it is confirmed by a mandatory send.
    func pumpEvents(_ socket: ZMQSocket, fromSuccessorSide: Bool) throws(RingError) {
        while true {
            guard (try? socket.receive(into: frameExtra)) == true else { return }
            var event: UInt16 = 0
            if frameExtra.count >= 2 { event = frameExtra.bytes.loadUnaligned(as: UInt16.self) }
            while frameExtra.hasMore { guard (try? socket.receive(into: frameExtra)) == true else { break } }
            if fromSuccessorSide && Int32(event) & ZMQ_EVENT_CONNECTED != 0 { successorConnected = true }
            guard Int32(event) & ZMQ_EVENT_DISCONNECTED != 0 else { continue }
            if fromSuccessorSide {
                guard case .ready = state else { continue }
                try pumpOutbound()  // an abort it sent before closing explains the disconnect better
                // A successor that has everything it needs from us may close normally (the last operation);
                // it is a failure only once we have something left to send it.
                successorLost = true
                if opActive && opSent < schedule.itemCount {
                    throw .peerFailed(rank: successor, endpoint: endpoints[successor], cause: .disconnected)
                }
            } else {
                predecessorSuspectSince = Date()
            }
        }
    }
}
